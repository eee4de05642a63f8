"""A mobile client opens a WebSocket with a single-use, 30-second ticket instead of a cookie."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from accounts.mfa.testing import totp_code, totp_device_enrol, totp_step_start
from accounts.services.tokens import ws_ticket_consume, ws_ticket_issue
from accounts.tests.factories import TEST_PASSWORD
from telemed.asgi import application

ORIGIN = (b"origin", b"http://127.0.0.1")


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _ticket_for(user, **login) -> str:
    api = APIClient()
    pair = api.post(
        "/api/v1/auth/token/", {"email": user.email, "password": TEST_PASSWORD, **login}, format="json"
    ).json()
    response = api.post("/api/v1/auth/ws-ticket/", HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert response.status_code == 201, response.content
    assert response.json()["expires_in"] == 30
    return response.json()["ticket"]


async def _connect(path: str, headers=(ORIGIN,)):
    communicator = WebsocketCommunicator(application, path, headers=list(headers))
    connected, _ = await communicator.connect()
    return communicator, connected


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
class TestTicketSockets:
    async def test_a_ticket_opens_the_socket_as_its_user(self, patient):
        ticket = await sync_to_async(_ticket_for)(patient)

        communicator, connected = await _connect(f"/ws/ping/?ticket={ticket}")
        try:
            assert connected
            await communicator.send_json_to({"type": "ping"})
            assert await communicator.receive_json_from() == {"type": "pong"}
        finally:
            await communicator.disconnect()

    async def test_a_ticket_opens_one_socket_only(self, patient):
        ticket = await sync_to_async(_ticket_for)(patient)
        first, first_connected = await _connect(f"/ws/ping/?ticket={ticket}")
        second, second_connected = await _connect(f"/ws/ping/?ticket={ticket}")
        try:
            assert first_connected
            assert not second_connected
        finally:
            await first.disconnect()
            await second.disconnect()

    async def test_a_ticket_older_than_30_seconds_is_refused(self, patient):
        ticket = await sync_to_async(_ticket_for)(patient)
        with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=31)):
            communicator, connected = await _connect(f"/ws/ping/?ticket={ticket}")
        try:
            assert not connected
        finally:
            await communicator.disconnect()

    async def test_a_made_up_ticket_is_refused(self, db):
        communicator, connected = await _connect("/ws/ping/?ticket=made-up-ticket")
        try:
            assert not connected
        finally:
            await communicator.disconnect()

    async def test_without_ticket_or_session_the_socket_is_refused(self, db):
        communicator, connected = await _connect("/ws/ping/")
        try:
            assert not connected
        finally:
            await communicator.disconnect()

    async def test_a_ticket_is_refused_from_another_sites_page(self, patient):
        ticket = await sync_to_async(_ticket_for)(patient)

        communicator, connected = await _connect(
            f"/ws/ping/?ticket={ticket}", headers=[(b"origin", b"https://evil.example")]
        )
        try:
            assert not connected
        finally:
            await communicator.disconnect()

    async def test_a_ticket_of_a_user_deactivated_since_is_refused(self, patient):
        ticket = await sync_to_async(_ticket_for)(patient)
        patient.is_active = False
        await patient.asave(update_fields=["is_active"])

        communicator, connected = await _connect(f"/ws/ping/?ticket={ticket}")
        try:
            assert not connected
        finally:
            await communicator.disconnect()


@pytest.mark.django_db
class TestTicketService:
    def test_the_ticket_carries_the_otp_verification_of_the_login(self, doctor):
        device = totp_device_enrol(doctor)
        with time_machine.travel(totp_step_start(), tick=False):
            ticket = _ticket_for(doctor, otp=totp_code(device))
            user = ws_ticket_consume(ticket=ticket)

        assert user == doctor
        assert user.is_verified()

    def test_a_ticket_of_an_unverified_login_is_not_verified(self, patient):
        user = ws_ticket_consume(ticket=ws_ticket_issue(user=patient, otp_device_id=None))

        assert user == patient
        assert not user.is_verified()

    def test_a_ticket_is_consumed_once(self, patient):
        ticket = ws_ticket_issue(user=patient, otp_device_id=None)

        assert ws_ticket_consume(ticket=ticket) == patient
        assert ws_ticket_consume(ticket=ticket) is None

    def test_the_ticket_is_random_and_long(self, patient):
        tickets = {ws_ticket_issue(user=patient, otp_device_id=None) for _ in range(5)}

        assert len(tickets) == 5
        assert all(len(ticket) >= 43 for ticket in tickets)

    def test_an_anonymous_caller_gets_no_ticket(self, db):
        response = APIClient().post("/api/v1/auth/ws-ticket/")

        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


@pytest.mark.django_db(transaction=True)
def test_a_ticket_consumed_by_two_sockets_at_once_opens_one(patient):
    ticket = ws_ticket_issue(user=patient, otp_device_id=None)
    barrier = threading.Barrier(4)
    users = []

    def consume() -> None:
        barrier.wait()
        try:
            users.append(ws_ticket_consume(ticket=ticket))
        finally:
            connection.close()

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert [user for user in users if user is not None] == [patient]
    assert len(users) == 4


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_bad_ticket_does_not_fall_back_to_the_session(patient):
    client = await sync_to_async(_session_cookie_for)(patient)

    communicator, connected = await _connect(
        "/ws/ping/?ticket=made-up", headers=[ORIGIN, (b"cookie", f"sessionid={client}".encode())]
    )
    with_cookie, cookie_connected = await _connect(
        "/ws/ping/", headers=[ORIGIN, (b"cookie", f"sessionid={client}".encode())]
    )
    try:
        assert cookie_connected
        assert not connected
    finally:
        await communicator.disconnect()
        await with_cookie.disconnect()


def _session_cookie_for(user) -> str:
    from django.test import Client

    browser = Client()
    browser.force_login(user)
    return browser.cookies["sessionid"].value
