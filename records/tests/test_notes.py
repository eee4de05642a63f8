"""Clinical notes: draft, signed (locked), amended; attributed, audited, and hidden while drafts."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from accounts.tests.factories import CareRelationshipFactory, DoctorFactory, VerifiedPatientFactory, otp_verified_user
from appointments.tests.factories import AppointmentFactory
from audit.models import AuditEvent, Outcome
from records.errors import RecordsError, RecordsForbiddenError
from records.models import ClinicalNote, NoteAmendment, NoteStatus
from records.selectors import access_chart_for_user, access_note_for_user, notes_for_chart
from records.services.notes import (
    NOTE_MAX_LENGTH,
    content_sha256,
    note_amend,
    note_create,
    note_discard,
    note_sign,
    note_update,
)

pytestmark = pytest.mark.django_db

SOAP = {
    "subjective": "Morning headaches for two weeks.",
    "objective": "BP 148/94, pulse 76.",
    "assessment": "Hypertension, not at target.",
    "plan": "Increase lisinopril to 20 mg; home readings weekly.",
}


def succeeded(action, **filters):
    return AuditEvent.objects.filter(action=action, outcome=Outcome.SUCCESS, **filters)


def stored(note) -> ClinicalNote:
    return ClinicalNote.objects.get(pk=note.pk)


@pytest.fixture
def colleague(patient):
    """Another doctor caring for the same patient."""
    user = otp_verified_user(DoctorFactory(full_name="Dr Colm Colleague"))
    CareRelationshipFactory(patient=patient, provider=user)
    return user


@pytest.fixture
def draft(patient, clinician):
    return note_create(actor=clinician, patient=patient, **SOAP)


# --- Drafts ----------------------------------------------------------------------------------


def test_a_doctor_starts_a_draft_audited(patient, clinician, draft):
    note = stored(draft)

    assert (note.status, note.author, note.patient) == (NoteStatus.DRAFT, clinician, patient)
    assert (note.subjective, note.plan) == (SOAP["subjective"], SOAP["plan"])
    assert note.signed_at is None and note.content_sha256 == ""
    event = succeeded("records.clinicalnote.create", actor=clinician, patient=patient).get()
    assert event.target_id == str(draft.pk)


def test_the_author_saves_changes_to_a_draft(clinician, draft):
    note_update(draft, actor=clinician, **{**SOAP, "plan": "  Increase lisinopril to 20 mg.  "})

    assert stored(draft).plan == "Increase lisinopril to 20 mg."
    assert succeeded("records.clinicalnote.update", actor=clinician).count() == 1


def test_only_the_author_changes_signs_or_discards_a_draft(colleague, draft):
    for attempt in (
        lambda: note_update(draft, actor=colleague, **{**SOAP, "plan": "Something else."}),
        lambda: note_sign(draft, actor=colleague),
        lambda: note_discard(draft, actor=colleague),
    ):
        with pytest.raises(RecordsForbiddenError) as refused:
            attempt()
        assert refused.value.status_code == 403

    note = stored(draft)
    assert (note.status, note.plan) == (NoteStatus.DRAFT, SOAP["plan"])
    refusals = AuditEvent.objects.filter(actor=colleague, outcome=Outcome.DENIED)
    assert sorted(refusals.values_list("action", flat=True)) == [
        "records.clinicalnote.discard",
        "records.clinicalnote.sign",
        "records.clinicalnote.update",
    ]
    assert not AuditEvent.objects.filter(actor=colleague, outcome=Outcome.SUCCESS).exists()


@pytest.mark.parametrize("who", ["nurse_verified", "patient", "proxy", "outsider_doctor"])
def test_only_a_doctor_caring_for_the_patient_writes_notes(request, patient, who):
    user = request.getfixturevalue(who)
    if who == "outsider_doctor":
        user = otp_verified_user(user)

    with pytest.raises(RecordsForbiddenError):
        note_create(actor=user, patient=patient, **SOAP)

    assert not ClinicalNote.objects.exists()
    assert AuditEvent.objects.filter(action="records.clinicalnote.create", outcome=Outcome.DENIED, actor=user).exists()


def test_the_author_discards_a_draft(clinician, draft):
    note_discard(draft, actor=clinician)

    assert not ClinicalNote.objects.filter(pk=draft.pk).exists()
    assert succeeded("records.clinicalnote.discard", target_id=str(draft.pk)).exists()


def test_a_note_longer_than_the_limit_is_refused(patient, clinician):
    with pytest.raises(ValidationError) as refused:
        note_create(actor=clinician, patient=patient, assessment="x" * (NOTE_MAX_LENGTH + 1))

    assert refused.value.message_dict == {"assessment": [f"At most {NOTE_MAX_LENGTH} characters."]}
    assert not ClinicalNote.objects.exists()
    assert not AuditEvent.objects.exists()


# --- Signing ---------------------------------------------------------------------------------


def test_signing_locks_attributes_and_timestamps_the_note(clinician, draft):
    signed = note_sign(draft, actor=clinician)

    note = stored(draft)
    assert (note.status, note.signed_by) == (NoteStatus.SIGNED, clinician)
    assert note.signed_at is not None and note.signed_at == signed.signed_at
    assert note.content_sha256 == content_sha256(note)
    assert len(note.content_sha256) == 64
    event = succeeded("records.clinicalnote.sign", actor=clinician).get()
    assert event.reason == f"sha256 {note.content_sha256}; via care"


def test_a_signed_note_refuses_every_change_with_409(clinician, draft):
    note_sign(draft, actor=clinician)

    for attempt in (
        lambda: note_update(draft, actor=clinician, **{**SOAP, "plan": "Rewritten."}),
        lambda: note_sign(draft, actor=clinician),
        lambda: note_discard(draft, actor=clinician),
    ):
        with pytest.raises(RecordsError) as refused:
            attempt()
        assert (refused.value.status_code, refused.value.code) == (409, "note_signed")

    note = stored(draft)
    assert note.plan == SOAP["plan"] and note.content_sha256 == content_sha256(note)
    assert succeeded("records.clinicalnote.sign").count() == 1
    assert not succeeded("records.clinicalnote.update").exists()


def test_an_empty_note_cannot_be_signed(patient, clinician):
    note = note_create(actor=clinician, patient=patient, subjective="   ")

    with pytest.raises(RecordsError) as refused:
        note_sign(note, actor=clinician)

    assert refused.value.code == "note_empty"
    assert stored(note).status == NoteStatus.DRAFT
    assert not succeeded("records.clinicalnote.sign").exists()


def test_the_digest_changes_if_the_signed_text_is_changed_behind_the_services_back(clinician, draft):
    note_sign(draft, actor=clinician)
    ClinicalNote.objects.filter(pk=draft.pk).update(plan="Stop lisinopril.")

    note = stored(draft)
    assert note.content_sha256 != content_sha256(note)


# --- Amendments ------------------------------------------------------------------------------


def test_amendments_follow_a_signed_note_which_stays_as_signed(clinician, colleague, draft):
    note_sign(draft, actor=clinician)
    signed = stored(draft)

    first = note_amend(draft, actor=clinician, reason=" Lab result arrived. ", text=" Potassium 4.1 mmol/L. ")
    second = note_amend(draft, actor=colleague, reason="Second opinion.", text="Agree with the plan.")

    note = stored(draft)
    assert [(a.author, a.reason, a.text) for a in note.amendments.all()] == [
        (clinician, "Lab result arrived.", "Potassium 4.1 mmol/L."),
        (colleague, "Second opinion.", "Agree with the plan."),
    ]
    assert {name: getattr(note, name) for name in SOAP} == SOAP
    assert (note.signed_at, note.signed_by, note.content_sha256) == (
        signed.signed_at,
        signed.signed_by,
        signed.content_sha256,
    )
    assert note.content_sha256 == content_sha256(note)
    assert list(succeeded("records.clinicalnote.amend", target_id=str(draft.pk)).values_list("reason", flat=True)) == [
        f"amendment {first.pk}; via care",
        f"amendment {second.pk}; via care",
    ]


def test_only_a_signed_note_is_amended(clinician, draft):
    with pytest.raises(RecordsError) as refused:
        note_amend(draft, actor=clinician, reason="Typo.", text="Corrected.")

    assert (refused.value.status_code, refused.value.code) == (409, "note_not_signed")
    assert not NoteAmendment.objects.exists()
    assert not succeeded("records.clinicalnote.amend").exists()


def test_an_amendment_needs_a_reason_and_a_text(clinician, draft):
    note_sign(draft, actor=clinician)

    with pytest.raises(ValidationError) as refused:
        note_amend(draft, actor=clinician, reason="  ", text="")

    assert set(refused.value.message_dict) == {"reason", "text"}
    assert not NoteAmendment.objects.exists()


@pytest.mark.parametrize("who", ["nurse_verified", "patient", "proxy"])
def test_the_patient_side_and_nurses_do_not_amend(request, clinician, draft, who):
    note_sign(draft, actor=clinician)

    with pytest.raises(RecordsForbiddenError):
        note_amend(draft, actor=request.getfixturevalue(who), reason="I disagree.", text="I never said that.")

    assert not NoteAmendment.objects.exists()


# --- Linked to a visit -----------------------------------------------------------------------


def test_a_note_links_to_one_of_the_patients_appointments(patient, clinician, doctor):
    visit = AppointmentFactory(patient=patient, provider=doctor)

    note = note_create(actor=clinician, patient=patient, appointment_id=str(visit.pk), **SOAP)

    assert stored(note).appointment == visit


def test_a_note_cannot_link_to_another_patients_appointment(patient, clinician, doctor):
    elsewhere = AppointmentFactory(
        patient=VerifiedPatientFactory(), provider=doctor, starts_at=timezone.now() + dt.timedelta(days=5)
    )
    own = AppointmentFactory(patient=patient, provider=doctor)
    draft = note_create(actor=clinician, patient=patient, appointment_id=own.pk, **SOAP)

    for attempt in (
        lambda: note_create(actor=clinician, patient=patient, appointment_id=elsewhere.pk, **SOAP),
        lambda: note_update(draft, actor=clinician, appointment_id=elsewhere.pk, **SOAP),
        lambda: note_create(actor=clinician, patient=patient, appointment_id="not-an-id", **SOAP),
    ):
        with pytest.raises(ValidationError) as refused:
            attempt()
        assert refused.value.message_dict == {"appointment": ["Choose one of this patient's appointments."]}

    assert list(ClinicalNote.objects.all()) == [draft]
    assert stored(draft).appointment == own


def test_the_linked_visit_is_part_of_the_signed_digest(patient, clinician, doctor):
    visit = AppointmentFactory(patient=patient, provider=doctor)
    note = note_sign(note_create(actor=clinician, patient=patient, appointment_id=visit.pk, **SOAP), actor=clinician)
    ClinicalNote.objects.filter(pk=note.pk).update(appointment=None)

    assert stored(note).content_sha256 != content_sha256(stored(note))


# --- What the patient's side sees ------------------------------------------------------------


def test_the_patient_side_never_sees_a_draft(patient, proxy, clinician, draft):
    for user in (patient, proxy):
        assert list(notes_for_chart(access_chart_for_user(user, patient.pk))) == []
        with pytest.raises(Http404):
            access_note_for_user(user, draft.pk)
        assert AuditEvent.objects.filter(
            action="records.note.view", outcome=Outcome.DENIED, actor=user, target_id=str(draft.pk)
        ).exists()

    note_sign(draft, actor=clinician)

    for user in (patient, proxy):
        assert list(notes_for_chart(access_chart_for_user(user, patient.pk))) == [draft]
        note, _ = access_note_for_user(user, draft.pk)
        assert note.plan == SOAP["plan"]


# --- Races -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_signing_from_two_tabs_at_once_signs_once(patient, clinician, run_together):
    draft = note_create(actor=clinician, patient=patient, **SOAP)

    results = run_together([lambda: note_sign(draft, actor=clinician) for _ in range(2)])

    signed = [result for result in results if isinstance(result, ClinicalNote)]
    refused = [result for result in results if not isinstance(result, ClinicalNote)]
    assert len(signed) == 1, results
    assert len(refused) == 1 and isinstance(refused[0], RecordsError), refused
    assert (refused[0].status_code, refused[0].code) == (409, "note_signed")
    note = stored(draft)
    assert note.signed_at == signed[0].signed_at and note.content_sha256 == content_sha256(note)
    assert succeeded("records.clinicalnote.sign").count() == 1


@pytest.mark.django_db(transaction=True)
def test_saving_a_draft_while_it_is_signed_never_changes_the_signed_text(patient, clinician, run_together):
    draft = note_create(actor=clinician, patient=patient, **SOAP)

    run_together(
        [
            lambda: note_sign(draft, actor=clinician),
            lambda: note_update(draft, actor=clinician, **{**SOAP, "plan": "Changed in the other tab."}),
        ]
    )

    note = stored(draft)
    assert note.status == NoteStatus.SIGNED
    # Whichever came first, the signed digest covers exactly the text now stored.
    assert note.content_sha256 == content_sha256(note)
