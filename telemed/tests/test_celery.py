"""On the embedded defaults a real worker with embedded beat runs scheduled work.

No Redis: kombu's filesystem transport under a private TELEMED_VAR_DIR, the same command
as the Procfile's worker line, a heartbeat every second.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from telemed.tests.processes import BASE_DIR, project_env

CELERY = str(Path(sys.executable).with_name("celery"))


def _group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        # fields after the command name: state, ppid, pgrp; a zombie is already gone.
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _stop(worker: subprocess.Popen) -> None:
    """SIGTERM (a warm shutdown), then SIGKILL for whatever of the group is left."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=15)
    for pid in _group_members(worker.pid):
        os.kill(pid, signal.SIGKILL)
    if worker.poll() is None:
        worker.wait(timeout=5)


@pytest.fixture
def worker(tmp_path):
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [CELERY, "-A", "telemed", "worker", "--beat", "--pool=solo", "--loglevel=INFO"],
        cwd=BASE_DIR,
        env=project_env(tmp_path, CELERY_HEARTBEAT_SECONDS="1"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: beat's child process goes with it
    )
    yield process
    _stop(process)
    log.close()


def test_the_worker_runs_the_scheduled_heartbeat_and_stops_cleanly(worker, tmp_path):
    heartbeat = tmp_path / "celery" / "heartbeat"
    deadline = time.monotonic() + 30
    while not heartbeat.exists() and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)

    log = (tmp_path / "worker.log").read_text()
    assert heartbeat.exists(), log[-3000:]
    first = heartbeat.read_text()
    # A second beat proves the schedule repeats, not that one task ran at start-up.
    deadline = time.monotonic() + 10
    while heartbeat.read_text() == first and time.monotonic() < deadline:
        time.sleep(0.2)
    assert heartbeat.read_text() != first

    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=15)

    assert worker.returncode is not None
    deadline = time.monotonic() + 5  # beat's child process ends just after its parent
    while _group_members(worker.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _group_members(worker.pid) == []
