"""Clients for the records API, and small helpers its tests share.

`signed_in(user)`: an APIClient with the user's session (staff OTP-verified), as the
browser's pages call the API. `as_user(user)`: a mobile client that sends the user's JWT,
taken from the real sign-in endpoint (staff send the current code of their authenticator, so
their token carries the OTP claim). `fake_clamd`: a real socket that answers clamd's INSTREAM
command, for the scanner paths.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.mfa.testing import totp_code
from accounts.tests.factories import TEST_PASSWORD, otp_device_for, otp_force_login
from audit.models import AuditEvent

TOKEN = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def _fresh_throttles():
    # Throttle counters live in the cache, which outlives a test (and a run, on Redis).
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api():
    """An anonymous client."""
    return APIClient()


@pytest.fixture
def signed_in(db):
    def client_for(user) -> APIClient:
        client = APIClient()
        if user.is_staff_role:
            return otp_force_login(client, user)
        client.force_login(user)
        return client

    return client_for


@pytest.fixture
def as_user(db):
    # One token per user and test: a staff member's TOTP code is accepted only once.
    tokens: dict[int, str] = {}

    def client_for(user) -> APIClient:
        if user.pk not in tokens:
            body = {"email": user.email, "password": TEST_PASSWORD}
            if user.is_staff_role:
                body["otp"] = totp_code(otp_device_for(user))
            response = APIClient().post(TOKEN, body, format="json")
            assert response.status_code == 200, response.content
            tokens[user.pk] = response.json()["access"]
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[user.pk]}")
        return client

    return client_for


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def denied(actor, **filters) -> list[AuditEvent]:
    """The denials recorded for `actor` (newest last)."""
    return list(AuditEvent.objects.filter(actor=actor, outcome="denied", **filters).order_by("seq"))


class FakeClamd:
    """Answers one INSTREAM per connection with `reply` (e.g. "stream: OK")."""

    def __init__(self) -> None:
        self.reply = b"stream: OK\0"
        self.received: list[bytes] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.url = f"tcp://127.0.0.1:{self._server.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                self.received.append(self._read_stream(conn))
                conn.sendall(self.reply)

    @staticmethod
    def _read_stream(conn: socket.socket) -> bytes:
        buffer = b""

        def take(count: int) -> bytes:
            nonlocal buffer
            while len(buffer) < count:
                data = conn.recv(65536)
                if not data:
                    raise ConnectionError("client went away")
                buffer += data
            head, buffer = buffer[:count], buffer[count:]
            return head

        assert take(len(b"zINSTREAM\0")) == b"zINSTREAM\0"
        body = b""
        while length := struct.unpack(">I", take(4))[0]:
            body += take(length)
        return body

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()


@pytest.fixture
def fake_clamd(settings) -> Iterator[FakeClamd]:
    server = FakeClamd()
    settings.CLAMD_URL = server.url
    yield server
    server.close()
