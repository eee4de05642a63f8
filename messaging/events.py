"""Real-time events of the messaging app: one builder per event (STYLE.md "Interfaces").

Two kinds travel: doorbells on the channel layer (`conversation.*` types, handled by the
consumers), which carry ids only — the database is the record and a consumer reads what it
rings for — and the frames a client receives (docs/realtime.md), built here from rows.
"""

from __future__ import annotations

from typing import Any

from messaging import groups
from messaging.models import Message, ReadState
from telemed.events import send_on_commit


def _name(user) -> str:
    return (user.full_name or user.email) if user is not None else ""


def message_frame(message: Message) -> dict[str, Any]:
    """A message as a client sees it (a retracted one without its text)."""
    return {
        "type": "message",
        "conversation": message.conversation_id,
        "seq": message.seq,
        "id": message.pk,
        "client_msg_id": message.client_msg_id,
        "sender": {
            "id": message.sender_id,
            "name": _name(message.sender),
            "on_behalf_of": _name(message.on_behalf_of) if message.on_behalf_of_id else None,
        },
        "body": "" if message.retracted_at else message.body,
        "created_at": message.created_at.isoformat(),
        "retracted": message.retracted_at is not None,
        "retracted_at": message.retracted_at.isoformat() if message.retracted_at else None,
    }


def receipt_frame(state: ReadState) -> dict[str, Any]:
    return {
        "type": "receipt",
        "conversation": state.conversation_id,
        "user": state.user_id,
        "name": _name(state.user),
        "delivered_seq": state.delivered_seq,
        "read_seq": state.read_seq,
    }


def typing_frame(conversation_id: int, user_id: int, name: str) -> dict[str, Any]:
    """Someone is typing: ephemeral, never stored, relayed only to the others."""
    return {"type": "typing", "conversation": conversation_id, "user": user_id, "name": name}


def ring_new_messages(conversation_id: int, seq: int) -> None:
    """After commit: messages up to `seq` (or a retraction of one) are in the database."""
    send_on_commit(groups.conversation(conversation_id), {"type": "conversation.changed", "seq": seq})


def ring_retraction(conversation_id: int, seq: int) -> None:
    send_on_commit(groups.conversation(conversation_id), {"type": "conversation.retracted", "seq": seq})


def ring_receipt(state: ReadState) -> None:
    send_on_commit(
        groups.conversation(state.conversation_id),
        {"type": "conversation.receipt", "user": state.user_id},
    )


def ring_staff_inbox(conversation_id: int) -> None:
    send_on_commit(groups.staff_inbox(), {"type": "inbox.changed", "conversation": conversation_id})
