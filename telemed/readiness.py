"""One check per dependency; together they answer within a deadline and never raise.

The database is checked on the calling thread, because that connection is the one this
process serves requests with. The other checks run at the same time on short-lived daemon
threads: a hung Redis then costs one deadline, not one per dependency, and a check that
outlives the deadline is reported as failed instead of holding the probe. Each check also
has its own socket timeouts so that its thread ends soon after.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.cache import caches
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection
from django.utils import timezone

DEADLINE_SECONDS = 2.0
_SOCKET_TIMEOUT = 1.5


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _cache() -> str:
    cache = caches["default"]
    try:
        key = f"readyz:{uuid.uuid4().hex}"
        cache.set(key, "1", 5)
        if cache.get(key) != "1":
            raise RuntimeError("cache did not return what was written")
        cache.delete(key)
    finally:
        # `caches` is per thread and this thread is about to end: release its connections now.
        cache.close()
    return settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]


def _channel_layer() -> str:
    from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers

    # A private instance: the shared one is receiving for live consumers on the server's
    # loop, and channels_redis refuses a second loop receiving on the same instance.
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)

    async def roundtrip() -> None:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "readyz.ping"})
        message = await layer.receive(channel)
        if message.get("type") != "readyz.ping":
            raise RuntimeError("channel layer returned another message")

    async def bounded() -> None:
        # channels_redis retries a refused connection and the in-memory layer waits forever
        # for a lost message: neither may outlive the probe.
        try:
            await asyncio.wait_for(roundtrip(), timeout=_SOCKET_TIMEOUT)
        finally:
            close_pools = getattr(layer, "close_pools", None)
            if close_pools is not None:
                await close_pools()

    async_to_sync(bounded)()
    return type(layer).__name__


def _storage() -> str:
    storage = storages["default"]
    name = storage.save(f"readyz/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    try:
        with storage.open(name) as fh:
            if fh.read() != b"ok":
                raise RuntimeError("storage returned other bytes")
    finally:
        storage.delete(name)
    return type(storage).__name__


def _broker() -> str:
    from kombu import Connection

    # A connection of our own (not the Celery app's pool), built from the settings the
    # worker reads, with timeouts short enough for a probe.
    options = {
        **getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}),
        "socket_timeout": _SOCKET_TIMEOUT,
        "socket_connect_timeout": _SOCKET_TIMEOUT,
        "max_retries": 0,
    }
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=_SOCKET_TIMEOUT, transport_options=options) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=_SOCKET_TIMEOUT)
        if conn.transport_cls == "filesystem":
            _check_folder_writable(Path(options["data_folder_in"]))
        else:
            conn.default_channel  # noqa: B018 (opening a channel is what proves the broker answers)
        return str(conn.transport_cls)


def _check_folder_writable(folder: Path) -> None:
    # kombu's filesystem transport "connects" without touching the disk; the worker and
    # the web process share this folder, so a missing or read-only one is a broken broker.
    probe = folder / f".readyz-{uuid.uuid4().hex}"
    probe.write_bytes(b"")
    probe.unlink()


def heartbeat_path() -> Path:
    return Path(settings.VAR_DIR) / "celery" / "heartbeat"


def last_heartbeat() -> dict:
    """When the Celery heartbeat last ran: information only, a worker may be elsewhere."""
    try:
        stamp = datetime.fromisoformat(heartbeat_path().read_text().strip())
    except (FileNotFoundError, ValueError):
        return {"at": None, "age_seconds": None}
    return {"at": stamp.isoformat(), "age_seconds": round((timezone.now() - stamp).total_seconds(), 1)}


CHECKS: dict[str, Callable[[], str]] = {
    "database": _database,
    "cache": _cache,
    "channel_layer": _channel_layer,
    "storage": _storage,
    "broker": _broker,
}
_ON_CALLING_THREAD = {"database"}


def _run(check: Callable[[], str]) -> dict:
    started = time.perf_counter()
    try:
        result = {"ok": True, "backend": check()}
    except Exception as exc:  # a probe reports every failure, it never raises
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_all(deadline: float = DEADLINE_SECONDS) -> dict[str, dict]:
    results: dict[str, dict] = {}
    threads: dict[str, threading.Thread] = {}
    for name, check in CHECKS.items():
        if name in _ON_CALLING_THREAD:
            continue

        def target(name: str = name, check: Callable[[], str] = check) -> None:
            results[name] = _run(check)

        thread = threading.Thread(target=target, name=f"readyz-{name}", daemon=True)
        threads[name] = thread
        thread.start()

    ends_at = time.monotonic() + deadline
    for name in _ON_CALLING_THREAD:
        results[name] = _run(CHECKS[name])
    late = set()
    for name, thread in threads.items():
        thread.join(max(0.0, ends_at - time.monotonic()))
        if thread.is_alive():
            late.add(name)
    # A late thread may still write into `results`; its answer is ignored either way.
    return {
        name: {"ok": False, "error": f"no answer within {deadline:g} s", "ms": deadline * 1000}
        if name in late
        else results[name]
        for name in CHECKS
    }
