"""Refuse an oversized request body before it is buffered.

Two layers, because the server buffers before the application runs:

- Daphne (what we run) reads the whole body into memory or a temporary file (Twisted's
  `Request.content`) before it calls the ASGI application at all, so no ASGI code can stop a
  1 GB upload from being written to the server's disk. `install_daphne_body_limit()` (run when
  this module is imported, as telemed.asgi does) swaps daphne's request class for one that
  answers 413 as soon as the headers declare too large a body, or as soon as the bytes of a
  body sent without a length (chunked) pass the limit. It then half-closes: the client reads
  the answer and sees the end; whatever it still sends is read and dropped, never stored,
  until it stops or LINGER_SECONDS pass.
- `BodySizeLimit` wraps the ASGI application for servers that stream the body to it (uvicorn,
  hypercorn) and for in-process callers: a declared length over the limit gets 413 without
  reading any of it; a body without a length is cut off (413, and the application sees the
  client as gone) once the bytes received pass the limit. Django's ASGI handler, too, reads
  the whole body before any view or middleware runs, so a check in a view is too late.

The limit is the largest document (RECORDS_MAX_UPLOAD_BYTES) plus room for the multipart
framing and form fields; the records service applies the exact file limit afterwards.
"""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FRAMING_ALLOWANCE = 256 * 1024
# How long a refused client may keep sending (read and dropped) before the connection is cut:
# long enough for it to read the 413 (closing with unread input would reset the connection
# and lose the answer), short enough that it cannot hold the connection.
LINGER_SECONDS = 5.0


def body_limit() -> int:
    return settings.RECORDS_MAX_UPLOAD_BYTES + FRAMING_ALLOWANCE


def _refusal(limit: int) -> tuple[dict[str, Any], bytes]:
    limit_mb = settings.RECORDS_MAX_UPLOAD_BYTES // 1_048_576
    body = json.dumps(
        {
            "detail": f"The request is too large; files may be at most {limit_mb} MB.",
            "code": "upload_too_large",
        }
    ).encode()
    start = {
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"cache-control", b"no-store"),
        ],
    }
    return start, body


class BodySizeLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit()
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False  # Django answers a malformed length itself
            if too_big:
                await self._refuse(send, limit)
                return

        received = 0
        refused = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not response_started:
                        await self._refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refused:
                return  # the 413 has been sent; the app's answer to a cut body goes nowhere
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        start, body = _refusal(limit)
        await send(start)
        await send({"type": "http.response.body", "body": body})


# --- daphne ---------------------------------------------------------------------------------


def _raw_refusal() -> bytes:
    start, body = _refusal(body_limit())
    head = b"HTTP/1.1 413 Payload Too Large\r\n"
    head += b"".join(name + b": " + value + b"\r\n" for name, value in start["headers"])
    return head + b"\r\n" + body


def _body_limited(base: type) -> type:
    class BodyLimitedWebRequest(base):  # type: ignore[misc, valid-type]
        """daphne's WebRequest, refusing a body over the limit before storing it."""

        telemed_body_limit = True
        _body_refused = False
        _body_received = 0
        _linger: Any = None

        def gotLength(self, length: int | None) -> None:
            if length is not None and length > body_limit():
                self._refuse_body()
                return
            super().gotLength(length)

        def handleContentChunk(self, data: bytes) -> None:
            if self._body_refused:
                return  # dropped, never stored
            self._body_received += len(data)
            if self._body_received > body_limit():
                self._refuse_body()
                return
            super().handleContentChunk(data)

        def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
            if self._body_refused:
                return  # the 413 has been sent: the application never sees this request
            super().requestReceived(command, path, version)

        def connectionLost(self, reason: Any) -> None:
            if self._linger is not None and self._linger.active():
                self._linger.cancel()
            super().connectionLost(reason)

        def _refuse_body(self) -> None:
            from twisted.internet import reactor as installed

            reactor: Any = installed  # the module attribute is typed as a bare interface

            self._body_refused = True
            content = getattr(self, "content", None)
            if content is not None:
                content.close()  # what was stored so far (a temporary file) goes now
            self.content = io.BytesIO()
            transport = self.channel.transport
            transport.write(_raw_refusal())
            # Written around Twisted's response machinery: the request is not complete, and
            # must never be handed to the application.
            self.channel.persistent = False
            if hasattr(transport, "loseWriteConnection"):
                transport.loseWriteConnection()
                self._linger = reactor.callLater(LINGER_SECONDS, transport.abortConnection)
            else:
                transport.loseConnection()

    return BodyLimitedWebRequest


def install_daphne_body_limit() -> None:
    """Make daphne refuse oversized bodies as they arrive (see the module docstring). Daphne
    builds each connection's request from `daphne.http_protocol.WebRequest`; that name is
    replaced by a subclass. Idempotent; does nothing where daphne is not installed."""
    try:
        from daphne import http_protocol
    except ImportError:
        return
    if getattr(http_protocol.WebRequest, "telemed_body_limit", False):
        return
    http_protocol.WebRequest = _body_limited(http_protocol.WebRequest)


install_daphne_body_limit()
