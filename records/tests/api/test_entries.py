"""One structured entry: read it, change it, mark it entered in error."""

from __future__ import annotations

import pytest

from accounts.services.access import breakglass_open
from accounts.tests.factories import otp_verified_user
from audit.models import AuditEvent
from records.models import AllergyStatus
from records.services import chart as services
from records.tests.api.conftest import assert_error, denied

pytestmark = pytest.mark.django_db


def url(kind: str, entry, suffix: str = "") -> str:
    return f"/api/v1/records/{kind}/{entry.pk}/{suffix}"


ENTRIES = {
    "allergies": "allergy",
    "conditions": "condition",
    "medications": "medication",
    "immunizations": "immunization",
}


@pytest.mark.parametrize("kind", ENTRIES)
@pytest.mark.parametrize("persona", ["patient", "proxy", "doctor", "nurse"])
def test_the_patient_their_proxy_and_their_clinicians_read_an_entry(request, signed_in, chart, kind, persona):
    entry = getattr(chart, ENTRIES[kind])

    response = signed_in(request.getfixturevalue(persona)).get(url(kind, entry))

    assert response.status_code == 200
    assert response.json()["id"] == entry.pk


@pytest.mark.parametrize("persona", ["outsider_doctor", "admin"])
def test_outsiders_get_not_found_on_an_entry_and_are_audited(request, signed_in, chart, persona):
    user = request.getfixturevalue(persona)

    assert_error(signed_in(user).get(url("allergies", chart.allergy)), 404, "not_found")
    assert len(denied(user, patient=chart.patient)) == 1


def test_another_patient_gets_not_found_on_an_entry(signed_in, chart, outsider_patient):
    assert_error(signed_in(outsider_patient).get(url("allergies", chart.allergy)), 404, "not_found")


def test_an_unknown_entry_is_not_found_and_audited(signed_in, doctor, chart):
    assert_error(signed_in(doctor).get("/api/v1/records/allergies/999999/"), 404, "not_found")
    assert [event.target_type for event in denied(doctor)] == ["records.allergy"]


def test_an_unknown_section_is_not_found(signed_in, doctor, chart):
    assert signed_in(doctor).get(f"/api/v1/records/surgeries/{chart.allergy.pk}/").status_code == 404


class TestChange:
    def test_a_doctor_changes_some_fields_and_the_others_stay(self, signed_in, doctor, chart):
        response = signed_in(doctor).patch(
            url("allergies", chart.allergy), {"severity": "severe", "reaction": " Wheeze "}
        )

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["substance"], body["severity"], body["reaction"]) == ("Penicillin", "severe", "Wheeze")
        update = AuditEvent.objects.get(action="records.allergy.update")
        assert "changed reaction, severity" in update.reason

    def test_a_condition_code_is_kept_upper_case(self, signed_in, doctor, chart):
        response = signed_in(doctor).patch(url("conditions", chart.condition), {"code": "i11.9", "status": "resolved"})

        assert (response.json()["code"], response.json()["status"]) == ("I11.9", "resolved")

    @pytest.mark.parametrize("persona", ["patient", "proxy", "nurse"])
    def test_only_a_doctor_changes_an_entry(self, request, signed_in, chart, persona):
        user = request.getfixturevalue(persona)

        response = signed_in(user).patch(url("medications", chart.medication), {"dose": "20 mg"})

        assert_error(response, 403, "records_forbidden")
        chart.medication.refresh_from_db()
        assert chart.medication.dose == "10 mg"
        assert len(denied(user, action="records.medication.update")) == 1

    def test_an_outsider_doctor_gets_not_found(self, signed_in, outsider_doctor, chart):
        assert_error(signed_in(outsider_doctor).patch(url("allergies", chart.allergy), {}), 404, "not_found")
        assert len(denied(outsider_doctor, action="records.allergy.update")) == 1

    def test_marking_a_mistake_is_not_a_change(self, signed_in, doctor, chart):
        response = signed_in(doctor).patch(url("allergies", chart.allergy), {"status": "entered_in_error"})

        assert list(assert_error(response, 400, "invalid")["fields"]) == ["status"]

    def test_a_bad_value_is_refused_field_by_field(self, signed_in, doctor, chart):
        response = signed_in(doctor).patch(url("immunizations", chart.immunization), {"dose_number": 0})

        assert list(assert_error(response, 400, "invalid")["fields"]) == ["dose_number"]

    def test_an_entry_marked_entered_in_error_no_longer_changes(self, signed_in, doctor, chart, clinician):
        services.entry_mark_entered_in_error(chart.allergy, actor=clinician, reason="Wrong patient")

        response = signed_in(doctor).patch(url("allergies", chart.allergy), {"severity": "mild"})

        assert_error(response, 400, "records_invalid")


class TestEnteredInError:
    def test_a_doctor_marks_an_entry_as_a_mistake_with_a_reason(self, signed_in, doctor, patient, chart):
        client = signed_in(doctor)

        response = client.post(url("allergies", chart.allergy, "entered-in-error/"), {"reason": "Wrong patient"})

        assert response.status_code == 200, response.content
        assert response.json()["status"] == AllergyStatus.ENTERED_IN_ERROR
        assert client.get(f"/api/v1/patients/{patient.pk}/allergies/").json()["count"] == 0
        # Still there, for the record.
        assert client.get(url("allergies", chart.allergy)).json()["status"] == "entered_in_error"
        event = AuditEvent.objects.get(action="records.allergy.entered_in_error")
        assert "Wrong patient" in event.reason

    def test_a_reason_is_required(self, signed_in, doctor, chart):
        response = signed_in(doctor).post(url("conditions", chart.condition, "entered-in-error/"), {"reason": " "})

        assert list(assert_error(response, 400, "invalid")["fields"]) == ["reason"]

    @pytest.mark.parametrize("persona", ["patient", "proxy", "nurse"])
    def test_only_a_doctor_marks_a_clinical_entry(self, request, signed_in, chart, persona):
        response = signed_in(request.getfixturevalue(persona)).post(
            url("allergies", chart.allergy, "entered-in-error/"), {"reason": "Not mine"}
        )

        assert_error(response, 403, "records_forbidden")

    def test_an_outsider_doctor_gets_not_found(self, signed_in, outsider_doctor, chart):
        response = signed_in(outsider_doctor).post(
            url("allergies", chart.allergy, "entered-in-error/"), {"reason": "x"}
        )

        assert_error(response, 404, "not_found")

    def test_a_doctor_with_break_glass_may_and_the_audit_row_is_flagged(
        self, signed_in, outsider_doctor, patient, chart
    ):
        breakglass_open(actor=otp_verified_user(outsider_doctor), patient=patient, reason="Unconscious, allergy check")

        response = signed_in(outsider_doctor).post(
            url("medications", chart.medication, "entered-in-error/"), {"reason": "Duplicate"}
        )

        assert response.status_code == 200
        assert AuditEvent.objects.get(action="records.medication.entered_in_error").breakglass is True
