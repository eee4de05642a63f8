"""Real Celery workers and sweepers, as subprocesses sharing the test database and broker.

The processes see what the test process committed (a `transaction=True` test): on SQLite the
test database is a file (DATABASE_SQLITE_PATH), on PostgreSQL the test database by name. The
broker is Redis when the run has REDIS_URL (the same database), else kombu's filesystem
transport in this test's own folder. Email goes to Django's file backend in a folder of the
test and SMS to the file gateway's outbox, so a test counts what reached each provider from
outside the workers.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection

from telemed.tests.processes import BASE_DIR, PYTHON, project_env

CELERY = str(Path(sys.executable).with_name("celery"))
# Short enough for a test, long enough that a worker starting up does not count as lost.
LEASE_SECONDS = 3
# The separator Django's file email backend writes after each message.
_MAIL_SEPARATOR = b"\n" + b"-" * 79 + b"\n"

DJANGO = "import django\ndjango.setup()\n"

# Claims due rows and enqueues their delivery, as the beat sweeper does; prints the claims.
SWEEP_ONCE = (
    DJANGO
    + """
import json
from messaging.tasks import notification_deliver_task
from messaging.services import notifications_claim_due
claims = notifications_claim_due()
for claim in claims:
    notification_deliver_task.delay(claim.id, claim.claim_token)
print(json.dumps([list(claim) for claim in claims]))
"""
)


def _database_env() -> dict[str, str]:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        credentials = quote(db["USER"] or "", safe="")
        if db["PASSWORD"]:
            credentials += ":" + quote(db["PASSWORD"], safe="")
        url = f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        return {"DATABASE_URL": url}
    return {"DATABASE_SQLITE_PATH": str(db["NAME"])}


def _broker_env() -> dict[str, str]:
    if not settings.REDIS_URL:
        return {}
    # The broker in the database of REDIS_URL, the only Redis database this run may flush.
    return {"REDIS_URL": settings.REDIS_URL, "CELERY_BROKER_URL": settings.REDIS_URL}


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True


@dataclass
class Outside:
    """The world outside the test process: workers, the broker, the mail and SMS providers."""

    root: Path
    env: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def var_dir(self) -> Path:
        return self.root / "var"

    @property
    def mail_dir(self) -> Path:
        return self.root / "mail"

    # --- processes -------------------------------------------------------------------------
    def _start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log_path = self.root / f"{name}.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                args,
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: beat's process goes with it
            )
        self.processes.append(process)
        self.logs[name] = log_path
        return process

    def worker(
        self, name: str, *, beat: bool = True, pool: str = "solo", wait: bool = True, **env: str
    ) -> subprocess.Popen:
        """A Celery worker (with embedded beat: the sweeper every second), started and (`wait`) ready."""
        args = [CELERY, "-A", "telemed", "worker", f"--pool={pool}", "--loglevel=INFO", "-n", f"{name}@%h"]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        if pool == "prefork":
            args.append("--concurrency=1")
        if beat:
            args += ["--beat", "--schedule", str(self.var_dir / f"beat-schedule-{name}")]
        process = self._start(name, args, {**self.env, **env})
        if wait:
            self.wait_ready(name)
        return process

    def wait_ready(self, name: str) -> None:
        self.wait_for(lambda: "ready." in self.log(name), f"worker {name} to be ready", timeout=30)

    def python(self, name: str, code: str, *args: str) -> subprocess.Popen:
        """`python -c code args...` with the workers' environment (call django.setup() first)."""
        return self._start(name, [PYTHON, "-c", code, *args], self.env)

    def sweep_once(self, name: str = "sweep") -> list[tuple[int, str]]:
        """Run one sweep in its own process: claims due rows, enqueues their delivery."""
        process = self.python(name, SWEEP_ONCE)
        assert process.wait(timeout=60) == 0, self.log(name)
        return [tuple(claim) for claim in json.loads(self.log(name).strip().splitlines()[-1])]

    def log(self, name: str) -> str:
        return self.logs[name].read_text()

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the process and its group (its beat, its pool): the machine went away."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def kill_pid(self, pid: int) -> None:
        """SIGKILL one process (a pool process of a worker), and wait until it is gone."""
        os.kill(pid, signal.SIGKILL)
        self.wait_for(lambda: not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"process {pid} to die")

    def stop(self, process: subprocess.Popen) -> None:
        """SIGTERM (a warm shutdown), then SIGKILL whatever of its group is left."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.poll() is None:
            process.wait(timeout=5)

    def wait_for(self, condition: Callable[[], object], what: str, *, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {name}\n{path.read_text()[-3000:]}" for name, path in self.logs.items())
                raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")
            time.sleep(0.1)

    # --- the providers -----------------------------------------------------------------------
    def emails(self) -> list[EmailMessage]:
        """Every message the file email backend wrote, in every worker."""
        messages = []
        for path in sorted(self.mail_dir.glob("*.log")):
            for chunk in path.read_bytes().split(_MAIL_SEPARATOR):
                if chunk.strip():
                    messages.append(email.message_from_bytes(chunk, policy=email.policy.default))
        return messages

    def sms(self) -> list[dict]:
        outbox = self.var_dir / "sms" / "outbox.jsonl"
        if not outbox.exists():
            return []
        return [json.loads(line) for line in outbox.read_text().splitlines()]

    # --- the broker ----------------------------------------------------------------------------
    def _redis(self) -> redis.Redis:
        return redis.Redis.from_url(settings.REDIS_URL)

    def queued(self) -> int:
        """Messages waiting in the broker's queues."""
        if settings.REDIS_URL:
            client = self._redis()
            return sum(client.llen(key) for key in client.scan_iter("celery*") if client.type(key) == b"list")
        return len(list((self.var_dir / "celery" / "broker").glob("*.msg")))

    def flush_broker(self) -> None:
        """Lose everything the broker holds: FLUSHDB of REDIS_URL's database, or the queue files."""
        if settings.REDIS_URL:
            self._redis().flushdb()
            return
        for message in (self.var_dir / "celery" / "broker").glob("*.msg"):
            message.unlink()

    def drop_stale_queues(self) -> None:
        """Redis outlives a test: drop queued and unacknowledged tasks an earlier test left."""
        if settings.REDIS_URL:
            client = self._redis()
            stale = [*client.scan_iter("celery*"), *client.scan_iter("unacked*")]
            if stale:
                client.delete(*stale)


@pytest.fixture
def outside(transactional_db, tmp_path) -> Iterator[Outside]:
    world = Outside(root=tmp_path, env={})
    world.env = project_env(
        world.var_dir,
        DJANGO_SETTINGS_MODULE="telemed.settings",
        # Four slashes: an absolute path (django-environ drops the first one of the path).
        EMAIL_URL=f"filemail:///{world.mail_dir}",
        NOTIFICATIONS_SWEEP_SECONDS="1",
        NOTIFICATIONS_CLAIM_LEASE_SECONDS=str(LEASE_SECONDS),
        CELERY_HEARTBEAT_SECONDS="3600",
        WAITLIST_SWEEP_SECONDS="3600",
        **_database_env(),
        **_broker_env(),
    )
    world.drop_stale_queues()
    # Close our connections: a worker must not inherit or wait behind an open transaction.
    connection.close()
    yield world
    # A warm shutdown of every process at once, then whatever is left of them is killed.
    for process in world.processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in world.processes:
        world.stop(process)
    world.drop_stale_queues()
