"""Side effects leave only after commit: one helper for every broadcast, task and email."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def on_commit(fn: Callable[[], Any]) -> None:
    """Run `fn` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(fn, robust=True)


def send_on_commit(group: str, event: dict[str, Any]) -> None:
    """Ring the doorbell of a channel-layer group after commit.

    The database is the record; this message only tells connected consumers to look.
    Losing it (Redis restart) loses nothing: clients resume from their last id.
    """

    def _send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group, event)

    on_commit(_send)
