"""Clients and helpers of the prescriptions API tests.

`as_user(user)` is a mobile client with the user's JWT from the real sign-in endpoint (staff
send their authenticator's current code, so their token carries the OTP claim), as in the
records API tests. A code is accepted once per 30 s step and the `authenticator` fixture moves
on a step per code it gives, so the prescriber signs in (`doctor_api`) before anything is signed.
"""

from __future__ import annotations

import uuid

import pytest

from records.tests.api.conftest import _fresh_throttles, api, as_user  # noqa: F401


@pytest.fixture
def doctor_api(as_user, prescriber):  # noqa: F811
    """The patient's doctor (the prescriber) with an OTP-verified token."""
    return as_user(prescriber)


@pytest.fixture
def sign(sign, doctor_api):
    # Only so that the prescriber's sign-in code comes before the signing codes.
    return sign


def rx_url(prescription, suffix: str = "") -> str:
    return f"/api/v1/prescriptions/{prescription.pk}/{suffix}"


def fresh_address() -> str:
    """A client address of its own (throttle counters are shared between tests, and runs on Redis)."""
    n = uuid.uuid4().int
    return f"198.18.{n % 250 + 1}.{(n >> 8) % 250 + 1}"
