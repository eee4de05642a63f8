"""A live server running the real ASGI application (HTTP + WebSocket) under daphne.

The server is a forked process (daphne's own DaphneProcess) that talks to the test
database, so tests that use it need `transactional_db` and a database that is not in
memory (settings give SQLite a file for tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import pytest
from asgiref.sync import SyncToAsync
from channels.testing.live import make_application, set_database_connection
from daphne.testing import DaphneProcess
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.db import connections


@dataclass(frozen=True)
class LiveAsgiServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"


def _child_setup() -> None:
    """What the forked server process needs before it serves."""
    set_database_connection()
    # A fork copies asgiref's one-thread executor (database_sync_to_async's, outside a request)
    # without its worker thread: once an earlier test in this process used it, the copy
    # believes its worker exists and never runs a job, and a consumer's first database call
    # hangs until daphne drops the handshake. Give the child a fresh one.
    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)


@pytest.fixture
def live_asgi(transactional_db, settings) -> Iterator[LiveAsgiServer]:
    """The portal served by daphne on 127.0.0.1:<free port> for the length of one test."""
    host = "127.0.0.1"
    # Close our connections before forking: a child must not share the parent's socket.
    for conn in connections.all():
        conn.close()

    process = DaphneProcess(
        host,
        partial(make_application, static_wrapper=ASGIStaticFilesHandler),
        setup=_child_setup,
    )
    process.start()
    try:
        if not process.ready.wait(timeout=30):
            raise RuntimeError("the live ASGI server did not start within 30 s")
        if not process.errors.empty():
            error, tb = process.errors.get(timeout=1)
            raise RuntimeError(f"the live ASGI server failed to start: {error}\n{tb}")
        yield LiveAsgiServer(host=host, port=process.port.value)
    finally:
        process.terminate()
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
