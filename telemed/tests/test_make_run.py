"""`make run`'s process set (the Procfile under honcho) starts, serves, and stops on Ctrl-C.

Runs the real commands in subprocesses on the embedded defaults, in a private TELEMED_VAR_DIR
and on a free port, so it neither needs nor disturbs a developer's running portal.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
HONCHO = Path(sys.executable).parent / "honcho"
# Variables that would point the servers at external services or the test settings.
_NOT_INHERITED = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "S3_BUCKET", "TELEMED_TESTING", "PORT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes_marked_with(marker: str) -> set[int]:
    """Pids of live processes (zombies excluded) whose environment holds `marker`.

    Every process `make run` starts inherits TELEMED_VAR_DIR, even one re-parented after its
    parent died, so this finds stragglers that a snapshot of the process tree would miss.
    """
    needle = marker.encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # exited while we looked, or not ours to read
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.add(int(entry.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.fixture
def run_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    port = free_port()
    env.update(DEBUG="1", TELEMED_VAR_DIR=str(tmp_path / "var"), TELEMED_PORT=str(port), PYTHONUNBUFFERED="1")
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120
        )
    return env, port


def test_make_run_serves_the_portal_and_stops_every_process_on_ctrl_c(run_env, tmp_path):
    env, port = run_env
    marker = f"TELEMED_VAR_DIR={env['TELEMED_VAR_DIR']}"
    log_path = tmp_path / "honcho.log"
    with open(log_path, "wb") as log:
        honcho = subprocess.Popen(
            [str(HONCHO), "-f", "Procfile", "start"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our own Ctrl-C must not reach it; the test sends its own
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and honcho.poll() is None:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=5)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert ready is not None and ready.status_code == 200, log_path.read_text()[-3000:]
        assert all(check["ok"] for check in ready.json()["checks"].values())

        home = httpx.get(f"{base}/", timeout=10)
        assert home.status_code == 200, home.text[:2000]
        assert home.headers["content-type"].startswith("text/html")

        started = processes_marked_with(marker)
        commands = " | ".join(cmdline(pid) for pid in started)
        assert "daphne" in commands and "celery" in commands, commands

        honcho.send_signal(signal.SIGINT)
        honcho.wait(timeout=15)
        deadline = time.monotonic() + 15
        while processes_marked_with(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = processes_marked_with(marker)
        assert not left, [cmdline(pid) for pid in left]
    finally:
        if honcho.poll() is None:
            honcho.kill()
            honcho.wait(timeout=5)
        for pid in processes_marked_with(marker):
            os.kill(pid, signal.SIGKILL)
