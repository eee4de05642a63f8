"""What whoever holds the paper learns (`prescription_verify`), and that every look is audited."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.factories import PatientProfileFactory
from prescriptions.models import Prescription
from prescriptions.selectors import prescription_verify
from prescriptions.services.dispensing import dispense_record
from prescriptions.services.prescribing import prescription_cancel, prescription_create, prescription_revise
from prescriptions.tests.conftest import ATORVASTATIN
from prescriptions.tests.support import denied, succeeded, triggers_disabled
from prescriptions.verification import VERDICT_TEXT, Verdict, verdict_for

pytestmark = pytest.mark.django_db

VERIFY = "prescriptions.verify"


def verify(prescription, **kwargs):
    return prescription_verify(prescription.public_id, prescription.check_code, **kwargs)


def test_a_signed_prescription_is_valid_and_tells_only_what_a_pharmacist_needs(patient, prescriber, draft, sign):
    PatientProfileFactory(user=patient, legal_name="Patricia anne Patient", date_of_birth=dt.date(1980, 4, 2))
    signed = sign(draft)

    result = verify(signed)

    assert result.verdict == Verdict.VALID and result.dispensable
    assert result.text == VERDICT_TEXT[Verdict.VALID]
    assert (result.patient_initials, result.patient_birth_year) == ("P.A.P.", 1980)
    assert result.prescription.prescriber_licence == "GMC 7654321"
    [line] = result.items
    assert (line.item.medication, line.dispensed, line.remaining, line.refills_left) == ("Atorvastatin", 0, 84, 2)
    event = succeeded(VERIFY, target_id=str(signed.pk)).get()
    assert (event.actor, event.patient, event.reason) == (None, patient, "valid (page)")


def test_the_codes_may_be_typed_in_lower_case_with_spaces_and_dashes(signed):
    code = signed.check_code

    result = prescription_verify(f" {signed.public_id.lower()} ", f"{code[:5].lower()}-{code[5:]} ")

    assert result.verdict == Verdict.VALID


def test_a_wrong_check_code_or_an_unknown_id_finds_nothing_and_is_audited_as_denied(signed):
    wrong = "0000000000" if signed.check_code != "0000000000" else "1111111111"

    results = [
        prescription_verify(signed.public_id, wrong, via="api"),
        prescription_verify(signed.public_id, ""),
        prescription_verify("ZZZZZZZZZZZZ", signed.check_code),
    ]

    assert [result.verdict for result in results] == [Verdict.NOT_FOUND] * 3
    assert all(result.prescription is None and result.items == [] for result in results)
    assert denied(VERIFY).count() == 3
    assert denied(VERIFY, reason="no match (api)").count() == 1
    assert not succeeded(VERIFY).exists()


def test_a_draft_is_not_found(draft):
    assert verify(draft).verdict == Verdict.NOT_FOUND
    assert denied(VERIFY, target_id=draft.public_id).count() == 1


def test_a_cancelled_prescription_verifies_as_cancelled(signed, prescriber):
    prescription_cancel(actor=prescriber, prescription=signed, reason="Wrong strength.")

    result = verify(signed, via="api")

    assert result.verdict == Verdict.CANCELLED and not result.dispensable
    assert succeeded(VERIFY, reason="cancelled (api)").count() == 1


def test_a_replaced_prescription_verifies_as_superseded(signed, prescriber, sign):
    sign(prescription_revise(actor=prescriber, prescription=signed))

    assert verify(signed).verdict == Verdict.SUPERSEDED


def test_a_prescription_expires_the_day_after_its_last_valid_day(prescriber, patient, sign):
    signed = sign(prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN], valid_days=30))
    last_day = signed.valid_until

    with time_machine.travel(dt.datetime.combine(last_day, dt.time(23, 0), tzinfo=timezone.get_current_timezone())):
        on_the_last_day = verify(signed).verdict
    with time_machine.travel(
        dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(1, 0), tzinfo=timezone.get_current_timezone())
    ):
        after = verify(signed)

    assert on_the_last_day == Verdict.VALID
    assert after.verdict == Verdict.EXPIRED and not after.dispensable
    assert succeeded(VERIFY, reason="expired (page)").count() == 1


def test_a_prescription_dispensed_in_full_says_so(signed):
    dispense_record(
        prescription=signed, dispense_code=signed.dispense_code, lines=[(1, 84)], pharmacy="High St", pharmacist="Ann"
    )

    result = verify(signed)

    assert result.verdict == Verdict.DISPENSED and not result.dispensable
    [line] = result.items
    assert (line.dispensed, line.remaining, line.refills_left) == (84, 0, 0)


def test_invalid_wins_over_every_other_state(signed, prescriber):
    prescription_cancel(actor=prescriber, prescription=signed, reason="Wrong strength.")
    with triggers_disabled():
        Prescription.objects.filter(pk=signed.pk).update(patient_name="Someone Else")

    assert verify(signed).verdict == Verdict.INVALID


def test_a_draft_has_no_verdict_but_invalid(draft):
    assert verdict_for(draft).verdict == Verdict.INVALID
