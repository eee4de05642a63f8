"""Writing prescriptions: who may, drafts, revisions, cancellation, and the lists' query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import CareRelationshipFactory, DoctorFactory, VerifiedPatientFactory, otp_verified_user
from prescriptions.errors import PrescriptionsError, PrescriptionsForbiddenError
from prescriptions.models import Prescription, PrescriptionItem, PrescriptionStatus
from prescriptions.selectors import (
    access_prescription_for_user,
    prescription_verify,
    prescriptions_for_chart,
    prescriptions_written_by,
)
from prescriptions.services.prescribing import (
    prescription_cancel,
    prescription_create,
    prescription_revise,
    prescription_update,
)
from prescriptions.services.refills import refill_request_create
from prescriptions.tests.conftest import AMOXICILLIN, ATORVASTATIN
from prescriptions.tests.support import denied, notices, stored, succeeded
from prescriptions.verification import Verdict

pytestmark = pytest.mark.django_db


@pytest.fixture
def colleague(patient):
    """Another doctor caring for the same patient (not the author of the fixtures' drafts)."""
    user = otp_verified_user(DoctorFactory(full_name="Dr Colm Colleague"))
    CareRelationshipFactory(patient=patient, provider=user)
    return user


# --- Who may ---------------------------------------------------------------------------------


def test_a_caring_doctor_writes_a_draft_for_their_patient(prescriber, patient):
    draft = prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN, AMOXICILLIN], valid_days=30)

    assert (draft.status, draft.prescriber, draft.patient, draft.valid_days) == ("draft", prescriber, patient, 30)
    assert draft.signed_at is None and draft.signature == ""
    items = list(draft.items.order_by("position"))
    assert [(item.position, item.medication, item.quantity, item.refills) for item in items] == [
        (1, "Atorvastatin", 28, 2),
        (2, "Amoxicillin", 21, 0),
    ]
    assert succeeded("prescriptions.prescription.create", actor=prescriber, patient=patient).count() == 1


def test_an_outsider_doctor_cannot_write_for_the_patient(outsider_doctor, patient):
    outsider = otp_verified_user(outsider_doctor)

    with pytest.raises(PrescriptionsForbiddenError) as refused:
        prescription_create(actor=outsider, patient=patient, items=[ATORVASTATIN])

    assert refused.value.status_code == 403
    assert not Prescription.objects.exists()
    assert denied("prescriptions.prescription.create", actor=outsider).count() == 1


@pytest.mark.parametrize("persona", ["nurse_verified", "patient", "proxy", "admin"])
def test_nobody_but_a_doctor_writes_a_prescription(request, persona, patient):
    user = request.getfixturevalue(persona)
    if user.is_staff_role:
        user = otp_verified_user(user)

    with pytest.raises(PrescriptionsForbiddenError):
        prescription_create(actor=user, patient=patient, items=[ATORVASTATIN])

    assert not Prescription.objects.exists()
    assert denied("prescriptions.prescription.create", actor=user).count() == 1


def test_an_outsider_meets_404_for_a_prescription_and_the_patient_side_never_sees_a_draft(
    draft, outsider_doctor, outsider_patient, patient, proxy
):
    for user in (otp_verified_user(outsider_doctor), outsider_patient, patient, proxy):
        with pytest.raises(Http404):
            access_prescription_for_user(user, draft.pk)

    assert denied("prescriptions.prescription.view").count() == 4


def test_only_the_author_edits_a_draft(draft, colleague):
    with pytest.raises(PrescriptionsForbiddenError):
        prescription_update(actor=colleague, prescription=draft, items=[AMOXICILLIN])

    assert [item.medication for item in stored(draft).items.all()] == ["Atorvastatin"]
    assert denied("prescriptions.prescription.update", actor=colleague).count() == 1


def test_the_author_changes_the_items_and_validity_of_a_draft(draft, prescriber):
    prescription_update(actor=prescriber, prescription=draft, items=[AMOXICILLIN], valid_days=14)

    draft = stored(draft)
    assert [item.medication for item in draft.items.all()] == ["Amoxicillin"]
    assert draft.valid_days == 14
    assert PrescriptionItem.objects.count() == 1


@pytest.mark.parametrize(
    ("items", "code", "message"),
    [
        ([], "prescription_no_items", "Add at least one medicine."),
        ([{**ATORVASTATIN, "quantity": 0}], "prescriptions_invalid", "Item 1, quantity: between 1 and 10000."),
        ([{**ATORVASTATIN, "quantity": "lots"}], "prescriptions_invalid", "Item 1, quantity"),
        ([ATORVASTATIN, {**ATORVASTATIN, "refills": 13}], "prescriptions_invalid", "Item 2, refills: at most 12."),
        ([{**ATORVASTATIN, "route": "intravenous"}], "prescriptions_invalid", "Item 1, route"),
        ([{**ATORVASTATIN, "medication": "  "}], "prescriptions_invalid", "Item 1, medication"),
        ([{**ATORVASTATIN, "colour": "blue"}], "prescriptions_invalid", "unknown field 'colour'"),
        ([ATORVASTATIN] * 11, "prescriptions_invalid", "at most 10 medicines"),
    ],
)
def test_bad_items_are_refused_with_a_message_naming_the_item(prescriber, patient, items, code, message):
    with pytest.raises(PrescriptionsError) as refused:
        prescription_create(actor=prescriber, patient=patient, items=items)

    assert refused.value.code == code and message in refused.value.message
    assert not Prescription.objects.exists()


@pytest.mark.parametrize("days", [0, 367, "soon"])
def test_the_validity_is_between_one_day_and_a_year(prescriber, patient, days):
    with pytest.raises(PrescriptionsError, match="between 1 and 366 days"):
        prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN], valid_days=days)


def test_an_appointment_of_another_patient_is_refused(prescriber, patient, outsider_patient):
    from appointments.tests.factories import AppointmentFactory

    theirs = AppointmentFactory(patient=outsider_patient, provider=prescriber)
    ours = AppointmentFactory(patient=patient, provider=prescriber, starts_at=theirs.starts_at + dt.timedelta(days=1))

    with pytest.raises(PrescriptionsError) as refused:
        prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN], appointment_id=theirs.pk)
    draft = prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN], appointment_id=ours.pk)

    assert refused.value.code == "appointment_mismatch"
    assert draft.appointment_id == ours.pk


# --- After signing ---------------------------------------------------------------------------


def test_a_signed_prescription_is_never_edited(signed, prescriber):
    with pytest.raises(PrescriptionsError) as refused:
        prescription_update(actor=prescriber, prescription=signed, items=[AMOXICILLIN])

    assert (refused.value.status_code, refused.value.code) == (409, "prescription_signed")
    assert [item.medication for item in stored(signed).items.all()] == ["Atorvastatin"]
    assert prescription_verify(signed.public_id, signed.check_code).verdict == Verdict.VALID


def test_a_revision_is_a_draft_that_replaces_the_old_one_once_signed(signed, prescriber, sign):
    revision = prescription_revise(actor=prescriber, prescription=signed)

    assert (revision.status, revision.supersedes_id) == ("draft", signed.pk)
    assert [item.medication for item in revision.items.all()] == ["Atorvastatin"]
    assert stored(signed).status == PrescriptionStatus.SIGNED  # still valid until the revision is signed

    prescription_update(actor=prescriber, prescription=revision, items=[{**ATORVASTATIN, "strength": "40 mg"}])
    sign(revision)

    assert stored(signed).status == PrescriptionStatus.SUPERSEDED
    assert prescription_verify(signed.public_id, signed.check_code).verdict == Verdict.SUPERSEDED
    assert prescription_verify(revision.public_id, revision.check_code).verdict == Verdict.VALID
    assert succeeded("prescriptions.prescription.revise", actor=prescriber).count() == 1


def test_revising_twice_gives_the_same_draft_and_another_doctor_is_told_it_is_under_revision(
    signed, prescriber, colleague
):
    first = prescription_revise(actor=prescriber, prescription=signed)
    again = prescription_revise(actor=prescriber, prescription=signed)

    with pytest.raises(PrescriptionsError) as refused:
        prescription_revise(actor=colleague, prescription=signed)

    assert again.pk == first.pk
    assert (refused.value.status_code, refused.value.code) == (409, "prescription_not_active")
    assert "already being written" in refused.value.message
    assert Prescription.objects.filter(supersedes=signed).count() == 1


def test_a_cancelled_revision_lets_the_prescription_be_revised_again(signed, prescriber, colleague):
    dropped = prescription_revise(actor=prescriber, prescription=signed)
    prescription_cancel(actor=prescriber, prescription=dropped, reason="Started over.")

    revision = prescription_revise(actor=colleague, prescription=signed)

    assert stored(dropped).status == PrescriptionStatus.CANCELLED
    assert revision.supersedes_id == signed.pk and revision.prescriber == colleague
    assert stored(signed).status == PrescriptionStatus.SIGNED


def test_only_a_signed_prescription_is_revised(draft, prescriber):
    with pytest.raises(PrescriptionsError) as refused:
        prescription_revise(actor=prescriber, prescription=draft)

    assert (refused.value.status_code, refused.value.code) == (409, "prescription_not_active")


def test_an_outsider_doctor_cannot_revise(signed, outsider_doctor):
    outsider = otp_verified_user(outsider_doctor)

    with pytest.raises(PrescriptionsForbiddenError):
        prescription_revise(actor=outsider, prescription=signed)

    assert not Prescription.objects.filter(supersedes=signed).exists()
    assert denied("prescriptions.prescription.revise", actor=outsider).count() == 1


# --- Cancelling ------------------------------------------------------------------------------


def test_cancelling_needs_a_reason(signed, prescriber):
    with pytest.raises(PrescriptionsError) as refused:
        prescription_cancel(actor=prescriber, prescription=signed, reason="   ")

    assert refused.value.code == "prescriptions_invalid"
    assert stored(signed).status == PrescriptionStatus.SIGNED


def test_a_cancelled_prescription_verifies_as_cancelled_and_the_patient_is_told(signed, prescriber, patient):
    before = notices(patient).count()

    cancelled = prescription_cancel(actor=prescriber, prescription=signed, reason="Wrong strength.")

    cancelled = stored(cancelled)
    assert (cancelled.status, cancelled.cancelled_by, cancelled.cancel_reason) == (
        "cancelled",
        prescriber,
        "Wrong strength.",
    )
    assert cancelled.cancelled_at is not None
    assert prescription_verify(signed.public_id, signed.check_code).verdict == Verdict.CANCELLED
    told = list(notices(patient)[before:])
    assert {notice.kind for notice in told} == {"prescription.cancelled"}
    assert {notice.channel for notice in told} == {"email", "in_app"}
    assert succeeded("prescriptions.prescription.cancel", actor=prescriber, patient=patient).count() == 1


def test_a_colleague_caring_for_the_patient_may_cancel_a_signed_prescription_but_not_a_draft(
    signed, prescriber, patient, colleague
):
    draft = prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN])

    with pytest.raises(PrescriptionsForbiddenError):
        prescription_cancel(actor=colleague, prescription=draft, reason="Not needed.")
    prescription_cancel(actor=colleague, prescription=signed, reason="Not needed.")

    assert stored(signed).status == PrescriptionStatus.CANCELLED
    assert stored(draft).status == PrescriptionStatus.DRAFT


def test_a_draft_cancelled_tells_the_patient_nothing(draft, prescriber, patient):
    prescription_cancel(actor=prescriber, prescription=draft, reason="Not needed.")

    assert stored(draft).status == PrescriptionStatus.CANCELLED
    assert not notices(patient).exists()


def test_a_cancelled_prescription_is_not_cancelled_again(signed, prescriber):
    prescription_cancel(actor=prescriber, prescription=signed, reason="Wrong strength.")

    with pytest.raises(PrescriptionsError) as refused:
        prescription_cancel(actor=prescriber, prescription=signed, reason="Again.")

    assert (refused.value.status_code, refused.value.code) == (409, "prescription_not_active")
    assert stored(signed).cancel_reason == "Wrong strength."


@pytest.mark.parametrize("persona", ["nurse_verified", "patient", "outsider_doctor"])
def test_nobody_but_a_caring_doctor_cancels(request, persona, signed):
    user = request.getfixturevalue(persona)
    if user.is_staff_role:
        user = otp_verified_user(user)

    with pytest.raises(PrescriptionsForbiddenError):
        prescription_cancel(actor=user, prescription=signed, reason="No.")

    assert stored(signed).status == PrescriptionStatus.SIGNED
    assert denied("prescriptions.prescription.cancel", actor=user).count() == 1


# --- Lists: a fixed number of queries --------------------------------------------------------


def _write(prescriber, patient, sign, count: int) -> None:
    for _ in range(count):
        draft = prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN, AMOXICILLIN])
        # From the second on, each duplicates the one before: overridden warnings to read too.
        prescription = sign(draft, "Repeat supply for travel.")
        refill_request_create(actor=patient, prescription=prescription, note="Running low.")


def _read(rows, *, refills: bool = False) -> list:
    return [
        (
            row.patient.full_name,
            row.prescriber.full_name,
            row.signing_key.fingerprint,
            [item.medication for item in row.items.all()],
            [warning.message for warning in row.warnings.all()],
            [refill.status for refill in row.refill_requests.all()] if refills else [],
        )
        for row in rows
    ]


@pytest.fixture
def two_patients(prescriber, patient):
    """`patient` and another patient of the prescriber's."""
    other = VerifiedPatientFactory(full_name="Olive Other")
    CareRelationshipFactory(patient=other, provider=prescriber)
    return patient, other


def _chart_list(user, patient) -> list:
    # The chart access an interface holds, as the prescription's own access selector gives it.
    any_prescription = Prescription.objects.filter(patient=patient).first()
    chart = access_prescription_for_user(user, any_prescription.pk, record_read=False).chart
    return _read(prescriptions_for_chart(chart), refills=True)


def test_a_patients_prescriptions_are_read_in_a_fixed_number_of_queries(
    prescriber, two_patients, sign, django_assert_max_num_queries
):
    one, five = two_patients
    _write(prescriber, one, sign, 1)
    _write(prescriber, five, sign, 5)

    with CaptureQueriesContext(connection) as small:
        shown = _chart_list(prescriber, one)
    with django_assert_max_num_queries(len(small.captured_queries)):
        full = _chart_list(prescriber, five)
    with django_assert_max_num_queries(len(small.captured_queries)):
        own = _chart_list(five, five)

    assert (len(shown), len(full), len(own)) == (1, 5, 5)
    assert sum(len(row[4]) for row in full) >= 4 and all(row[5] == ["open"] for row in full)


def test_a_doctors_prescriptions_are_read_in_a_fixed_number_of_queries(
    prescriber, two_patients, sign, django_assert_max_num_queries
):
    one, five = two_patients
    _write(prescriber, one, sign, 1)

    with CaptureQueriesContext(connection) as small:
        shown = _read(prescriptions_written_by(prescriber))
    _write(prescriber, five, sign, 4)
    with django_assert_max_num_queries(len(small.captured_queries)):
        full = _read(prescriptions_written_by(prescriber))

    assert (len(shown), len(full)) == (1, 5)
    assert list(prescriptions_written_by(prescriber, status="draft")) == []


@pytest.mark.django_db(transaction=True)
def test_revising_from_two_tabs_at_once_makes_one_draft(signed, prescriber, run_together):
    results = run_together([lambda: prescription_revise(actor=prescriber, prescription=signed) for _ in range(2)])

    assert all(isinstance(result, Prescription) for result in results), results
    assert results[0].pk == results[1].pk
    assert Prescription.objects.filter(supersedes=signed).count() == 1
