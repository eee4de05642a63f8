"""BodySizeLimit, the ASGI wrapper that refuses an oversized body before it is buffered.

The application behind it is a stub that records what it is given: the wrapper is ours, the
stub only stands for "whatever Django would have done". What daphne does in front of it (it
buffers before any ASGI code runs) is tested against the real server in
records/tests/test_upload_attacks.py.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync

from telemed.asgi_limits import FRAMING_ALLOWANCE, BodySizeLimit, install_daphne_body_limit

LIMIT = 4096


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.RECORDS_MAX_UPLOAD_BYTES = LIMIT


class Downstream:
    """Reads the whole body like Django's handler, then answers 200 with what it read."""

    def __init__(self) -> None:
        self.calls = 0
        self.received: list[dict] = []
        self.scope: dict | None = None
        self.receive = self.send = None

    async def __call__(self, scope, receive, send) -> None:
        self.calls += 1
        self.scope, self.receive, self.send = scope, receive, send
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            self.received.append(message)
            if message["type"] == "http.disconnect":
                return  # Django raises RequestAborted and answers nothing
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-read", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": b"read " + str(len(body)).encode()})


def http_scope(headers: list[tuple[bytes, bytes]]) -> dict:
    return {"type": "http", "method": "POST", "path": "/api/v1/patients/1/documents/", "headers": headers}


def run(app, scope: dict, messages: list[dict]) -> list[dict]:
    """Drive `app` with `messages` from the client; returns what it sent back."""
    incoming = list(messages)
    sent: list[dict] = []

    async def receive() -> dict:
        if incoming:
            return incoming.pop(0)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    async_to_sync(app)(scope, receive, send)
    return sent


def body_chunks(total: int, size: int = 1024) -> list[dict]:
    sizes = [size] * (total // size) + ([total % size] if total % size else [])
    return [
        {"type": "http.request", "body": b"x" * part, "more_body": index < len(sizes) - 1}
        for index, part in enumerate(sizes)
    ]


def refusal_of(sent: list[dict]) -> dict:
    start, body = sent
    assert start["status"] == 413
    assert (b"content-type", b"application/json") in start["headers"]
    assert (b"cache-control", b"no-store") in start["headers"]
    return json.loads(body["body"])


LIMIT_WITH_FRAMING = LIMIT + FRAMING_ALLOWANCE


def test_a_declared_length_over_the_limit_is_refused_without_calling_the_application():
    downstream = Downstream()
    scope = http_scope([(b"content-length", str(LIMIT_WITH_FRAMING + 1).encode())])

    sent = run(BodySizeLimit(downstream), scope, body_chunks(LIMIT_WITH_FRAMING + 1))

    body = refusal_of(sent)
    assert body["code"] == "upload_too_large"
    assert "at most" in body["detail"]
    assert downstream.calls == 0


def test_a_body_without_a_length_is_cut_off_once_it_passes_the_limit_and_the_application_sees_a_disconnect():
    downstream = Downstream()

    sent = run(BodySizeLimit(downstream), http_scope([]), body_chunks(LIMIT_WITH_FRAMING + 10_000))

    assert refusal_of(sent)["code"] == "upload_too_large"
    assert downstream.received[-1] == {"type": "http.disconnect"}
    # Stopped at the first chunk over the limit: the rest was never asked for.
    assert sum(len(m.get("body", b"")) for m in downstream.received) <= LIMIT_WITH_FRAMING


def test_a_body_that_lies_about_its_length_is_cut_off_all_the_same():
    downstream = Downstream()
    scope = http_scope([(b"content-length", b"100")])

    sent = run(BodySizeLimit(downstream), scope, body_chunks(LIMIT_WITH_FRAMING + 2048))

    assert refusal_of(sent)["code"] == "upload_too_large"
    assert downstream.received[-1] == {"type": "http.disconnect"}


def test_a_body_within_the_limit_passes_through_untouched():
    downstream = Downstream()
    messages = body_chunks(LIMIT_WITH_FRAMING)
    scope = http_scope([(b"content-length", str(LIMIT_WITH_FRAMING).encode())])

    sent = run(BodySizeLimit(downstream), scope, [dict(m) for m in messages])

    assert downstream.received == messages
    assert sent == [
        {"type": "http.response.start", "status": 200, "headers": [(b"x-read", str(LIMIT_WITH_FRAMING).encode())]},
        {"type": "http.response.body", "body": f"read {LIMIT_WITH_FRAMING}".encode()},
    ]
    assert downstream.scope is scope


def test_a_malformed_length_is_left_for_the_application_to_answer():
    downstream = Downstream()

    sent = run(BodySizeLimit(downstream), http_scope([(b"content-length", b"a lot")]), body_chunks(10))

    assert downstream.calls == 1
    assert sent[0]["status"] == 200


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
def test_other_scopes_go_to_the_application_with_the_same_receive_and_send(kind):
    downstream = Downstream()
    scope = {"type": kind, "path": "/ws/", "headers": [(b"content-length", b"999999999999")]}

    async def receive() -> dict:
        return {"type": f"{kind}.connect"}

    async def send(message: dict) -> None:
        raise AssertionError("nothing is sent")

    async_to_sync(BodySizeLimit(downstream))(scope, receive, send)

    assert downstream.calls == 1
    assert downstream.scope is scope
    assert downstream.receive is receive
    assert downstream.send is send


def test_daphne_requests_are_built_with_the_limit_installed_once():
    from daphne import http_protocol

    install_daphne_body_limit()
    installed = http_protocol.WebRequest
    install_daphne_body_limit()

    assert installed.telemed_body_limit is True
    assert http_protocol.WebRequest is installed
    assert installed.__mro__[1].__module__ == "daphne.http_protocol"
