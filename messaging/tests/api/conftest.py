"""Clients and helpers of the messaging API tests.

`as_user(user)` is a mobile client with the user's JWT from the real sign-in endpoint (staff
send their authenticator's current code, so their token carries the OTP claim), as in the
records and prescriptions API tests. Conversations and messages the tests start from are made
through the real services, never by writing rows.
"""

from __future__ import annotations

import uuid

import pytest

from accounts.tests.factories import otp_verified_user
from messaging.models import Conversation, Message
from messaging.selectors import access_conversation_for_user
from messaging.services import care_conversation_ensure, message_send
from records.tests.api.conftest import _fresh_throttles, api, as_user  # noqa: F401

API = "/api/v1"


def conversation_url(conversation: Conversation | int, suffix: str = "") -> str:
    pk = conversation if isinstance(conversation, int) else conversation.pk
    return f"{API}/conversations/{pk}/{suffix}"


def new_id() -> str:
    return uuid.uuid4().hex


def said(user, conversation: Conversation, body: str = "Hello") -> Message:
    """`user` writes in `conversation` through the service (staff with a verified login)."""
    actor = otp_verified_user(user) if user.is_staff_role else user
    access = access_conversation_for_user(actor, conversation.pk, record_read=False)
    message, _created = message_send(access=access, client_msg_id=new_id(), body=body)
    return message


@pytest.fixture
def care(patient) -> Conversation:
    """The patient's care-team conversation (with `doctor` and `nurse` when those are asked for)."""
    return care_conversation_ensure(actor=patient, patient=patient)
