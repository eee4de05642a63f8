"""The ping socket: authenticated only, errors as events, closed when the user is signed out everywhere."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.services.staff_admin import user_deactivate
from telemed.asgi import application
from telemed.consumers import CLOSE_SESSION_REVOKED

ORIGIN = (b"origin", b"http://127.0.0.1")


def _session_cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _open(user=None):
    headers = [ORIGIN]
    if user is not None:
        headers.append((b"cookie", await sync_to_async(_session_cookie_for)(user)))
    communicator = WebsocketCommunicator(application, "/ws/ping/", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
class TestPingSocket:
    async def test_an_anonymous_socket_is_refused(self):
        communicator, connected, code = await _open()
        assert not connected
        assert code == 4401
        await communicator.disconnect()

    async def test_a_socket_from_another_origin_is_refused(self, patient):
        cookie = await sync_to_async(_session_cookie_for)(patient)
        communicator = WebsocketCommunicator(
            application, "/ws/ping/", headers=[(b"origin", b"https://evil.example"), (b"cookie", cookie)]
        )
        connected, _ = await communicator.connect()
        assert not connected
        await communicator.disconnect()

    async def test_a_bad_frame_gets_an_error_event_and_the_socket_stays_open(self, patient):
        communicator, connected, _ = await _open(patient)
        try:
            assert connected
            await communicator.send_to(text_data="not json")
            assert (await communicator.receive_json_from())["code"] == "bad_frame"
            await communicator.send_json_to({"type": "ping"})
            assert await communicator.receive_json_from() == {"type": "pong"}
        finally:
            await communicator.disconnect()

    async def test_deactivating_the_user_closes_their_open_socket(self, patient, admin):
        communicator, connected, _ = await _open(patient)
        try:
            assert connected
            await sync_to_async(user_deactivate)(actor=admin, user=patient, reason="left the practice")
            output = await communicator.receive_output(timeout=3)
            assert output == {"type": "websocket.close", "code": CLOSE_SESSION_REVOKED}
        finally:
            await communicator.disconnect()
