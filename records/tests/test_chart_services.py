"""Allergies, problems, medications and immunizations: recorded, changed, marked in error, audited."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.services.access import breakglass_open
from accounts.tests.factories import CareRelationshipFactory, DoctorFactory, otp_verified_user
from audit.models import AuditEvent, Outcome
from records.errors import RecordsError, RecordsForbiddenError
from records.models import (
    Allergy,
    AllergyStatus,
    Condition,
    ConditionStatus,
    Immunization,
    ImmunizationStatus,
    Medication,
    MedicationStatus,
    Source,
)
from records.selectors import access_chart_for_user, chart_get
from records.services.chart import (
    TEXT_MAX_LENGTH,
    allergy_record,
    condition_record,
    entry_mark_entered_in_error,
    entry_update,
    immunization_record,
    medication_record,
)

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


def succeeded(action, **filters):
    return AuditEvent.objects.filter(action=action, outcome=Outcome.SUCCESS, **filters)


def denied(action, **filters):
    return AuditEvent.objects.filter(action=action, outcome=Outcome.DENIED, **filters)


# One way to record each kind of entry, and a change that makes sense for it.
KINDS = {
    "allergy": (
        lambda actor, patient: allergy_record(
            actor=actor, patient=patient, substance=" Penicillin ", reaction="Hives", severity="moderate"
        ),
        {"reaction": "Hives and swollen lips", "severity": "severe"},
    ),
    "condition": (
        lambda actor, patient: condition_record(
            actor=actor, patient=patient, description="Essential hypertension", code=" i10 "
        ),
        {"status": ConditionStatus.RESOLVED},
    ),
    "medication": (
        lambda actor, patient: medication_record(
            actor=actor, patient=patient, name="Lisinopril", dose="10 mg", frequency="Once daily"
        ),
        {"dose": "20 mg"},
    ),
    "immunization": (
        lambda actor, patient: immunization_record(
            actor=actor, patient=patient, vaccine="Tetanus", administered_on=timezone.localdate(), dose_number=2
        ),
        {"lot_number": "TD-4471"},
    ),
}
MODELS = {"allergy": Allergy, "condition": Condition, "medication": Medication, "immunization": Immunization}


@pytest.mark.parametrize("kind", KINDS)
def test_a_doctor_caring_for_the_patient_records_an_entry_audited(patient, clinician, kind):
    record, _change = KINDS[kind]

    entry = record(clinician, patient)

    stored = MODELS[kind].objects.get(pk=entry.pk)
    assert (stored.patient, stored.recorded_by, stored.source) == (patient, clinician, Source.CLINICIAN)
    event = succeeded(f"records.{kind}.create", actor=clinician, patient=patient).get()
    assert (event.target_type, event.target_id) == (f"records.{kind}", str(entry.pk))
    assert event.reason == "via care" and not event.breakglass


def test_entries_are_stored_cleaned(patient, clinician):
    allergy = allergy_record(actor=clinician, patient=patient, substance="  Penicillin\n", reaction=" Hives ")
    condition = condition_record(actor=clinician, patient=patient, description="Asthma", code=" j45.909 ")

    assert (Allergy.objects.get(pk=allergy.pk).substance, Allergy.objects.get(pk=allergy.pk).reaction) == (
        "Penicillin",
        "Hives",
    )
    assert Condition.objects.get(pk=condition.pk).code == "J45.909"


@pytest.mark.parametrize("kind", KINDS)
def test_a_doctor_changes_an_entry_and_the_audit_names_what_changed(patient, clinician, kind):
    record, change = KINDS[kind]
    entry = record(clinician, patient)

    updated = entry_update(entry, actor=clinician, **change)

    stored = MODELS[kind].objects.get(pk=entry.pk)
    assert all(getattr(stored, name) == value for name, value in change.items())
    assert updated.pk == entry.pk
    event = succeeded(f"records.{kind}.update", actor=clinician, target_id=str(entry.pk)).get()
    assert event.reason == f"changed {', '.join(sorted(change))}; via care"


def test_an_update_that_changes_nothing_says_so(patient, clinician, chart):
    entry_update(chart.allergy, actor=clinician, severity="moderate")

    assert succeeded("records.allergy.update").get().reason == "changed nothing; via care"


def test_an_update_keeps_fields_someone_else_changed_in_the_meantime(patient, clinician, chart):
    stale = Allergy.objects.get(pk=chart.allergy.pk)
    entry_update(chart.allergy, actor=clinician, reaction="Hives and wheezing")

    entry_update(stale, actor=clinician, severity="severe")

    stored = Allergy.objects.get(pk=chart.allergy.pk)
    assert (stored.reaction, stored.severity) == ("Hives and wheezing", "severe")


def test_an_update_of_a_field_that_is_not_editable_is_a_programming_error(clinician, chart):
    with pytest.raises(TypeError):
        entry_update(chart.allergy, actor=clinician, patient=chart.patient)
    with pytest.raises(TypeError):
        entry_update(chart.immunization, actor=clinician, status=ImmunizationStatus.ENTERED_IN_ERROR)


def test_an_update_does_not_retract_an_entry_without_a_reason(clinician, chart):
    with pytest.raises(TypeError):
        entry_update(chart.allergy, actor=clinician, status=AllergyStatus.ENTERED_IN_ERROR)

    assert Allergy.objects.get(pk=chart.allergy.pk).status == AllergyStatus.ACTIVE


def test_an_update_is_cleaned_like_a_new_entry(clinician, chart):
    entry_update(chart.allergy, actor=clinician, reaction="  Hives  ")
    entry_update(chart.condition, actor=clinician, code=" i10 ")

    assert Allergy.objects.get(pk=chart.allergy.pk).reaction == "Hives"
    assert Condition.objects.get(pk=chart.condition.pk).code == "I10"
    with pytest.raises(ValidationError) as refused:
        entry_update(chart.immunization, actor=clinician, administered_on=timezone.localdate() + dt.timedelta(days=1))
    assert "administered_on" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        entry_update(chart.allergy, actor=clinician, substance=" ")
    assert "substance" in refused.value.message_dict
    assert Allergy.objects.get(pk=chart.allergy.pk).substance == "Penicillin"


@pytest.mark.parametrize("kind", KINDS)
def test_an_entry_marked_in_error_is_kept_hidden_from_the_chart_and_audited(patient, clinician, kind):
    record, _change = KINDS[kind]
    entry = record(clinician, patient)

    entry_mark_entered_in_error(entry, actor=clinician, reason=" Recorded on the wrong chart. ")

    stored = MODELS[kind].objects.get(pk=entry.pk)
    assert stored.status == "entered_in_error"
    shown = chart_get(access_chart_for_user(clinician, patient.pk))
    assert getattr(shown, {"allergy": "allergies"}.get(kind, f"{kind}s")) == []
    event = succeeded(f"records.{kind}.entered_in_error", actor=clinician, target_id=str(entry.pk)).get()
    assert event.reason == "Recorded on the wrong chart.; via care"


def test_marking_in_error_needs_a_reason(clinician, chart):
    with pytest.raises(ValidationError) as refused:
        entry_mark_entered_in_error(chart.medication, actor=clinician, reason="   ")

    assert "reason" in refused.value.message_dict
    assert Medication.objects.get(pk=chart.medication.pk).status == MedicationStatus.ACTIVE
    assert not succeeded("records.medication.entered_in_error").exists()


def test_an_entry_marked_in_error_cannot_change_any_more(clinician, chart):
    entry_mark_entered_in_error(chart.allergy, actor=clinician, reason="Wrong patient.")

    with pytest.raises(RecordsError) as refused:
        entry_update(chart.allergy, actor=clinician, status=AllergyStatus.ACTIVE)

    assert refused.value.status_code == 400
    assert Allergy.objects.get(pk=chart.allergy.pk).status == AllergyStatus.ENTERED_IN_ERROR
    assert not succeeded("records.allergy.update").exists()


def test_a_medication_cannot_stop_before_it_started(patient, clinician, chart):
    today = timezone.localdate()

    with pytest.raises(ValidationError) as refused:
        medication_record(
            actor=clinician,
            patient=patient,
            name="Amoxicillin",
            started_on=today,
            stopped_on=today - dt.timedelta(days=1),
        )
    assert refused.value.message_dict == {"stopped_on": ["The stop date must be on or after the start date."]}
    with pytest.raises(ValidationError):
        entry_update(chart.medication, actor=clinician, started_on=today, stopped_on=today - dt.timedelta(days=3))

    assert list(Medication.objects.values_list("pk", flat=True)) == [chart.medication.pk]
    assert Medication.objects.get(pk=chart.medication.pk).started_on is None
    assert not succeeded("records.medication.update").exists()
    assert succeeded("records.medication.create").count() == 1


def test_a_medication_stopped_the_day_it_started_is_fine(patient, clinician):
    today = timezone.localdate()
    medication = medication_record(
        actor=clinician, patient=patient, name="Ibuprofen", started_on=today, stopped_on=today, status="completed"
    )
    assert medication.status == MedicationStatus.COMPLETED


def test_an_immunization_cannot_be_given_in_the_future(patient, clinician):
    with pytest.raises(ValidationError) as refused:
        immunization_record(
            actor=clinician,
            patient=patient,
            vaccine="Influenza",
            administered_on=timezone.localdate() + dt.timedelta(1),
        )

    assert refused.value.message_dict == {"administered_on": ["An immunization cannot be given in the future."]}
    assert not Immunization.objects.exists()
    assert not succeeded("records.immunization.create").exists()


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (lambda a, p, text: allergy_record(actor=a, patient=p, substance=text), "substance"),
        (lambda a, p, text: allergy_record(actor=a, patient=p, substance="Latex", reaction=text), "reaction"),
        (lambda a, p, text: condition_record(actor=a, patient=p, description=text), "description"),
        (lambda a, p, text: medication_record(actor=a, patient=p, name="Metformin", frequency=text), "frequency"),
        (
            lambda a, p, text: immunization_record(
                actor=a, patient=p, vaccine="Influenza", administered_on=timezone.localdate(), notes=text
            ),
            "notes",
        ),
    ],
)
def test_text_longer_than_the_limit_is_refused_and_nothing_is_written(patient, clinician, record, field):
    with pytest.raises(ValidationError) as refused:
        record(clinician, patient, "x" * (TEXT_MAX_LENGTH + 1))

    assert refused.value.message_dict == {field: [f"At most {TEXT_MAX_LENGTH} characters."]}
    assert not any(model.objects.exists() for model in MODELS.values())
    assert not AuditEvent.objects.filter(outcome=Outcome.SUCCESS).exists()
    record(clinician, patient, "x" * TEXT_MAX_LENGTH)


def test_an_unknown_choice_is_refused_and_nothing_is_written(patient, clinician):
    with pytest.raises(ValidationError) as refused:
        allergy_record(actor=clinician, patient=patient, substance="Latex", severity="catastrophic")
    with pytest.raises(ValidationError):
        medication_record(actor=clinician, patient=patient, name="Metformin", route="by-osmosis")

    assert "severity" in refused.value.message_dict
    assert not Allergy.objects.exists() and not Medication.objects.exists()
    assert not AuditEvent.objects.exists()


def test_an_empty_substance_is_refused(patient, clinician):
    with pytest.raises(ValidationError) as refused:
        allergy_record(actor=clinician, patient=patient, substance="   ")
    assert "substance" in refused.value.message_dict


@pytest.mark.parametrize("who", ["patient", "proxy", "nurse_verified", "outsider_doctor", "admin", "doctor"])
def test_only_a_verified_doctor_caring_for_the_patient_records_an_entry(request, patient, who):
    user = request.getfixturevalue(who)
    if who in ("outsider_doctor", "admin"):
        user = otp_verified_user(user)  # verified, yet no standing on this chart
    # "doctor" here is the patient's own doctor without an OTP-verified login.

    with pytest.raises(RecordsForbiddenError) as refused:
        allergy_record(actor=user, patient=patient, substance="Peanuts")

    assert refused.value.status_code == 403
    assert not Allergy.objects.exists()
    assert denied("records.allergy.create", patient=patient).get().actor == user
    assert not succeeded("records.allergy.create").exists()


@pytest.mark.parametrize("who", ["patient", "proxy", "nurse_verified"])
def test_a_reader_of_the_chart_cannot_change_or_retract_an_entry(request, chart, who):
    user = request.getfixturevalue(who)

    with pytest.raises(RecordsForbiddenError):
        entry_update(chart.allergy, actor=user, severity="mild")
    with pytest.raises(RecordsForbiddenError):
        entry_mark_entered_in_error(chart.condition, actor=user, reason="I never had this.")

    assert Allergy.objects.get(pk=chart.allergy.pk).severity == "moderate"
    assert Condition.objects.get(pk=chart.condition.pk).status == ConditionStatus.ACTIVE
    assert denied("records.allergy.update", actor=user, target_id=str(chart.allergy.pk)).exists()
    assert denied("records.condition.entered_in_error", actor=user).exists()
    assert not succeeded("records.allergy.update").exists()


def test_a_doctor_with_breakglass_records_an_entry_flagged_with_the_reason(patient):
    emergency = otp_verified_user(DoctorFactory())
    breakglass_open(actor=emergency, patient=patient, reason="Anaphylaxis in the waiting room")

    allergy_record(actor=emergency, patient=patient, substance="Wasp venom", severity="severe")

    event = succeeded("records.allergy.create", actor=emergency).get()
    assert event.breakglass
    assert event.reason == "break-glass: Anaphylaxis in the waiting room"


def test_another_doctor_caring_for_the_patient_may_change_an_entry(patient, chart):
    colleague = otp_verified_user(DoctorFactory())
    CareRelationshipFactory(patient=patient, provider=colleague)

    entry_update(chart.medication, actor=colleague, dose="20 mg")

    assert Medication.objects.get(pk=chart.medication.pk).dose == "20 mg"
    assert Medication.objects.get(pk=chart.medication.pk).recorded_by != colleague


def test_dates_default_to_unknown_and_keep_what_is_given(patient, clinician):
    allergy = allergy_record(actor=clinician, patient=patient, substance="Latex")
    noted = allergy_record(actor=clinician, patient=patient, substance="Peanuts", noted_on=TODAY())

    assert Allergy.objects.get(pk=allergy.pk).noted_on is None
    assert Allergy.objects.get(pk=noted.pk).noted_on == TODAY()
    assert Allergy.objects.get(pk=allergy.pk).severity == "unknown"
