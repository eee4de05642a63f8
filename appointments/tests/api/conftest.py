"""Mobile clients over JWT: `as_user(user)` is an APIClient that sends `user`'s access token.

Tokens come from the real sign-in endpoint; staff send the current code of their
authenticator, so their token carries the OTP claim (`"otp": true`) as in production.
"""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.mfa.testing import totp_code
from accounts.tests.factories import TEST_PASSWORD, otp_device_for
from appointments.models import Appointment
from appointments.services import appointment_book
from appointments.tests.conftest import paris

TOKEN = "/api/v1/auth/token/"
# Within one bucket a user's token is reused: it lives 5 minutes, and a bucket boundary is also
# a TOTP step boundary, so a new bucket never replays a staff member's last code.
_TOKEN_BUCKET_SECONDS = 240


@pytest.fixture(autouse=True)
def _monday(frozen_monday):
    """Every test here runs from Monday 23 November 2026, 08:00 Paris, before any persona or
    grant is created (a proxy grant made on the real date would have expired by then)."""
    return frozen_monday


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
def as_user(db):
    tokens: dict[tuple[int, int], str] = {}

    def client_for(user) -> APIClient:
        key = (user.pk, int(time.time()) // _TOKEN_BUCKET_SECONDS)
        if key not in tokens:
            body = {"email": user.email, "password": TEST_PASSWORD}
            if user.is_staff_role:
                body["otp"] = totp_code(otp_device_for(user))
            response = APIClient().post(TOKEN, body, format="json")
            assert response.status_code == 200, response.content
            tokens[key] = response.json()["access"]
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[key]}")
        return client

    return client_for


@pytest.fixture
def booked(frozen_monday, schedule, video_type, patient):
    """`booked(day, hour, minute=0, reason=...)`: `patient`'s appointment with `doctor` (Paris time)."""

    def book(day: int, hour: int, minute: int = 0, *, reason: str = "Persistent cough", who=None) -> Appointment:
        who = who or patient
        return appointment_book(
            actor=who,
            patient=who,
            provider=schedule,
            appointment_type=video_type,
            starts_at=paris(day, hour, minute),
            reason=reason,
        )

    return book


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    return body
