"""Vital signs: the trend (newest first, BMI, units in names), home readings by the patient,
measurements by clinicians, plausible ranges, acknowledgement, corrections."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from records.models import VitalSigns
from records.tests.api.conftest import assert_error, denied
from records.tests.factories import HomeReadingFactory, VitalSignsFactory

pytestmark = pytest.mark.django_db


def url(patient) -> str:
    return f"/api/v1/patients/{patient.pk}/vitals/"


def vitals_url(vitals, action: str) -> str:
    return f"/api/v1/records/vitals/{vitals.pk}/{action}/"


class TestTrend:
    def test_the_patient_reads_their_vitals_newest_first_with_bmi_and_units(self, signed_in, patient, chart):
        body = signed_in(patient).get(url(patient)).json()

        assert [item["id"] for item in body["results"]] == [chart.home_reading.pk, chart.clinic_vitals.pk]
        clinic = body["results"][1]
        assert (clinic["weight_kg"], clinic["height_cm"], clinic["bmi"], clinic["heart_rate_bpm"]) == (
            70.0,
            175.0,
            22.9,
            68,
        )
        home = body["results"][0]
        assert (home["systolic_mmhg"], home["diastolic_mmhg"], home["bmi"]) == (142, 91, None)
        assert (home["source"], home["needs_acknowledgement"]) == ("patient", True)

    def test_since_keeps_the_sets_measured_from_then_on(self, signed_in, patient, chart):
        since = (timezone.now() - dt.timedelta(hours=2)).isoformat()

        body = signed_in(patient).get(url(patient), {"since": since}).json()

        assert [item["id"] for item in body["results"]] == [chart.home_reading.pk]

    @pytest.mark.parametrize("since", ["2026-11-23T09:00:00", "last week"])
    def test_since_must_be_an_instant_with_its_offset(self, signed_in, patient, since):
        response = signed_in(patient).get(url(patient), {"since": since})

        assert list(assert_error(response, 400, "invalid")["fields"]) == ["since"]

    def test_sets_marked_entered_in_error_are_left_out(self, signed_in, patient):
        VitalSignsFactory(patient=patient, entered_in_error=True)

        assert signed_in(patient).get(url(patient)).json()["count"] == 0

    def test_an_outsider_doctor_gets_not_found_and_is_audited(self, signed_in, outsider_doctor, patient, chart):
        assert_error(signed_in(outsider_doctor).get(url(patient)), 404, "not_found")
        assert len(denied(outsider_doctor, patient=patient)) == 1


class TestRecord:
    def test_the_patient_records_a_home_reading_that_waits_for_acknowledgement(self, signed_in, patient):
        measured = (timezone.now() - dt.timedelta(minutes=30)).isoformat()

        response = signed_in(patient).post(
            url(patient),
            {
                "systolic_mmhg": 131,
                "diastolic_mmhg": "84",
                "temperature_c": "36,8",
                "measured_at": measured,
                "note": "Morning",
            },
        )

        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["systolic_mmhg"], body["diastolic_mmhg"], body["temperature_c"]) == (131, 84, 36.8)
        assert (body["source"], body["needs_acknowledgement"], body["note"]) == ("patient", True, "Morning")
        assert AuditEvent.objects.get(action="records.vitals.create").actor == patient

    @pytest.mark.parametrize("persona", ["doctor", "nurse"])
    def test_a_clinician_records_measurements(self, request, signed_in, patient, persona):
        user = request.getfixturevalue(persona)

        response = signed_in(user).post(url(patient), {"weight_kg": 82.5, "height_cm": 180, "spo2_pct": 97})

        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["source"], body["needs_acknowledgement"], body["bmi"]) == ("clinician", False, 25.5)
        assert body["recorded_by"]["id"] == user.pk

    def test_a_proxy_reads_vitals_but_does_not_record_them(self, signed_in, proxy, patient):
        client = signed_in(proxy)

        assert client.get(url(patient)).status_code == 200
        assert_error(client.post(url(patient), {"heart_rate_bpm": 70}), 403, "records_forbidden")
        assert not VitalSigns.objects.exists()
        assert len(denied(proxy, action="records.vitals.create")) == 1

    def test_an_outsider_doctor_gets_not_found_whatever_the_body(self, signed_in, outsider_doctor, patient):
        assert_error(signed_in(outsider_doctor).post(url(patient), {"heart_rate_bpm": 70}), 404, "not_found")
        assert_error(signed_in(outsider_doctor).post(url(patient), {"heart_rate_bpm": 7000}), 404, "not_found")

    def test_an_impossible_value_is_refused_with_its_plausible_range(self, signed_in, patient):
        response = signed_in(patient).post(url(patient), {"temperature_c": 98.6, "heart_rate_bpm": 400})

        fields = assert_error(response, 400, "invalid")["fields"]
        assert set(fields) == {"temperature_c", "heart_rate_bpm"}
        [temperature] = fields["temperature_c"]
        assert "between 30 and 45 °C" in temperature
        assert "°F" in temperature
        assert "between 20 and 250 beats/min" in fields["heart_rate_bpm"][0]
        assert not VitalSigns.objects.exists()

    def test_blood_pressure_needs_both_numbers(self, signed_in, patient):
        response = signed_in(patient).post(url(patient), {"systolic_mmhg": 120})

        assert assert_error(response, 400, "invalid")["fields"] == {
            "diastolic_mmhg": ["Enter both blood pressure numbers."]
        }

    def test_a_measurement_must_be_a_number(self, signed_in, patient):
        response = signed_in(patient).post(url(patient), {"heart_rate_bpm": True, "spo2_pct": "high"})

        fields = assert_error(response, 400, "invalid")["fields"]
        assert fields["heart_rate_bpm"] == ["Send a number."]

    def test_an_empty_set_is_refused(self, signed_in, patient):
        response = signed_in(patient).post(url(patient), {"note": "Felt fine"})

        fields = assert_error(response, 400, "invalid")["fields"]
        assert ["Enter at least one measurement."] in fields.values()

    def test_a_measurement_in_the_future_is_refused(self, signed_in, patient):
        tomorrow = (timezone.now() + dt.timedelta(days=1)).isoformat()

        response = signed_in(patient).post(url(patient), {"heart_rate_bpm": 70, "measured_at": tomorrow})

        assert list(assert_error(response, 400, "invalid")["fields"]) == ["measured_at"]


class TestAcknowledge:
    @pytest.mark.parametrize("persona", ["doctor", "nurse"])
    def test_a_clinician_acknowledges_a_home_reading_once(self, request, signed_in, chart, persona):
        user = request.getfixturevalue(persona)
        client = signed_in(user)

        response = client.post(vitals_url(chart.home_reading, "acknowledge"))

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["acknowledged_by"]["id"], body["needs_acknowledgement"]) == (user.pk, False)
        assert_error(client.post(vitals_url(chart.home_reading, "acknowledge")), 409, "already_acknowledged")

    def test_a_clinicians_own_measurement_is_not_acknowledged(self, signed_in, nurse, chart):
        response = signed_in(nurse).post(vitals_url(chart.clinic_vitals, "acknowledge"))

        assert_error(response, 400, "not_patient_reported")

    @pytest.mark.parametrize("persona", ["patient", "proxy"])
    def test_the_patients_side_does_not_acknowledge(self, request, signed_in, chart, persona):
        response = signed_in(request.getfixturevalue(persona)).post(vitals_url(chart.home_reading, "acknowledge"))

        assert_error(response, 403, "records_forbidden")

    @pytest.mark.parametrize("persona", ["outsider_doctor", "admin"])
    def test_outsiders_get_not_found_and_are_audited(self, request, signed_in, chart, persona):
        user = request.getfixturevalue(persona)

        assert_error(signed_in(user).post(vitals_url(chart.home_reading, "acknowledge")), 404, "not_found")
        assert [event.action for event in denied(user)] == ["records.vitals.acknowledge"]

    def test_an_unknown_reading_is_not_found(self, signed_in, nurse):
        assert_error(signed_in(nurse).post("/api/v1/records/vitals/999999/acknowledge/"), 404, "not_found")


class TestEnteredInError:
    def test_the_patient_withdraws_their_own_home_reading(self, signed_in, patient, chart):
        response = signed_in(patient).post(
            vitals_url(chart.home_reading, "entered-in-error"), {"reason": "Cuff slipped"}
        )

        assert response.status_code == 200, response.content
        assert response.json()["entered_in_error"] is True
        assert signed_in(patient).get(url(patient)).json()["count"] == 1

    def test_the_patient_does_not_withdraw_a_clinicians_measurement(self, signed_in, patient, chart):
        response = signed_in(patient).post(vitals_url(chart.clinic_vitals, "entered-in-error"), {"reason": "Wrong"})

        assert_error(response, 403, "records_forbidden")

    def test_a_nurse_corrects_a_reading(self, signed_in, nurse, patient):
        reading = HomeReadingFactory(patient=patient)

        response = signed_in(nurse).post(vitals_url(reading, "entered-in-error"), {"reason": "Duplicate entry"})

        assert response.status_code == 200

    def test_a_proxy_does_not(self, signed_in, proxy, chart):
        response = signed_in(proxy).post(vitals_url(chart.home_reading, "entered-in-error"), {"reason": "Wrong"})

        assert_error(response, 403, "records_forbidden")

    def test_a_reason_is_required(self, signed_in, patient, chart):
        response = signed_in(patient).post(vitals_url(chart.home_reading, "entered-in-error"), {})

        assert list(assert_error(response, 400, "invalid")["fields"]) == ["reason"]
