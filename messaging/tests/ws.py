"""Opening conversation sockets in tests the way a browser does: a real session cookie (OTP-
verified for staff), an allowed Origin, the project's ASGI application."""

from __future__ import annotations

from collections.abc import Callable

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.models import STAFF_ROLES
from accounts.tests.factories import otp_force_login
from telemed.asgi import application

ORIGIN = (b"origin", b"http://127.0.0.1")


def session_cookie(user, *, otp: bool = True) -> bytes:
    """The cookie of a signed-in browser; a staff member's session passed the second factor
    unless `otp=False`."""
    client = Client()
    if otp and user.role in STAFF_ROLES:
        otp_force_login(client, user)
    else:
        client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def open_socket(
    user, conversation_id, *, otp: bool = True, origin: tuple[bytes, bytes] = ORIGIN, cookie: bytes | None = None
):
    """(communicator, connected, close code), signed in as `user` (or with `cookie`); the caller
    always disconnects it."""
    headers = [origin]
    if cookie is None and user is not None:
        cookie = await sync_to_async(session_cookie)(user, otp=otp)
    if cookie is not None:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(application, f"/ws/conversations/{conversation_id}/", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def frames_until(communicator, done: Callable[[dict], bool], *, timeout: float = 3) -> list[dict]:
    """Every frame received up to and including the first for which `done` is true."""
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        frames.append(frame)
        if done(frame):
            return frames


async def drain(communicator, *, quiet: float = 0.3) -> list[dict]:
    """Every frame that arrives until the socket has been quiet for `quiet` seconds.
    (A timed-out receive would cancel the application, so this polls with receive_nothing.)"""
    frames = []
    while not await communicator.receive_nothing(timeout=quiet):
        frames.append(await communicator.receive_json_from())
    return frames


async def hello(communicator, last_seq: int = 0) -> list[dict]:
    """Say hello and return what the server sends up to and including `ready`."""
    await communicator.send_json_to({"type": "hello", "last_seq": last_seq})
    return await frames_until(communicator, lambda frame: frame["type"] == "ready")


def of_type(frames: list[dict], kind: str) -> list[dict]:
    return [frame for frame in frames if frame["type"] == kind]


def seqs(frames: list[dict]) -> list[int]:
    """The seqs of the message frames, in the order they arrived."""
    return [frame["seq"] for frame in of_type(frames, "message")]
