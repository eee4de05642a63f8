"""What people are told, by email and in the portal: that something is ready or was answered,
with a link, and never which medicine (a notice is not encrypted and leaves the portal)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from prescriptions.services.prescribing import prescription_cancel, prescription_create
from prescriptions.services.refills import refill_request_approve, refill_request_create, refill_request_decline
from prescriptions.tests.conftest import AMOXICILLIN
from prescriptions.tests.support import names_no_medicine, notices

pytestmark = pytest.mark.django_db

# Everything the fixtures prescribe, as a patient's neighbour reading an email could see it.
MEDICINES = ("Atorvastatin", "Amoxicillin", "20 mg", "500 mg", "capsule", "tablet")


def link(name: str, pk: int) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name, args=[pk])


def kinds_and_channels(user) -> list[tuple[str, str]]:
    return sorted((notice.kind, notice.channel) for notice in notices(user))


def assert_discreet(*users) -> None:
    for user in users:
        for notice in notices(user):
            assert names_no_medicine(notice, *MEDICINES), (notice.subject, notice.body_text)


def test_signing_tells_the_patient_a_prescription_is_ready(signed, patient, prescriber):
    assert kinds_and_channels(patient) == [("prescription.ready", "email"), ("prescription.ready", "in_app")]
    notice = notices(patient).first()
    assert notice.subject == "A new prescription is ready"
    assert link("prescriptions:detail", signed.pk) in notice.body_text
    assert not notices(prescriber).exists()
    assert_discreet(patient)


def test_cancelling_tells_the_patient_without_naming_the_medicine(signed, patient, prescriber):
    prescription_cancel(actor=prescriber, prescription=signed, reason="Amoxicillin 500 mg was the wrong choice.")

    cancelled = [notice for notice in notices(patient) if notice.kind == "prescription.cancelled"]
    assert {notice.channel for notice in cancelled} == {"email", "in_app"}
    assert all("wrong choice" not in notice.body_text for notice in cancelled)
    assert_discreet(patient)


def test_a_refill_request_tells_the_prescriber(signed, patient, prescriber):
    refill_request_create(actor=patient, prescription=signed, note="Atorvastatin running low.")

    assert kinds_and_channels(prescriber) == [
        ("prescription.refill_requested", "email"),
        ("prescription.refill_requested", "in_app"),
    ]
    notice = notices(prescriber).first()
    assert settings.SITE_URL.rstrip("/") + reverse("prescriptions:refill_queue") in notice.body_text
    assert "running low" not in notice.body_text
    assert_discreet(prescriber)


def test_an_approved_refill_tells_the_patient_and_the_proxy_who_asked_once(
    signed, patient, proxy, prescriber, authenticator
):
    refill = refill_request_create(actor=proxy, prescription=signed)
    before = notices(patient).count()
    code = authenticator.code()

    with authenticator.signing():
        new = refill_request_approve(actor=prescriber, refill=refill, otp_code=code)

    # The patient was told before of the first prescription; the proxy hears of nothing else.
    for told in (list(notices(patient))[before:], list(notices(proxy))):
        assert sorted((notice.kind, notice.channel) for notice in told) == [
            ("prescription.refill_decided", "email"),
            ("prescription.refill_decided", "in_app"),
        ]
        assert all(link("prescriptions:detail", new.pk) in notice.body_text for notice in told)
        assert all("approved" in notice.body_text for notice in told)
    assert_discreet(patient, proxy)


def test_a_declined_refill_tells_the_patient_but_not_the_reason(signed, patient, prescriber):
    refill = refill_request_create(actor=patient, prescription=signed)

    refill_request_decline(actor=prescriber, refill=refill, reason="Atorvastatin needs a blood test first.")

    told = [notice for notice in notices(patient) if notice.kind == "prescription.refill_decided"]
    assert {notice.channel for notice in told} == {"email", "in_app"}
    assert all("declined" in notice.body_text and "blood test" not in notice.body_text for notice in told)
    assert_discreet(patient)


def test_a_prescription_with_warnings_overridden_tells_nothing_of_them(prescriber, patient, chart, sign):
    sign(prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN]), "Tolerated before.")

    assert_discreet(patient)
    assert all("allerg" not in notice.body_text.lower() for notice in notices(patient))
