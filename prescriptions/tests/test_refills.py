"""Refill requests: the patient's side asks, the prescriber approves with a fresh code or
declines with a reason, one open request per prescription."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import formats, timezone

from accounts.models import ProviderProfile
from accounts.tests.factories import (
    CareRelationshipFactory,
    DoctorFactory,
    ProxyGrantFactory,
    VerifiedPatientFactory,
    otp_verified_user,
)
from prescriptions.errors import PrescriptionsError, PrescriptionsForbiddenError, UnacknowledgedWarnings
from prescriptions.models import Prescription, PrescriptionStatus, RefillRequest, RefillStatus
from prescriptions.selectors import prescription_verify, refill_queue_for_prescriber
from prescriptions.services.prescribing import (
    prescription_cancel,
    prescription_create,
    prescription_revise,
    prescription_sign,
)
from prescriptions.services.refills import refill_request_approve, refill_request_create, refill_request_decline
from prescriptions.tests.conftest import AMOXICILLIN, ATORVASTATIN, Authenticator
from prescriptions.tests.support import denied, stored, succeeded
from prescriptions.verification import Verdict

pytestmark = pytest.mark.django_db


@pytest.fixture
def refill(signed, patient):
    return refill_request_create(actor=patient, prescription=signed, note="Running low, two weeks left.")


@pytest.fixture
def approve(prescriber, authenticator):
    """approve(refill, reason="") -> the new prescription, approved by the prescriber with a fresh code."""

    def run(refill, override_reason: str = ""):
        code = authenticator.code()
        with authenticator.signing():
            return refill_request_approve(
                actor=prescriber, refill=refill, otp_code=code, override_reason=override_reason
            )

    return run


def still_open(refill) -> bool:
    return RefillRequest.objects.get(pk=refill.pk).status == RefillStatus.OPEN


# --- Asking ----------------------------------------------------------------------------------


def test_the_patient_asks_for_a_refill_and_the_prescriber_is_told(signed, patient, prescriber):
    refill = refill_request_create(actor=patient, prescription=signed, note="  Running low.  ")

    refill = RefillRequest.objects.get(pk=refill.pk)
    assert (refill.status, refill.requested_by, refill.note, refill.prescription_id) == (
        "open",
        patient,
        "Running low.",
        signed.pk,
    )
    assert succeeded("prescriptions.refill.request", actor=patient, patient=patient).count() == 1
    assert list(refill_queue_for_prescriber(prescriber)) == [refill]


def test_a_proxy_with_access_to_the_records_asks_for_the_patient(signed, proxy):
    refill = refill_request_create(actor=proxy, prescription=signed)

    assert refill.requested_by == proxy


def test_a_proxy_without_access_to_the_records_cannot_ask(signed, patient):
    limited = VerifiedPatientFactory()
    ProxyGrantFactory(patient=patient, proxy=limited, scopes=["appointments.manage"])

    with pytest.raises(PrescriptionsForbiddenError):
        refill_request_create(actor=limited, prescription=signed)

    assert not RefillRequest.objects.exists()


@pytest.mark.parametrize("persona", ["nurse_verified", "prescriber", "outsider_patient", "admin"])
def test_nobody_but_the_patients_side_asks(request, persona, signed):
    user = request.getfixturevalue(persona)
    if user.is_staff_role:
        user = otp_verified_user(user)

    with pytest.raises(PrescriptionsForbiddenError) as refused:
        refill_request_create(actor=user, prescription=signed)

    assert refused.value.status_code == 403
    assert not RefillRequest.objects.exists()
    assert denied("prescriptions.refill.request", actor=user).count() == 1


@pytest.mark.parametrize(("cancel", "state"), [(True, "cancelled"), (False, "draft")])
def test_only_a_signed_prescription_is_refilled(prescriber, patient, sign, cancel, state):
    prescription = prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN])
    if cancel:
        prescription = prescription_cancel(actor=prescriber, prescription=sign(prescription), reason="Not needed.")

    with pytest.raises(PrescriptionsError) as refused:
        refill_request_create(actor=patient, prescription=prescription)

    assert (refused.value.status_code, refused.value.code) == (409, "prescription_not_active")
    assert f"(this one is {state})" in refused.value.message
    assert not RefillRequest.objects.exists()


def test_a_second_request_while_one_is_open_is_refused_with_the_date_of_the_first(refill, signed, patient, proxy):
    with pytest.raises(PrescriptionsError) as refused:
        refill_request_create(actor=proxy, prescription=signed, note="Again.")

    sent = formats.date_format(timezone.localtime(refill.created_at), "j F Y")
    assert (refused.value.status_code, refused.value.code) == (409, "refill_request_open")
    assert refused.value.message == (
        f"A refill request for this prescription is already waiting for the prescriber (sent {sent})."
    )
    assert RefillRequest.objects.count() == 1


def test_once_declined_the_patient_may_ask_again(refill, signed, patient, prescriber):
    refill_request_decline(actor=prescriber, refill=refill, reason="Book a review first.")

    again = refill_request_create(actor=patient, prescription=signed, note="Review booked.")

    assert again.status == RefillStatus.OPEN and RefillRequest.objects.count() == 2


def test_a_note_longer_than_the_limit_is_refused(signed, patient):
    with pytest.raises(PrescriptionsError, match="under 2000 characters"):
        refill_request_create(actor=patient, prescription=signed, note="x" * 2001)


# --- Approving -------------------------------------------------------------------------------


def test_approving_issues_a_new_signed_prescription_that_replaces_the_old_one(refill, signed, prescriber, approve):
    new = approve(refill)

    new = stored(new)
    assert new.status == PrescriptionStatus.SIGNED and new.supersedes_id == signed.pk
    assert [item.medication for item in new.items.all()] == ["Atorvastatin"]
    assert stored(signed).status == PrescriptionStatus.SUPERSEDED
    decided = RefillRequest.objects.get(pk=refill.pk)
    assert (decided.status, decided.decided_by, decided.new_prescription) == ("approved", prescriber, new)
    assert decided.decided_at is not None
    assert prescription_verify(new.public_id, new.check_code).verdict == Verdict.VALID
    assert prescription_verify(signed.public_id, signed.check_code).verdict == Verdict.SUPERSEDED
    assert succeeded("prescriptions.refill.approve", actor=prescriber).count() == 1
    assert list(refill_queue_for_prescriber(prescriber)) == []


def test_approving_needs_a_fresh_code(refill, signed, prescriber, patient, authenticator):
    other = prescription_create(actor=prescriber, patient=patient, items=[{**ATORVASTATIN, "medication": "Metformin"}])
    with pytest.raises(PrescriptionsError) as missing:
        refill_request_approve(actor=prescriber, refill=refill, otp_code="")
    code = authenticator.code()

    with authenticator.signing():
        prescription_sign(actor=prescriber, prescription=other, otp_code=code)
        with pytest.raises(PrescriptionsError) as used:
            refill_request_approve(actor=prescriber, refill=refill, otp_code=code)

    assert missing.value.code == "otp_code_required"
    assert used.value.code == "otp_code_invalid"
    assert still_open(refill)
    assert stored(signed).status == PrescriptionStatus.SIGNED
    assert denied("prescriptions.prescription.sign", actor=prescriber, target_id=str(signed.pk)).count() == 1


def test_warnings_need_a_reason_again_and_do_not_use_up_the_code(prescriber, patient, chart, sign, authenticator):
    signed = sign(prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN]), "Tolerated before.")
    refill = refill_request_create(actor=patient, prescription=signed)
    code = authenticator.code()

    with authenticator.signing():
        with pytest.raises(UnacknowledgedWarnings):
            refill_request_approve(actor=prescriber, refill=refill, otp_code=code)
        assert still_open(refill)
        new = refill_request_approve(actor=prescriber, refill=refill, otp_code=code, override_reason="Still fine.")

    assert {warning.override_reason for warning in new.warnings.all()} == {"Still fine."}


def test_cancelling_the_prescription_declines_its_open_refill_request_and_says_so(refill, signed, prescriber, approve):
    prescription_cancel(actor=prescriber, prescription=signed, reason="Stopped.")
    refill.refresh_from_db()

    assert refill.status == RefillStatus.DECLINED
    assert refill.decline_reason == "Your doctor cancelled this prescription."
    assert succeeded("prescriptions.refill.decline", actor=prescriber).exists()
    with pytest.raises(PrescriptionsError) as refused:
        approve(refill)
    assert (refused.value.status_code, refused.value.code) == (409, "refill_request_decided")


def test_signing_a_revision_answers_the_open_refill_request_with_it(refill, signed, prescriber, sign):
    revision = sign(prescription_revise(actor=prescriber, prescription=signed), "Same medicine, new course.")
    refill.refresh_from_db()

    assert refill.status == RefillStatus.APPROVED
    assert refill.new_prescription == revision


def test_a_prescription_under_revision_is_not_refilled_until_the_revision_is_settled(
    refill, signed, prescriber, approve
):
    prescription_revise(actor=prescriber, prescription=signed)

    with pytest.raises(PrescriptionsError, match="already being written") as refused:
        approve(refill)

    assert refused.value.status_code == 409
    assert still_open(refill)


def test_a_decided_request_is_not_decided_again(refill, prescriber, approve):
    approve(refill)

    with pytest.raises(PrescriptionsError) as again:
        approve(refill)
    with pytest.raises(PrescriptionsError) as declined:
        refill_request_decline(actor=prescriber, refill=refill, reason="Changed my mind.")

    assert (again.value.status_code, again.value.code) == (409, "refill_request_decided")
    assert (declined.value.status_code, declined.value.code) == (409, "refill_request_decided")
    assert Prescription.objects.filter(supersedes__isnull=False).count() == 1


@pytest.mark.parametrize("persona", ["nurse_verified", "outsider_doctor"])
def test_nobody_but_a_caring_doctor_answers(request, persona, refill, authenticator):
    user = otp_verified_user(request.getfixturevalue(persona))

    with pytest.raises(PrescriptionsForbiddenError):
        refill_request_approve(actor=user, refill=refill, otp_code=authenticator.code())
    with pytest.raises(PrescriptionsForbiddenError):
        refill_request_decline(actor=user, refill=refill, reason="No.")

    assert still_open(refill)
    assert denied("prescriptions.refill.approve", actor=user).count() == 1
    assert denied("prescriptions.refill.decline", actor=user).count() == 1


# --- Declining -------------------------------------------------------------------------------


def test_declining_needs_a_reason_the_patient_reads(refill, prescriber, signed):
    with pytest.raises(PrescriptionsError) as refused:
        refill_request_decline(actor=prescriber, refill=refill, reason=" ")
    declined = refill_request_decline(actor=prescriber, refill=refill, reason="Book a review first.")

    assert refused.value.code == "prescriptions_invalid"
    declined = RefillRequest.objects.get(pk=declined.pk)
    assert (declined.status, declined.decline_reason, declined.decided_by) == (
        "declined",
        "Book a review first.",
        prescriber,
    )
    assert stored(signed).status == PrescriptionStatus.SIGNED
    assert succeeded("prescriptions.refill.decline", actor=prescriber).count() == 1


# --- The prescriber's queue ------------------------------------------------------------------


def test_the_queue_holds_open_requests_on_the_doctors_own_prescriptions_oldest_first(prescriber, patient, signed, sign):
    colleague = otp_verified_user(DoctorFactory())
    CareRelationshipFactory(patient=patient, provider=colleague)
    second = sign(prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN]))
    first_request = refill_request_create(actor=patient, prescription=signed)
    second_request = refill_request_create(actor=patient, prescription=second)

    assert list(refill_queue_for_prescriber(prescriber)) == [first_request, second_request]
    assert list(refill_queue_for_prescriber(colleague)) == []
    assert list(refill_queue_for_prescriber(patient)) == []


def test_the_queue_is_read_in_a_fixed_number_of_queries(prescriber, patient, sign, django_assert_max_num_queries):
    def fill(count):
        for _ in range(count):
            draft = prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN, AMOXICILLIN])
            refill_request_create(actor=patient, prescription=sign(draft, "Repeat supply."))

    def read():
        return [
            (
                row.prescription.public_id,
                row.prescription.patient.full_name,
                row.requested_by.full_name,
                [item.medication for item in row.prescription.items.all()],
            )
            for row in refill_queue_for_prescriber(prescriber)
        ]

    fill(1)
    with CaptureQueriesContext(connection) as small:
        assert len(read()) == 1
    fill(4)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert len(read()) == 5


# --- Races -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_make_one(signed, patient, proxy, run_together):
    results = run_together(
        [lambda user=user: refill_request_create(actor=user, prescription=signed) for user in (patient, proxy)]
    )

    made = [result for result in results if isinstance(result, RefillRequest)]
    refused = [result for result in results if not isinstance(result, RefillRequest)]
    assert len(made) == 1, results
    assert len(refused) == 1 and isinstance(refused[0], PrescriptionsError), refused
    assert refused[0].code == "refill_request_open"
    assert RefillRequest.objects.filter(status=RefillStatus.OPEN).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_doctors_approving_one_request_at_once_issue_one_prescription(
    refill, signed, prescriber, authenticator, run_together
):
    colleague = otp_verified_user(DoctorFactory(full_name="Dr Colm Colleague"))
    CareRelationshipFactory(patient=signed.patient, provider=colleague)
    ProviderProfile.objects.update_or_create(user=colleague, defaults={"licence_number": "GMC 1234567"})
    theirs = Authenticator(colleague)
    # Both codes from the same, fresh step: the one the prescriber's authenticator moves to next.
    theirs.offset = authenticator.offset
    codes = [(prescriber, authenticator.code()), (colleague, theirs.code())]

    with authenticator.signing():
        results = run_together(
            [
                lambda doctor=doctor, code=code: refill_request_approve(actor=doctor, refill=refill, otp_code=code)
                for doctor, code in codes
            ]
        )

    made = [result for result in results if isinstance(result, Prescription)]
    refused = [result for result in results if not isinstance(result, Prescription)]
    assert len(made) == 1, results
    assert len(refused) == 1 and isinstance(refused[0], PrescriptionsError), refused
    assert refused[0].code == "refill_request_decided"
    assert Prescription.objects.filter(supersedes=signed).count() == 1
    assert RefillRequest.objects.get(pk=refill.pk).new_prescription_id == made[0].pk
