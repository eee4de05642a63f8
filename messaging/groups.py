"""Channel-layer group names of the messaging app: one helper each, so the services that ring
and the consumers that listen cannot disagree."""

from __future__ import annotations


def conversation(conversation_id: int) -> str:
    """Every socket open on one conversation (all tabs, devices and server processes)."""
    return f"conversation.{conversation_id}"


def staff_inbox() -> str:
    """Staff watching the clinic's shared inbox of patient questions."""
    return "messaging.staff_inbox"
