"""The chart's reads: the access table of records.selectors, the sections, the access log."""

import datetime as dt
import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services.access import breakglass_open
from accounts.tests.factories import (
    AdminFactory,
    CareRelationshipFactory,
    DoctorFactory,
    NurseFactory,
    PatientFactory,
    ProxyGrantFactory,
    VerifiedPatientFactory,
    otp_verified_user,
)
from audit.models import AuditEvent, Outcome
from records.errors import RecordsForbiddenError
from records.models import Allergy, AllergyStatus, NoteStatus
from records.selectors import (
    Need,
    access_chart_for_user,
    access_document_for_user,
    access_entry_for_user,
    access_log_for_patient,
    access_note_for_user,
    chart_get,
    chart_patients_for_clinician,
    chart_permission,
    describe_access_event,
    home_readings_awaiting_acknowledgement,
    notes_for_chart,
)
from records.services import chart as services
from records.services.notes import note_amend
from records.tests.factories import (
    AllergyFactory,
    ClinicalNoteFactory,
    ConditionFactory,
    DocumentFactory,
    HomeReadingFactory,
    ImmunizationFactory,
    MedicationFactory,
    NoteAmendmentFactory,
    SignedNoteFactory,
    VitalSignsFactory,
)

pytestmark = pytest.mark.django_db

EMERGENCY = "Unconscious in the emergency department, no chart elsewhere"

# The table in records.selectors' docstring: what each standing may do with the chart.
# Personas not listed here are refused the chart itself (Http404).
ALLOWED = {
    "patient": {Need.READ, Need.VITALS, Need.UPLOAD},
    "proxy": {Need.READ},
    "doctor": set(Need),
    "doctor_breakglass": set(Need),
    "nurse": {Need.READ, Need.VITALS, Need.ACKNOWLEDGE},
    "nurse_breakglass": {Need.READ, Need.VITALS, Need.ACKNOWLEDGE},
}
HIDDEN = [
    "proxy_without_records_scope",
    "outsider_doctor",
    "other_patient",
    "unverified_self",
    "admin",
    "doctor_without_otp",
    "anonymous",
]


@pytest.fixture
def persona(patient):
    """persona(name) -> (user, the patient whose chart they try)."""

    def make(name: str):
        match name:
            case "patient":
                return patient, patient
            case "proxy":
                user = VerifiedPatientFactory()
                ProxyGrantFactory(patient=patient, proxy=user, scopes=["records.view"])
                return user, patient
            case "proxy_without_records_scope":
                user = VerifiedPatientFactory()
                ProxyGrantFactory(patient=patient, proxy=user, scopes=["appointments.manage", "messaging"])
                return user, patient
            case "doctor":
                user = DoctorFactory()
                CareRelationshipFactory(patient=patient, provider=user)
                return otp_verified_user(user), patient
            case "nurse":
                user = NurseFactory()
                CareRelationshipFactory(patient=patient, provider=user)
                return otp_verified_user(user), patient
            case "doctor_breakglass" | "nurse_breakglass":
                user = otp_verified_user(DoctorFactory() if name == "doctor_breakglass" else NurseFactory())
                breakglass_open(actor=user, patient=patient, reason=EMERGENCY)
                return user, patient
            case "outsider_doctor":
                return otp_verified_user(DoctorFactory()), patient
            case "other_patient":
                return VerifiedPatientFactory(), patient
            case "unverified_self":
                user = PatientFactory()
                return user, user
            case "admin":
                return otp_verified_user(AdminFactory()), patient
            case "doctor_without_otp":
                user = DoctorFactory()
                CareRelationshipFactory(patient=patient, provider=user)
                return user, patient
            case "anonymous":
                return AnonymousUser(), patient
        raise AssertionError(name)

    return make


def events(**filters):
    return AuditEvent.objects.filter(**filters)


def by(user):
    """Audit filter for what `user` did (the anonymous are stored without an actor)."""
    return {"actor": user} if user.is_authenticated else {"actor__isnull": True, "actor_role": "anonymous"}


ALLOWED_CASES = [(name, need) for name, needs in ALLOWED.items() for need in needs]
FORBIDDEN_CASES = [(name, need) for name, needs in ALLOWED.items() for need in set(Need) - needs]
HIDDEN_CASES = [(name, need) for name in HIDDEN for need in Need]


@pytest.mark.parametrize(("name", "need"), ALLOWED_CASES)
def test_the_access_table_lets_each_standing_do_what_it_may(persona, name, need):
    user, patient = persona(name)

    access = access_chart_for_user(user, patient.pk, need=need, section="allergies")

    assert access.patient == patient
    assert access.may(need)
    assert chart_permission(user, patient, need) is not None
    opened = events(action="accounts.patient.access", outcome=Outcome.SUCCESS, patient=patient, **by(user)).get()
    action = "records.chart.view" if need == Need.READ else f"records.chart.{need}"
    assert opened.reason.startswith(f"{action} via ")
    viewed = events(action="records.chart.view", outcome=Outcome.SUCCESS, patient=patient, **by(user))
    if need == Need.READ:
        assert viewed.get().reason.startswith("allergies; ")
    else:
        # A write is audited by the service that makes it, not by the access check.
        assert not viewed.exists()
    assert not events(outcome=Outcome.DENIED).exists()


@pytest.mark.parametrize(("name", "need"), FORBIDDEN_CASES)
def test_the_access_table_refuses_with_403_what_a_reader_may_not_change(persona, name, need):
    user, patient = persona(name)

    with pytest.raises(RecordsForbiddenError) as refused:
        access_chart_for_user(user, patient.pk, need=need)

    assert refused.value.status_code == 403
    assert chart_permission(user, patient, need) is None
    denied = events(action=f"records.chart.{need}", outcome=Outcome.DENIED, patient=patient, **by(user)).get()
    assert denied.reason == f"may read, may not {need}"


@pytest.mark.parametrize(("name", "need"), HIDDEN_CASES)
def test_the_access_table_hides_the_chart_from_everyone_else(persona, name, need):
    user, patient = persona(name)

    with pytest.raises(Http404):
        access_chart_for_user(user, patient.pk, need=need)

    assert chart_permission(user, patient, need) is None
    action = "records.chart.view" if need == Need.READ else f"records.chart.{need}"
    assert events(action=action, outcome=Outcome.DENIED, patient=patient, **by(user)).exists()
    assert (
        not events(outcome=Outcome.SUCCESS, patient=patient, **by(user))
        .exclude(action="accounts.breakglass.open")
        .exists()
    )


@pytest.mark.parametrize("name", ["doctor_breakglass", "nurse_breakglass"])
def test_a_breakglass_read_is_flagged_with_its_reason(persona, name):
    user, patient = persona(name)

    access_chart_for_user(user, patient.pk, section="summary")

    assert access_chart_for_user(user, patient.pk).breakglass
    reads = events(patient=patient, actor=user, action__in=["accounts.patient.access", "records.chart.view"])
    assert reads.count() == 4
    assert all(event.breakglass and EMERGENCY in event.reason for event in reads)


def test_an_unknown_patient_id_is_a_404_audited_as_denied(clinician):
    for outside_id in ("999999", "abc", "-3", "", None):
        with pytest.raises(Http404):
            access_chart_for_user(clinician, outside_id)
    assert events(action="records.chart.view", outcome=Outcome.DENIED, actor=clinician).count() == 5


def test_a_staff_member_is_not_a_patient_whose_chart_can_be_opened(clinician, nurse_verified):
    with pytest.raises(Http404):
        access_chart_for_user(clinician, nurse_verified.pk)


def test_an_ended_care_relationship_no_longer_opens_the_chart(patient):
    user = otp_verified_user(DoctorFactory())
    CareRelationshipFactory(patient=patient, provider=user, ended_at=timezone.now())

    with pytest.raises(Http404):
        access_chart_for_user(user, patient.pk)


def test_an_expired_proxy_grant_no_longer_opens_the_chart(patient):
    user = VerifiedPatientFactory()
    past = timezone.now() - dt.timedelta(days=60)
    ProxyGrantFactory(patient=patient, proxy=user, starts_at=past, expires_at=past + dt.timedelta(days=30))

    with pytest.raises(Http404):
        access_chart_for_user(user, patient.pk)


def test_a_proxy_read_names_who_acts_for_whom(patient, proxy):
    access_chart_for_user(proxy, patient.pk, section="medications")

    viewed = events(action="records.chart.view", actor=proxy, patient=patient).get()
    assert viewed.reason == f"medications; {proxy} acting for {patient} (parent)"
    assert access_chart_for_user(proxy, patient.pk).patient_side


# --- The sections ----------------------------------------------------------------------------


def test_the_chart_shows_each_section_without_what_was_entered_in_error(patient, clinician, chart):
    services.entry_mark_entered_in_error(chart.allergy, actor=clinician, reason="Wrong patient.")
    services.entry_mark_entered_in_error(chart.home_reading, actor=patient, reason="Cuff was loose.")
    access = access_chart_for_user(clinician, patient.pk)

    shown = chart_get(access)

    assert shown.allergies == []
    assert [c.description for c in shown.conditions] == ["Hypertension"]
    assert [c.code for c in shown.conditions] == ["I10"]
    assert [m.name for m in shown.active_medications] == ["Lisinopril"]
    assert [i.vaccine for i in shown.immunizations] == ["Influenza"]
    assert shown.vitals == [chart.clinic_vitals]
    assert shown.unacknowledged_vitals == []
    assert {note.pk for note in shown.notes} == {chart.note.pk, chart.draft.pk}
    kept = Allergy.objects.get(pk=chart.allergy.pk)
    assert kept.status == AllergyStatus.ENTERED_IN_ERROR and kept.substance == "Penicillin"


def test_the_patient_side_sees_signed_notes_only(patient, proxy, clinician, chart):
    for user in (patient, proxy):
        access = access_chart_for_user(user, patient.pk)
        assert list(notes_for_chart(access)) == [chart.note]
        assert chart_get(access).notes == [chart.note]
    assert chart.draft in notes_for_chart(access_chart_for_user(clinician, patient.pk))


@pytest.mark.parametrize("who", ["patient", "proxy"])
def test_a_draft_note_is_a_404_to_the_patient_side_audited_as_denied(request, chart, who):
    user = request.getfixturevalue(who)

    with pytest.raises(Http404):
        access_note_for_user(user, chart.draft.pk)

    denied = events(action="records.note.view", outcome=Outcome.DENIED, actor=user, target_id=str(chart.draft.pk))
    assert denied.get().reason == "draft notes are not shown to the patient's side"
    note, access = access_note_for_user(user, chart.note.pk)
    assert note == chart.note and access.patient_side


def test_a_clinician_opens_a_draft_and_a_signed_note_with_its_amendments(patient, clinician, chart):
    note_amend(chart.note, actor=clinician, reason="Lab result arrived.", text="Potassium 4.1 mmol/L.")

    draft, _ = access_note_for_user(clinician, chart.draft.pk)
    note, _ = access_note_for_user(clinician, chart.note.pk)

    assert draft.status == NoteStatus.DRAFT
    assert [a.text for a in note.amendments.all()] == ["Potassium 4.1 mmol/L."]
    assert events(action="records.note.view", outcome=Outcome.SUCCESS, actor=clinician).count() == 2


def test_a_note_of_another_patient_is_a_404(outsider_doctor, chart):
    stranger = VerifiedPatientFactory()
    for user in (stranger, otp_verified_user(outsider_doctor)):
        with pytest.raises(Http404):
            access_note_for_user(user, chart.note.pk)
    with pytest.raises(Http404):
        access_note_for_user(stranger, "not-a-number")


def test_an_entry_is_reached_only_through_its_own_chart(patient, clinician, chart):
    entry, access = access_entry_for_user(
        clinician, "allergy", chart.allergy.pk, need=Need.CLINICAL, action="records.allergy.update"
    )
    assert entry == chart.allergy and access.patient == patient

    stranger = VerifiedPatientFactory()
    with pytest.raises(Http404):
        access_entry_for_user(stranger, "allergy", chart.allergy.pk, need=Need.READ, action="records.allergy.view")
    for kind, outside_id in (("allergy", 999999), ("allergy", "x"), ("spell", chart.allergy.pk)):
        with pytest.raises(Http404):
            access_entry_for_user(clinician, kind, outside_id, need=Need.READ, action="records.allergy.view")
    assert events(action="records.allergy.view", outcome=Outcome.DENIED).count() == 3


def test_an_entry_the_reader_may_not_change_is_a_403(patient, proxy, chart):
    with pytest.raises(RecordsForbiddenError):
        access_entry_for_user(proxy, "vitals", chart.home_reading.pk, need=Need.VITALS, action="records.vitals.update")
    assert events(action="records.vitals.update", outcome=Outcome.DENIED, actor=proxy).exists()


def test_a_document_is_reached_by_its_public_id_only_through_its_chart(patient, clinician):
    document = DocumentFactory(patient=patient)

    found, access = access_document_for_user(patient, document.public_id)
    assert found == document and access.is_self
    for user, public_id in (
        (VerifiedPatientFactory(), document.public_id),
        (clinician, uuid.uuid4()),
        (clinician, document.pk),
        (clinician, "../../etc/passwd"),
    ):
        with pytest.raises(Http404):
            access_document_for_user(user, public_id)
    assert events(action="records.document.download", outcome=Outcome.DENIED).count() == 4


def fill_chart(patient, doctor, rows: int) -> None:
    for _ in range(rows):
        AllergyFactory(patient=patient, recorded_by=doctor)
        ConditionFactory(patient=patient, recorded_by=doctor)
        MedicationFactory(patient=patient, recorded_by=doctor)
        ImmunizationFactory(patient=patient, recorded_by=doctor)
        VitalSignsFactory(patient=patient, recorded_by=doctor)
        HomeReadingFactory(patient=patient, acknowledged_by=doctor, acknowledged_at=timezone.now())
        NoteAmendmentFactory(note=SignedNoteFactory(patient=patient, author=DoctorFactory()), author=doctor)
        ClinicalNoteFactory(patient=patient, author=doctor)
        DocumentFactory(patient=patient, recorded_by=DoctorFactory())


def test_the_chart_is_read_in_a_fixed_number_of_queries(patient, clinician, django_assert_num_queries):
    other = VerifiedPatientFactory()
    CareRelationshipFactory(patient=other, provider=clinician)
    fill_chart(patient, clinician, rows=1)
    fill_chart(other, clinician, rows=20)
    small = access_chart_for_user(clinician, patient.pk)
    large = access_chart_for_user(clinician, other.pk)

    # One query per section, then the notes' amendments and their authors.
    with django_assert_num_queries(9):
        shown = chart_get(small)
    with django_assert_num_queries(9):
        full = chart_get(large)

    assert len(shown.notes) == 2 and len(full.notes) == 40
    assert len(full.vitals) == 40 and len(full.documents) == 20
    with CaptureQueriesContext(connection) as reading:
        names = [amendment.author.full_name for note in full.notes for amendment in note.amendments.all()]
        names += [note.author.full_name for note in full.notes]
        names += [document.recorded_by.full_name for document in full.documents]
        names += [vitals.acknowledged_by.full_name for vitals in full.vitals if vitals.acknowledged_by]
    assert len(names) == 20 + 40 + 20 + 20
    assert len(reading.captured_queries) == 0


# --- Lists for staff -------------------------------------------------------------------------


def test_a_clinician_lists_only_the_patients_they_care_for(patient, clinician, nurse_verified, doctor):
    VerifiedPatientFactory()

    assert list(chart_patients_for_clinician(clinician)) == [patient]
    assert list(chart_patients_for_clinician(nurse_verified)) == [patient]
    assert list(chart_patients_for_clinician(otp_verified_user(DoctorFactory()))) == []
    assert list(chart_patients_for_clinician(DoctorFactory())) == []
    assert list(chart_patients_for_clinician(patient)) == []


def test_home_readings_awaiting_acknowledgement_are_the_cared_for_patients_unacknowledged_ones(
    patient, clinician, nurse_verified, chart
):
    elsewhere = VerifiedPatientFactory()
    services.vitals_record(actor=elsewhere, patient=elsewhere, measurements={"heart_rate_bpm": 80})
    older = services.vitals_record(
        actor=patient,
        patient=patient,
        measurements={"heart_rate_bpm": 64},
        measured_at=timezone.now() - dt.timedelta(days=2),
    )
    acknowledged = services.vitals_record(actor=patient, patient=patient, measurements={"heart_rate_bpm": 66})
    services.vitals_acknowledge(acknowledged, actor=nurse_verified)
    mistaken = services.vitals_record(actor=patient, patient=patient, measurements={"heart_rate_bpm": 200})
    services.entry_mark_entered_in_error(mistaken, actor=patient, reason="Typo")

    assert list(home_readings_awaiting_acknowledgement(clinician)) == [older, chart.home_reading]
    assert list(home_readings_awaiting_acknowledgement(nurse_verified)) == [older, chart.home_reading]
    assert list(home_readings_awaiting_acknowledgement(otp_verified_user(DoctorFactory()))) == []
    assert list(home_readings_awaiting_acknowledgement(patient)) == []


# --- Who viewed my chart ---------------------------------------------------------------------


def test_the_access_log_shows_what_others_did_and_not_the_patients_own_actions(patient, clinician, nurse_verified):
    access_chart_for_user(patient, patient.pk)
    services.vitals_record(actor=patient, patient=patient, measurements={"heart_rate_bpm": 70})
    access_chart_for_user(clinician, patient.pk, section="summary")
    services.allergy_record(actor=clinician, patient=patient, substance="Latex")
    snooper = otp_verified_user(DoctorFactory(full_name="Dr Sid Snooper"))
    with pytest.raises(Http404):
        access_chart_for_user(snooper, patient.pk)
    emergency = otp_verified_user(NurseFactory(full_name="Erin Emergency"))
    breakglass_open(actor=emergency, patient=patient, reason=EMERGENCY)
    access_chart_for_user(emergency, patient.pk)

    log = list(access_log_for_patient(patient))

    assert patient not in {event.actor for event in log}
    assert {(event.actor, event.action, event.outcome) for event in log} >= {
        (clinician, "records.chart.view", Outcome.SUCCESS),
        (clinician, "records.allergy.create", Outcome.SUCCESS),
        (snooper, "records.chart.view", Outcome.DENIED),
        (emergency, "accounts.breakglass.open", Outcome.SUCCESS),
        (emergency, "records.chart.view", Outcome.SUCCESS),
    }
    newest = log[0]
    assert (newest.actor, newest.action, newest.breakglass) == (emergency, "records.chart.view", True)
    assert EMERGENCY in newest.reason
    assert [event.occurred_at for event in log] == sorted((event.occurred_at for event in log), reverse=True)
    # Reading the log is itself recorded, and is the patient's own action (not in the log).
    assert events(action="records.access_log.view", actor=patient).exists()
    assert describe_access_event(newest) == "Viewed your chart"


def test_a_proxy_reads_only_their_own_access_log_never_the_patients(patient, proxy, clinician):
    access_chart_for_user(clinician, patient.pk)
    access_chart_for_user(proxy, patient.pk)

    # A proxy is a patient too: the log they get is about their own chart.
    assert all(event.patient_id == proxy.pk for event in access_log_for_patient(proxy))
    assert list(access_log_for_patient(proxy)) == []


@pytest.mark.parametrize("who", ["clinician", "nurse_verified", "outsider_patient", "admin"])
def test_the_access_log_is_a_404_to_anyone_but_the_patient(request, patient, who):
    user = request.getfixturevalue(who)
    if who == "admin":
        user = otp_verified_user(user)

    with pytest.raises(Http404):
        access_log_for_patient(user)


def test_the_access_log_is_a_404_for_an_unverified_patient_and_the_anonymous(outsider_patient):
    for user in (outsider_patient, AnonymousUser()):
        with pytest.raises(Http404):
            access_log_for_patient(user)


def test_access_events_are_described_in_plain_words(patient, clinician):
    services.allergy_record(actor=clinician, patient=patient, substance="Latex")
    services.vitals_record(actor=clinician, patient=patient, measurements={"heart_rate_bpm": 70})
    access_chart_for_user(clinician, patient.pk)

    words = {event.action: describe_access_event(event) for event in events(patient=patient)}

    assert words["accounts.patient.access"] == "Opened your chart"
    assert words["records.chart.view"] == "Viewed your chart"
    assert words["records.allergy.create"] == "Added an allergy"
    assert words["records.vitals.create"] == "Added vital signs"
