"""The conversation socket, `/ws/conversations/<id>/` (protocol: docs/realtime.md).

PostgreSQL is the record; the channel layer only rings doorbells that carry ids. A socket
streams nothing before the client's `hello {last_seq}`: it first replays from the database
everything after `last_seq`, says `ready`, and only then forwards live messages, which it
also reads from the database. It remembers the highest seq it sent, so a message reaches it
once and in order however its doorbells arrive (late, twice, or not at all until the next).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.cache import cache
from django.http import Http404

from accounts.models import STAFF_ROLES
from accounts.policy import otp_verified
from accounts.services.sessions import user_group
from messaging import groups
from messaging.events import message_frame, receipt_frame, typing_frame
from messaging.selectors import (
    PAGE_MAX,
    access_conversation_for_user,
    message_for_retraction,
    messages_after,
    read_states,
)
from messaging.services import message_retract, message_send, read_state_advance
from telemed.errors import ApplicationError

OPEN_ACTION = "messaging.conversation.open"

# Close codes (docs/realtime.md "Close codes").
CLOSE_UNAUTHENTICATED = 4401  # not signed in, or a staff login without its second factor
CLOSE_SESSION_REVOKED = 4403  # the user's sessions were ended; sign in again
CLOSE_NOT_FOUND = 4404  # no such conversation, or not a participant (the same answer)
CLOSE_FLOODING = 4429  # kept sending faster than the limit

MAX_FRAME_BYTES = 64 * 1024
RATE_FRAMES = 20  # frames admitted per sliding RATE_WINDOW
RATE_WINDOW = 1.0
FLOOD_DROPS = 100  # more refused frames than this within FLOOD_WINDOW closes the socket
FLOOD_WINDOW = 10.0
TYPING_INTERVAL = 2  # seconds: at most one typing broadcast per user and conversation


class FrameError(Exception):
    """A frame the protocol refuses; the socket answers with an error event and stays open."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _seq(content: dict, field: str, *, minimum: int) -> int:
    value = content.get(field)
    # bool is an int in Python; `true` is not a seq.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise FrameError("invalid_field", f"{field}: an integer, at least {minimum}.")
    return value


def _text(content: dict, field: str) -> str:
    value = content.get(field)
    if not isinstance(value, str):
        raise FrameError("invalid_field", f"{field}: a string.")
    return value


def _too_large(text: str) -> bool:
    # Counted in UTF-8 bytes, as on the wire; encoding only when characters alone cannot tell.
    if len(text) > MAX_FRAME_BYTES:
        return True
    return len(text) * 4 > MAX_FRAME_BYTES and len(text.encode("utf-8", "replace")) > MAX_FRAME_BYTES


# --- database reads and writes, each run through database_sync_to_async --------------------------
# Frames are built in the worker thread too: building one decrypts the message body.


def _message_batch(conversation, after_seq: int) -> list[tuple[int, int, dict[str, Any]]]:
    return [(m.seq, m.sender_id, message_frame(m)) for m in messages_after(conversation, after_seq)]


def _message_at(conversation, seq: int) -> dict[str, Any] | None:
    rows = messages_after(conversation, seq - 1, limit=1)
    return message_frame(rows[0]) if rows and rows[0].seq == seq else None


def _receipts(conversation, user_id: int | None = None) -> list[dict[str, Any]]:
    return [receipt_frame(s) for s in read_states(conversation) if user_id is None or s.user_id == user_id]


def _send(user, conversation_id: int, client_msg_id: str, body: str):
    # Access is checked again for every write: a socket can stay open for hours, and a proxy
    # grant or a care relationship may end meanwhile (the connect check alone would outlive it).
    access = access_conversation_for_user(user, conversation_id, action="messaging.message.send", record_read=False)
    message, _ = message_send(access=access, client_msg_id=client_msg_id, body=body)
    return message.seq, message.pk


def _retract(user, conversation_id: int, seq: int) -> None:
    access = access_conversation_for_user(user, conversation_id, action="messaging.message.retract", record_read=False)
    try:
        message = message_for_retraction(access, seq)
    except Http404:
        raise FrameError("not_found", "No such message.") from None
    message_retract(access=access, message=message)


class ConversationConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.lock = asyncio.Lock()
        self.streaming = False  # set by hello: nothing goes out before the replay
        self.last_sent = 0  # the highest seq this socket has sent (or the client had)
        self.delivered_mark = 0  # the highest seq recorded as delivered from this socket
        self.typing_at = -float("inf")
        self.admitted: deque[float] = deque(maxlen=RATE_FRAMES)
        self.dropped: deque[float] = deque(maxlen=FLOOD_DROPS + 1)
        self.closing = False

        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if user.role in STAFF_ROLES and not otp_verified(user):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        try:
            self.access = await database_sync_to_async(access_conversation_for_user)(
                user, conversation_id, action=OPEN_ACTION
            )
        except Http404:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.user = user
        self.user_name = user.full_name or user.email
        self.conversation = self.access.conversation
        self.conversation_group = groups.conversation(self.conversation.pk)
        # Joined on every (re)connect, before any replay reads the database: a message committed
        # after the replay's last read rings a doorbell this socket hears.
        for group in (self.conversation_group, user_group(user.pk)):
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups.append(group)  # left again by websocket_disconnect
        await self.accept()

    # --- frames from the client ------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if self.closing:
            return
        if not await self._admit():
            return
        if text_data is None:
            await self._error("bad_frame", "Frames are JSON text, not binary.")
            return
        if _too_large(text_data):
            await self._error("frame_too_large", f"A frame holds at most {MAX_FRAME_BYTES} bytes.")
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested deeper than the parser goes
            await self._error("bad_frame", "A frame is a JSON object.")
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self._error("bad_frame", 'A frame is a JSON object with a "type".')
            return
        ref = content.get("client_msg_id")
        ref = ref if isinstance(ref, str) else None
        handler = self.FRAMES.get(content["type"])
        try:
            if handler is None:
                raise FrameError("unknown_type", f"Unknown frame type {content['type'][:40]!r}.")
            await handler(self, content)
        except FrameError as error:
            await self._error(error.code, error.detail, ref)
        except ApplicationError as error:
            await self._error(error.code, error.message, ref)
        except Http404:
            # Access ended while the socket was open (checked again on every write).
            await self._error("not_found", "No such conversation.", ref)
            await self._close(CLOSE_NOT_FOUND)

    async def _hello(self, content: dict) -> None:
        last_seq = _seq(content, "last_seq", minimum=0)
        async with self.lock:
            self.streaming = False
            # Fresh: the conversation's last seq now, and the user still takes part.
            self.access = await database_sync_to_async(access_conversation_for_user)(
                self.user, self.conversation.pk, action=OPEN_ACTION, record_read=False
            )
            # A client ahead of the record (another conversation's seq, a restored database)
            # would otherwise wait forever for seqs it believes it has.
            self.last_sent = min(last_seq, self.access.conversation.last_seq)
            await self._catch_up()
            for frame in await database_sync_to_async(_receipts)(self.conversation):
                await self.send_json(frame)
            await self.send_json({"type": "ready", "conversation": self.conversation.pk, "last_seq": self.last_sent})
            self.streaming = True

    async def _send_message(self, content: dict) -> None:
        client_msg_id = _text(content, "client_msg_id")
        body = _text(content, "body")
        # Returns after commit; the message itself comes back through the doorbell.
        seq, pk = await database_sync_to_async(_send)(self.user, self.conversation.pk, client_msg_id, body)
        await self.send_json(
            {"type": "ack", "conversation": self.conversation.pk, "client_msg_id": client_msg_id, "seq": seq, "id": pk}
        )

    async def _read(self, content: dict) -> None:
        seq = _seq(content, "seq", minimum=0)
        await database_sync_to_async(read_state_advance)(access=self.access, read_seq=seq)

    async def _delivered(self, content: dict) -> None:
        seq = _seq(content, "seq", minimum=0)
        await database_sync_to_async(read_state_advance)(access=self.access, delivered_seq=seq)

    async def _typing(self, content: dict) -> None:
        now = time.monotonic()
        if now - self.typing_at < TYPING_INTERVAL:
            return
        self.typing_at = now
        # The user's other tabs and devices share the limit, across server processes.
        key = f"messaging:typing:{self.conversation.pk}:{self.user.pk}"
        if not await cache.aadd(key, 1, timeout=TYPING_INTERVAL):
            return
        await self.channel_layer.group_send(
            self.conversation_group, {"type": "conversation.typing", "user": self.user.pk, "name": self.user_name}
        )

    async def _retract(self, content: dict) -> None:
        seq = _seq(content, "seq", minimum=1)
        await database_sync_to_async(_retract)(self.user, self.conversation.pk, seq)

    FRAMES = {
        "hello": _hello,
        "send": _send_message,
        "read": _read,
        "delivered": _delivered,
        "typing": _typing,
        "retract": _retract,
    }

    # --- doorbells from the channel layer (they only forward, or read the database) -----------

    async def conversation_changed(self, event: dict) -> None:
        if not self.streaming or event["seq"] <= self.last_sent:
            return
        async with self.lock:
            await self._catch_up()

    async def conversation_retracted(self, event: dict) -> None:
        # A message this socket has not sent yet goes out retracted with the stream.
        if not self.streaming or event["seq"] > self.last_sent:
            return
        frame = await database_sync_to_async(_message_at)(self.conversation, event["seq"])
        if frame is not None:
            await self.send_json(frame)

    async def conversation_receipt(self, event: dict) -> None:
        if not self.streaming:
            return
        for frame in await database_sync_to_async(_receipts)(self.conversation, event["user"]):
            await self.send_json(frame)

    async def conversation_typing(self, event: dict) -> None:
        if not self.streaming or event["user"] == self.user.pk:
            return
        await self.send_json(typing_frame(self.conversation.pk, event["user"], event["name"]))

    async def session_revoked(self, event: dict) -> None:
        await self._close(CLOSE_SESSION_REVOKED)

    # --- helpers --------------------------------------------------------------------------------

    async def _catch_up(self) -> None:
        """Send every message after `last_sent`, in order, in pages; then record them delivered.
        Callers hold the lock: two doorbells must not read the same messages."""
        while True:
            batch = await database_sync_to_async(_message_batch)(self.conversation, self.last_sent)
            for seq, _, frame in batch:
                await self.send_json(frame)
                self.last_sent = seq
            await self._record_delivered(batch)
            if len(batch) < PAGE_MAX:
                return

    async def _record_delivered(self, batch: list[tuple[int, int, dict[str, Any]]]) -> None:
        # One receipt per batch. The sender's own messages need none: sending recorded them read.
        others = [seq for seq, sender, _ in batch if sender != self.user.pk]
        if not others or max(others) <= self.delivered_mark:
            return
        self.delivered_mark = max(others)
        await database_sync_to_async(read_state_advance)(access=self.access, delivered_seq=self.delivered_mark)

    async def _admit(self) -> bool:
        """The flood guard: at most RATE_FRAMES frames in any RATE_WINDOW; a socket that keeps
        going past it is closed."""
        now = time.monotonic()
        if len(self.admitted) < RATE_FRAMES or now - self.admitted[0] >= RATE_WINDOW:
            self.admitted.append(now)
            return True
        self.dropped.append(now)
        if len(self.dropped) > FLOOD_DROPS and now - self.dropped[0] < FLOOD_WINDOW:
            await self._close(CLOSE_FLOODING)
            return False
        await self._error("rate_limited", f"At most {RATE_FRAMES} frames a second; this one was dropped.")
        return False

    async def _error(self, code: str, detail: str, ref: str | None = None) -> None:
        frame = {"type": "error", "code": code, "detail": detail}
        if ref is not None:
            frame["ref"] = ref
        await self.send_json(frame)

    async def _close(self, code: int) -> None:
        self.closing = True
        self.streaming = False
        await self.close(code=code)
