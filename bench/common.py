"""What the benchmarks share: servers they start and stop, a closed-loop load generator, and
the figures they print (ARCHITECTURE.md "Performance")."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DAPHNE = str(Path(sys.executable).parent / "daphne")
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def server_env(var_dir: str, **extra: str) -> dict[str, str]:
    """A production-like environment (DEBUG=0) on the embedded defaults, in `var_dir`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "S3_BUCKET", "TELEMED_TESTING"}
    }
    env.update(
        DEBUG="0",  # production code paths: no query log growing in memory, no autorefresh
        SECRET_KEY=secrets.token_urlsafe(50),
        AUDIT_HMAC_KEY=secrets.token_urlsafe(32),
        JWT_SIGNING_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS=f"bench:{base64.b64encode(secrets.token_bytes(32)).decode()}",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        TELEMED_VAR_DIR=var_dir,
    )
    env.update(extra)
    return env


def postgres_reachable() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5432), timeout=1):
        return True
    return False


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one run (dropped afterwards); yields its URL."""
    import psycopg

    name = f"telemed_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        timeout=timeout,
        text=True,
    )
    return done.stdout


async def wait_until_up(base: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"daphne exited with {proc.returncode}")
            try:
                if (await client.get("/healthz", timeout=2)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"daphne did not answer /healthz within {timeout} s")


@dataclass
class Servers:
    processes: list[subprocess.Popen]
    bases: list[str]

    def rss_mb(self) -> float:
        return round(sum(rss_mb(proc.pid) for proc in self.processes), 1)

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(proc.pid) for proc in self.processes)


@contextlib.contextmanager
def daphne_servers(env: dict[str, str], count: int) -> Iterator[Servers]:
    """`count` daphne processes on free ports (what a load balancer in front of N web
    processes gives); stopped on exit."""
    processes, bases = [], []
    try:
        for _ in range(count):
            port = free_port()
            processes.append(
                subprocess.Popen(
                    [DAPHNE, "-b", "127.0.0.1", "-p", str(port), "telemed.asgi:application"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,  # daphne's access log would cost more than the requests
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        for base, proc in zip(bases, processes, strict=True):
            asyncio.run(wait_until_up(base, proc, timeout=30))
        yield Servers(processes, bases)
    finally:
        for proc in processes:
            proc.send_signal(signal.SIGTERM)
        for proc in processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@dataclass
class Outcomes:
    latencies_ms: list[float] = field(default_factory=list)
    by_status: dict[int, int] = field(default_factory=dict)
    transport_errors: int = 0

    def add(self, status: int, ms: float) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1
        self.latencies_ms.append(ms)


# One request of a client: (client, client index, turn) -> HTTP status.
Request = Callable[[httpx.AsyncClient, int, int], Awaitable[int]]


async def closed_loop(bases: list[str], clients: int, duration: float, request: Request) -> tuple[Outcomes, float]:
    """`clients` concurrent clients, each sending its next request as soon as the previous
    answered, for `duration` seconds; client i talks to server i % len(bases)."""
    outcomes = Outcomes()
    stop_at = time.monotonic() + duration
    per_server = max(1, clients // len(bases) + 1)
    limits = httpx.Limits(max_connections=per_server, max_keepalive_connections=per_server)

    async def one_client(index: int, client: httpx.AsyncClient) -> None:
        turn = 0
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                status = await request(client, index, turn)
            except httpx.HTTPError:
                outcomes.transport_errors += 1
            else:
                outcomes.add(status, (time.perf_counter() - started) * 1000)
            turn += 1

    sessions = [httpx.AsyncClient(base_url=base, limits=limits, timeout=30) for base in bases]
    started = time.monotonic()
    try:
        await asyncio.gather(*(one_client(i, sessions[i % len(sessions)]) for i in range(clients)))
    finally:
        for session in sessions:
            await session.aclose()
    return outcomes, time.monotonic() - started


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return round(sorted_values[index], 2)


def latency_figures(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": percentile(ordered, 0.50),
        "p95_ms": percentile(ordered, 0.95),
        "p99_ms": percentile(ordered, 0.99),
    }


def databases_to_run(choice: str) -> list[str]:
    """ "auto": PostgreSQL (with Redis) when it answers on 127.0.0.1, else SQLite."""
    if choice == "auto":
        return ["postgres"] if postgres_reachable() else ["sqlite"]
    return [name.strip() for name in choice.split(",") if name.strip()]


@contextlib.contextmanager
def prepared(database: str, **extra_env: str) -> Iterator[dict[str, str]]:
    """A migrated database of the given kind ("sqlite" or "postgres", the latter with Redis for
    cache, channel layer and broker, as in production) and the environment to serve it."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="telemed-bench-") as var_dir:
        if database == "postgres":
            with postgres_database() as url:
                env = server_env(
                    var_dir,
                    DATABASE_URL=url,
                    REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
                    **extra_env,
                )
                manage(env, "migrate", "--noinput")
                yield env
        elif database == "sqlite":
            env = server_env(var_dir, **extra_env)
            manage(env, "migrate", "--noinput")
            yield env
        else:
            raise SystemExit(f"unknown database {database!r} (sqlite or postgres)")


def setup_appointments(env: dict[str, str], *, providers: int, patients: int) -> dict:
    import json

    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "appointments_setup.py"),
            f"--providers={providers}",
            f"--patients={patients}",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        timeout=300,
    )
    return json.loads(done.stdout)


def backends_label(database: str) -> str:
    if database == "postgres":
        return "PostgreSQL + Redis (cache, channel layer, broker)"
    return "embedded (sqlite, in-memory channel layer, filesystem broker, local files)"


@dataclass
class LoadRun:
    outcomes: Outcomes
    elapsed: float
    figures: dict[str, float]


def measured_load(servers: Servers, clients: int, duration: float, request: Request) -> LoadRun:
    """Drive the servers with a closed loop and read what it cost: the servers' CPU, the load
    generator's own CPU (it shares the machine) and the servers' memory."""
    import resource

    cpu_before = servers.cpu_seconds()
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    outcomes, elapsed = asyncio.run(closed_loop(servers.bases, clients, duration, request))
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    generator = (usage_after.ru_utime + usage_after.ru_stime) - (usage_before.ru_utime + usage_before.ru_stime)
    return LoadRun(
        outcomes,
        elapsed,
        {
            **latency_figures(outcomes.latencies_ms),
            "cpu_pct": round(100 * (servers.cpu_seconds() - cpu_before) / elapsed, 1),
            "load_generator_cpu_pct": round(100 * generator / elapsed, 1),
            "rss_mb": servers.rss_mb(),
        },
    )


def load_arguments(description: str):
    """The options every load benchmark takes."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--servers", type=int, default=2, help="daphne processes (one per core)")
    parser.add_argument("--database", default="auto", help="auto, sqlite, postgres, or a comma list")
    return parser


def print_per_database(args, run: Callable[[str, object], dict], passed: Callable[[dict], bool]) -> int:
    """Run once per database, print each result as one JSON line; exit status 0 if all passed."""
    import json

    ok = True
    for database in databases_to_run(args.database):
        result = run(database, args)
        print(json.dumps(result), flush=True)
        ok = ok and passed(result)
    return 0 if ok else 1
