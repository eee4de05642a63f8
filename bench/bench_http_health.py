"""HTTP throughput and latency of /healthz and /readyz under daphne on the embedded defaults.

Starts its own daphne on a free 127.0.0.1 port (DEBUG=0, SQLite, in-memory channel layer,
filesystem broker, local files) in a temporary TELEMED_VAR_DIR, drives both endpoints with
N concurrent keep-alive clients for a bounded time, prints one JSON line, stops the server.

    python bench/bench_http_health.py [--clients 16] [--duration 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PATHS = ("/healthz", "/readyz")
DAPHNE = str(Path(sys.executable).parent / "daphne")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def server_env(var_dir: str) -> dict[str, str]:
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
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        TELEMED_VAR_DIR=var_dir,
    )
    return env


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


async def drive(base: str, clients: int, duration: float) -> tuple[dict[str, list[float]], int, float]:
    latencies: dict[str, list[float]] = {path: [] for path in PATHS}
    errors = 0
    stop_at = time.monotonic() + duration
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def one_client(index: int, client: httpx.AsyncClient) -> None:
        nonlocal errors
        turn = index
        while time.monotonic() < stop_at:
            path = PATHS[turn % len(PATHS)]
            turn += 1
            started = time.perf_counter()
            try:
                response = await client.get(path, timeout=10)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies[path].append((time.perf_counter() - started) * 1000)
            else:
                errors += 1

    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base, limits=limits) as client:
        await asyncio.gather(*(one_client(i, client) for i in range(clients)))
    return latencies, errors, time.monotonic() - started


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return round(sorted_values[index], 2)


def summary(values: list[float]) -> dict[str, float | int]:
    ordered = sorted(values)
    return {
        "requests": len(ordered),
        "p50_ms": percentile(ordered, 0.50),
        "p95_ms": percentile(ordered, 0.95),
        "p99_ms": percentile(ordered, 0.99),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    args = parser.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="telemed-bench-") as var_dir:
        env = server_env(var_dir)
        setup_started = time.perf_counter()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=120,
        )
        server = subprocess.Popen(
            [DAPHNE, "-b", "127.0.0.1", "-p", str(port), "telemed.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # daphne's access log would cost more than the requests
        )
        try:
            asyncio.run(wait_until_up(base, server, timeout=30))
            setup_ms = round((time.perf_counter() - setup_started) * 1000)
            latencies, errors, elapsed = asyncio.run(drive(base, args.clients, args.duration))
            memory = rss_mb(server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)

    every = sorted(ms for values in latencies.values() for ms in values)
    print(
        json.dumps(
            {
                "bench": "http_health",
                "config": {
                    "paths": list(PATHS),
                    "clients": args.clients,
                    "duration_s": args.duration,
                    "server": "daphne, 1 process",
                    "backends": "embedded (sqlite, in-memory channel layer, filesystem broker, local files)",
                },
                "cores": os.cpu_count(),
                "requests": len(every),
                "rps": round(len(every) / elapsed, 1),
                "p50_ms": percentile(every, 0.50),
                "p95_ms": percentile(every, 0.95),
                "p99_ms": percentile(every, 0.99),
                "by_path": {path: summary(values) for path, values in latencies.items()},
                "errors": errors,
                "rss_mb": memory,
                "setup_ms": setup_ms,
            }
        )
    )
    return 0 if every else 1


if __name__ == "__main__":
    sys.exit(main())
