"""Fixtures of the prescriptions tests: a prescriber who can sign, a chart with an allergy and
a current medication, a signed prescription, and codes from the prescriber's authenticator.

The personas come from the root conftest; `clinician`, `nurse_verified`, `chart` and
`run_together` from the records tests (re-exported here).
"""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from accounts.mfa.testing import totp_code
from accounts.tests.factories import otp_device_for
from records.tests.conftest import chart, clinician, nurse_verified, run_together  # noqa: F401

AMOXICILLIN = {
    "medication": "Amoxicillin",
    "strength": "500 mg",
    "form": "capsule",
    "dose": "1 capsule",
    "route": "oral",
    "frequency": "Three times a day",
    "duration": "7 days",
    "quantity": 21,
    "quantity_unit": "capsules",
    "refills": 0,
    "substitution_allowed": True,
    "instructions": "Take with water; finish the course.",
}
ATORVASTATIN = {
    "medication": "Atorvastatin",
    "strength": "20 mg",
    "form": "tablet",
    "dose": "1 tablet",
    "route": "oral",
    "frequency": "Once daily at night",
    "duration": "28 days",
    "quantity": 28,
    "quantity_unit": "tablets",
    "refills": 2,
    "substitution_allowed": True,
    "instructions": "",
}


@pytest.fixture
def prescriber(clinician):  # noqa: F811 — the fixture re-exported above
    """The patient's doctor, OTP-verified, with a licence number and an authenticator."""
    from accounts.models import ProviderProfile

    ProviderProfile.objects.update_or_create(
        user=clinician, defaults={"licence_number": "GMC 7654321", "licence_jurisdiction": "United Kingdom"}
    )
    otp_device_for(clinician)
    return clinician


class Authenticator:
    """The prescriber's authenticator app: each `code()` is from a new 30 s step, so it is
    fresh (django-otp accepts each step once) — time moves on by a step per call."""

    def __init__(self, user):
        self.device = otp_device_for(user)
        self.offset = 0

    def code(self) -> str:
        self.offset += 31
        with time_machine.travel(timezone.now() + dt.timedelta(seconds=self.offset), tick=False):
            return totp_code(self.device)

    def signing(self):
        """A context in which the clock is where the last code is valid (sign inside it)."""
        return time_machine.travel(timezone.now() + dt.timedelta(seconds=self.offset), tick=False)


@pytest.fixture
def authenticator(prescriber):
    return Authenticator(prescriber)


@pytest.fixture
def sign(authenticator):
    """sign(prescription, reason="") -> the prescription signed by its author with a fresh code."""
    from prescriptions.services.prescribing import prescription_sign

    def run(prescription, override_reason: str = ""):
        code = authenticator.code()
        with authenticator.signing():
            return prescription_sign(
                actor=prescription.prescriber, prescription=prescription, otp_code=code, override_reason=override_reason
            )

    return run


@pytest.fixture
def draft(prescriber, patient):
    """A draft with one item (atorvastatin: no warning against the `chart` fixture)."""
    from prescriptions.services.prescribing import prescription_create

    return prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN])


@pytest.fixture
def signed(draft, sign):
    return sign(draft)
