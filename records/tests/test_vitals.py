"""Vital signs: plausible ranges with clear messages, home readings and their acknowledgement."""

import datetime as dt
import decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.services.access import breakglass_open
from accounts.tests.factories import CareRelationshipFactory, DoctorFactory, NurseFactory, otp_verified_user
from audit.models import AuditEvent, Outcome
from records.errors import RecordsError, RecordsForbiddenError
from records.models import VITAL_RANGES, Source, VitalSigns
from records.services.chart import (
    TEXT_MAX_LENGTH,
    entry_mark_entered_in_error,
    vitals_acknowledge,
    vitals_clean,
    vitals_record,
)

pytestmark = pytest.mark.django_db

DECIMAL_FIELDS = ("temperature_c", "weight_kg", "height_cm")
# Blood pressure comes in pairs: the other number, chosen so only the range is at stake.
COMPANIONS = {"systolic_mmhg": {"diastolic_mmhg": 20}, "diastolic_mmhg": {"systolic_mmhg": 300}}


def succeeded(action, **filters):
    return AuditEvent.objects.filter(action=action, outcome=Outcome.SUCCESS, **filters)


def errors_of(measurements) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as refused:
        vitals_clean(measurements)
    return refused.value.message_dict


# --- Plausible ranges ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "label", "unit", "low", "high"), VITAL_RANGES)
def test_each_measurement_just_inside_its_range_is_accepted(name, label, unit, low, high):
    companion = COMPANIONS.get(name, {})

    for value in (low, high):
        cleaned = vitals_clean({name: str(value), **companion})
        assert cleaned[name] == value


@pytest.mark.parametrize(("name", "label", "unit", "low", "high"), VITAL_RANGES)
def test_each_measurement_just_outside_its_range_is_refused_naming_the_range_and_unit(name, label, unit, low, high):
    step = decimal.Decimal("0.1") if name in DECIMAL_FIELDS else 1
    companion = COMPANIONS.get(name, {})

    for value in (low - step, high + step):
        [message] = errors_of({name: str(value), **companion})[name]
        assert message.startswith(f"{label} must be between {low} and {high} {unit}; {value} is not a possible value.")


def test_the_range_message_reads_naturally():
    assert errors_of({"heart_rate_bpm": 300}) == {
        "heart_rate_bpm": ["Heart rate must be between 20 and 250 beats/min; 300 is not a possible value."]
    }
    assert errors_of({"weight_kg": "0.4"})["weight_kg"] == [
        "Weight must be between 0.5 and 500 kg; 0.4 is not a possible value."
    ]


def test_a_temperature_in_fahrenheit_gets_a_hint():
    [message] = errors_of({"temperature_c": "98.6"})["temperature_c"]
    assert message == (
        "Temperature must be between 30 and 45 °C; 98.6 is not a possible value. That looks like °F; enter °C."
    )
    [message] = errors_of({"temperature_c": "46"})["temperature_c"]
    assert "°F" not in message


def test_a_weight_in_pounds_gets_a_hint():
    [message] = errors_of({"weight_kg": "612"})["weight_kg"]
    assert message.endswith(" Is that in pounds? Enter kilograms.")


def test_a_height_in_metres_gets_a_hint():
    [message] = errors_of({"height_cm": "1.75"})["height_cm"]
    assert message.endswith(" Is that in metres or feet? Enter centimetres.")


def test_decimals_are_kept_to_one_place_and_a_decimal_comma_is_understood():
    cleaned = vitals_clean({"temperature_c": "37,2", "weight_kg": 81.25, "height_cm": " 172 "})

    assert cleaned == {
        "temperature_c": decimal.Decimal("37.2"),
        "weight_kg": decimal.Decimal("81.2"),
        "height_cm": decimal.Decimal("172.0"),
    }


def test_counts_must_be_whole_numbers():
    assert errors_of({"heart_rate_bpm": "72.5"}) == {"heart_rate_bpm": ["Heart rate must be a whole number."]}
    assert vitals_clean({"heart_rate_bpm": "72.0", "spo2_pct": 97}) == {"heart_rate_bpm": 72, "spo2_pct": 97}


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", "-inf", "12 kg", "1e", object()])
def test_something_that_is_not_a_number_is_refused(value):
    assert errors_of({"weight_kg": value}) == {"weight_kg": ["Weight must be a number."]}


def test_every_problem_is_reported_at_once():
    errors = errors_of({"heart_rate_bpm": "fast", "spo2_pct": 101, "temperature_c": "37"})

    assert set(errors) == {"heart_rate_bpm", "spo2_pct"}


def test_blood_pressure_needs_both_numbers():
    assert errors_of({"systolic_mmhg": 120}) == {"diastolic_mmhg": ["Enter both blood pressure numbers."]}
    assert errors_of({"diastolic_mmhg": 80, "heart_rate_bpm": 70}) == {
        "systolic_mmhg": ["Enter both blood pressure numbers."]
    }


def test_the_systolic_number_must_be_above_the_diastolic():
    for systolic, diastolic in ((80, 120), (90, 90)):
        assert errors_of({"systolic_mmhg": systolic, "diastolic_mmhg": diastolic}) == {
            "systolic_mmhg": ["The systolic (upper) number must be higher than the diastolic (lower) one."]
        }
    assert vitals_clean({"systolic_mmhg": 91, "diastolic_mmhg": 90}) == {"systolic_mmhg": 91, "diastolic_mmhg": 90}


@pytest.mark.parametrize("measurements", [{}, {"heart_rate_bpm": ""}, {"weight_kg": None, "height_cm": "  "}])
def test_an_empty_set_is_refused(measurements):
    assert errors_of(measurements) == {"__all__": ["Enter at least one measurement."]}


# --- Recording -------------------------------------------------------------------------------


def test_a_patients_home_reading_is_patient_reported_and_awaits_acknowledgement(patient):
    reading = vitals_record(
        actor=patient,
        patient=patient,
        measurements={"systolic_mmhg": "138", "diastolic_mmhg": "88", "heart_rate_bpm": "71"},
        note="After my morning walk",
    )

    stored = VitalSigns.objects.get(pk=reading.pk)
    assert (stored.source, stored.recorded_by) == (Source.PATIENT, patient)
    assert (stored.systolic_mmhg, stored.diastolic_mmhg, stored.heart_rate_bpm) == (138, 88, 71)
    assert stored.note == "After my morning walk"
    assert stored.needs_acknowledgement
    event = succeeded("records.vitals.create", actor=patient, patient=patient).get()
    assert event.reason == "diastolic_mmhg, heart_rate_bpm, systolic_mmhg; via self"


@pytest.mark.parametrize("who", ["clinician", "nurse_verified"])
def test_a_clinicians_reading_needs_no_acknowledgement(request, patient, who):
    user = request.getfixturevalue(who)

    reading = vitals_record(actor=user, patient=patient, measurements={"spo2_pct": 97, "respiratory_rate": 14})

    stored = VitalSigns.objects.get(pk=reading.pk)
    assert stored.source == Source.CLINICIAN and not stored.needs_acknowledgement
    assert succeeded("records.vitals.create", actor=user).exists()


def test_bmi_comes_from_the_weight_and_height_of_the_same_set(patient, clinician):
    reading = vitals_record(actor=clinician, patient=patient, measurements={"weight_kg": "70", "height_cm": "175"})

    assert VitalSigns.objects.get(pk=reading.pk).bmi == decimal.Decimal("22.9")


def test_a_measurement_in_the_future_is_refused(patient):
    with pytest.raises(ValidationError) as refused:
        vitals_record(
            actor=patient,
            patient=patient,
            measurements={"heart_rate_bpm": 70},
            measured_at=timezone.now() + dt.timedelta(hours=1),
        )

    assert refused.value.message_dict == {"measured_at": ["A measurement cannot be taken in the future."]}
    assert not VitalSigns.objects.exists()
    assert not succeeded("records.vitals.create").exists()


def test_a_measurement_a_moment_ahead_of_the_server_clock_is_accepted(patient):
    # A phone's clock a minute fast is not a future measurement.
    reading = vitals_record(
        actor=patient,
        patient=patient,
        measurements={"heart_rate_bpm": 70},
        measured_at=timezone.now() + dt.timedelta(minutes=1),
    )
    assert reading.pk


def test_a_measurement_from_last_month_keeps_its_time(patient):
    when = timezone.now() - dt.timedelta(days=30)

    reading = vitals_record(actor=patient, patient=patient, measurements={"weight_kg": 80}, measured_at=when)

    assert VitalSigns.objects.get(pk=reading.pk).measured_at == when


def test_a_refused_set_writes_nothing(patient):
    with pytest.raises(ValidationError):
        vitals_record(actor=patient, patient=patient, measurements={"systolic_mmhg": 400, "diastolic_mmhg": 80})
    with pytest.raises(ValidationError):
        vitals_record(actor=patient, patient=patient, measurements={"heart_rate_bpm": 70}, note="x" * 2001)

    assert not VitalSigns.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_note_up_to_the_limit_is_kept(patient):
    reading = vitals_record(
        actor=patient, patient=patient, measurements={"heart_rate_bpm": 70}, note="x" * TEXT_MAX_LENGTH
    )
    assert len(VitalSigns.objects.get(pk=reading.pk).note) == TEXT_MAX_LENGTH


@pytest.mark.parametrize("who", ["proxy", "outsider_doctor", "outsider_patient", "admin", "doctor"])
def test_only_the_patient_and_their_verified_clinicians_record_vitals(request, patient, who):
    user = request.getfixturevalue(who)
    if who in ("outsider_doctor", "admin"):
        user = otp_verified_user(user)

    with pytest.raises(RecordsForbiddenError):
        vitals_record(actor=user, patient=patient, measurements={"heart_rate_bpm": 70})

    assert not VitalSigns.objects.exists()
    assert AuditEvent.objects.filter(action="records.vitals.create", outcome=Outcome.DENIED, patient=patient).exists()


def test_a_nurse_with_breakglass_records_vitals_flagged(patient):
    nurse = otp_verified_user(NurseFactory())
    breakglass_open(actor=nurse, patient=patient, reason="Collapsed at the pharmacy counter")

    vitals_record(actor=nurse, patient=patient, measurements={"heart_rate_bpm": 120, "spo2_pct": 91})

    event = succeeded("records.vitals.create", actor=nurse).get()
    assert event.breakglass and "Collapsed at the pharmacy counter" in event.reason


# --- Acknowledgement -------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["clinician", "nurse_verified"])
def test_a_clinician_acknowledges_a_home_reading(request, chart, who):
    user = request.getfixturevalue(who)

    vitals_acknowledge(chart.home_reading, actor=user)

    stored = VitalSigns.objects.get(pk=chart.home_reading.pk)
    assert stored.acknowledged_by == user and stored.acknowledged_at is not None
    assert not stored.needs_acknowledgement
    event = succeeded("records.vitals.acknowledge", actor=user).get()
    assert event.target_id == str(chart.home_reading.pk)


def test_a_reading_is_acknowledged_once(chart, clinician, nurse_verified):
    vitals_acknowledge(chart.home_reading, actor=nurse_verified)

    with pytest.raises(RecordsError) as refused:
        vitals_acknowledge(chart.home_reading, actor=clinician)

    assert (refused.value.status_code, refused.value.code) == (409, "already_acknowledged")
    assert VitalSigns.objects.get(pk=chart.home_reading.pk).acknowledged_by == nurse_verified
    assert succeeded("records.vitals.acknowledge").count() == 1


def test_a_clinicians_own_reading_is_not_acknowledged(chart, clinician):
    with pytest.raises(RecordsError) as refused:
        vitals_acknowledge(chart.clinic_vitals, actor=clinician)

    assert refused.value.code == "not_patient_reported"
    assert VitalSigns.objects.get(pk=chart.clinic_vitals.pk).acknowledged_at is None


@pytest.mark.parametrize("who", ["patient", "proxy", "outsider_doctor"])
def test_the_patient_side_and_outsiders_do_not_acknowledge(request, chart, who):
    user = request.getfixturevalue(who)
    if who == "outsider_doctor":
        user = otp_verified_user(user)

    with pytest.raises(RecordsForbiddenError):
        vitals_acknowledge(chart.home_reading, actor=user)

    assert VitalSigns.objects.get(pk=chart.home_reading.pk).needs_acknowledgement
    assert AuditEvent.objects.filter(action="records.vitals.acknowledge", outcome=Outcome.DENIED, actor=user).exists()


# --- Corrections -----------------------------------------------------------------------------


def test_a_patient_retracts_their_own_home_reading_but_not_a_clinicians(patient, chart):
    entry_mark_entered_in_error(chart.home_reading, actor=patient, reason="Cuff was on over my sleeve.")

    assert VitalSigns.objects.get(pk=chart.home_reading.pk).entered_in_error
    assert not VitalSigns.objects.get(pk=chart.home_reading.pk).needs_acknowledgement
    with pytest.raises(RecordsForbiddenError):
        entry_mark_entered_in_error(chart.clinic_vitals, actor=patient, reason="I disagree.")
    assert not VitalSigns.objects.get(pk=chart.clinic_vitals.pk).entered_in_error
    assert succeeded("records.vitals.entered_in_error").get().target_id == str(chart.home_reading.pk)
    refusal = AuditEvent.objects.get(action="records.vitals.entered_in_error", outcome=Outcome.DENIED)
    assert (refusal.actor, refusal.target_id) == (patient, str(chart.clinic_vitals.pk))


def test_a_clinician_retracts_any_reading(chart, nurse_verified):
    entry_mark_entered_in_error(chart.clinic_vitals, actor=nurse_verified, reason="Wrong patient's cuff.")

    assert VitalSigns.objects.get(pk=chart.clinic_vitals.pk).entered_in_error


# --- Races -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_clinicians_acknowledging_at_once_record_one_acknowledgement(patient, run_together):
    clinicians = [otp_verified_user(DoctorFactory()), otp_verified_user(NurseFactory())]
    for user in clinicians:
        CareRelationshipFactory(patient=patient, provider=user)
    reading = vitals_record(actor=patient, patient=patient, measurements={"systolic_mmhg": 150, "diastolic_mmhg": 95})

    results = run_together([lambda user=user: vitals_acknowledge(reading, actor=user) for user in clinicians])

    winners = [result for result in results if isinstance(result, VitalSigns)]
    losers = [result for result in results if not isinstance(result, VitalSigns)]
    assert len(winners) == 1, results
    assert len(losers) == 1 and isinstance(losers[0], RecordsError) and losers[0].status_code == 409, losers
    stored = VitalSigns.objects.get(pk=reading.pk)
    assert stored.acknowledged_by_id == winners[0].acknowledged_by_id
    assert succeeded("records.vitals.acknowledge").count() == 1
