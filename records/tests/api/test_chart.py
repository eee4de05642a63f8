"""The chart's summary and its structured sections: who reads them, who adds to them, and what
an outsider meets (404, audited as denied)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services.access import breakglass_open
from accounts.tests.factories import DoctorFactory, VerifiedPatientFactory, otp_verified_user
from audit.models import AuditEvent
from records.models import Allergy, AllergyStatus
from records.services import chart as services
from records.tests.api.conftest import assert_error, denied
from records.tests.factories import (
    AllergyFactory,
    ConditionFactory,
    DocumentFactory,
    ImmunizationFactory,
    MedicationFactory,
    NoteAmendmentFactory,
    SignedNoteFactory,
    VitalSignsFactory,
)

pytestmark = pytest.mark.django_db


def url(patient, section: str = "chart") -> str:
    return f"/api/v1/patients/{patient.pk}/{section}/"


class TestSummary:
    def test_the_patient_sees_active_lists_latest_vitals_and_counts(self, signed_in, patient, chart, clinician):
        retired = services.allergy_record(
            actor=clinician, patient=patient, substance="Latex", status=AllergyStatus.RESOLVED
        )

        body = signed_in(patient).get(url(patient)).json()

        assert body["patient"] == {"id": patient.pk, "name": "Pat Patient", "role": "patient"}
        assert [item["substance"] for item in body["allergies"]] == ["Penicillin"]
        assert retired.pk not in [item["id"] for item in body["allergies"]]
        assert [(item["description"], item["code"]) for item in body["conditions"]] == [("Hypertension", "I10")]
        assert [(item["name"], item["dose"]) for item in body["medications"]] == [("Lisinopril", "10 mg")]
        assert body["latest_vitals"]["id"] == chart.home_reading.pk
        assert body["latest_vitals"]["systolic_mmhg"] == 142
        # The patient's side counts signed notes only.
        assert body["notes_count"] == 1
        assert body["documents_count"] == 0
        assert [item["id"] for item in body["awaiting_acknowledgement"]] == [chart.home_reading.pk]

    def test_the_latest_vitals_carry_the_bmi(self, signed_in, patient, nurse_verified):
        services.vitals_record(
            actor=nurse_verified, patient=patient, measurements={"weight_kg": "70", "height_cm": "175"}
        )

        latest = signed_in(nurse_verified).get(url(patient)).json()["latest_vitals"]

        assert (latest["weight_kg"], latest["height_cm"], latest["bmi"]) == (70.0, 175.0, 22.9)
        assert latest["source"] == "clinician"
        assert latest["recorded_by"]["name"] == "Nico Nurse"

    def test_a_doctor_counts_drafts_too(self, signed_in, doctor, patient, chart):
        body = signed_in(doctor).get(url(patient)).json()

        assert body["notes_count"] == 2

    def test_a_proxy_reads_the_chart_of_the_patient_they_act_for(self, signed_in, proxy, patient, chart):
        response = signed_in(proxy).get(url(patient))

        assert response.status_code == 200
        assert response.json()["allergies"][0]["substance"] == "Penicillin"

    def test_an_outsider_doctor_gets_not_found_and_the_attempt_is_audited(
        self, signed_in, outsider_doctor, patient, chart
    ):
        assert_error(signed_in(outsider_doctor).get(url(patient)), 404, "not_found")

        [event] = denied(outsider_doctor)
        assert (event.action, event.patient_id) == ("records.chart.view", patient.pk)

    def test_another_patient_gets_not_found(self, signed_in, patient, chart, outsider_patient):
        stranger = VerifiedPatientFactory()

        assert_error(signed_in(stranger).get(url(patient)), 404, "not_found")
        assert_error(signed_in(outsider_patient).get(url(patient)), 404, "not_found")
        assert len(denied(stranger)) == 1

    def test_a_patient_whose_email_is_not_verified_does_not_see_their_own_chart(self, signed_in, outsider_patient):
        assert_error(signed_in(outsider_patient).get(url(outsider_patient)), 404, "not_found")

    def test_an_admin_gets_not_found(self, signed_in, admin, patient, chart):
        assert_error(signed_in(admin).get(url(patient)), 404, "not_found")
        assert len(denied(admin)) == 1

    def test_a_staff_id_is_not_a_chart(self, signed_in, doctor, nurse):
        assert_error(signed_in(doctor).get(url(nurse)), 404, "not_found")

    def test_anonymous_callers_are_asked_to_authenticate(self, api, patient):
        assert_error(api.get(url(patient)), 401, "not_authenticated")

    def test_a_doctor_with_break_glass_reads_the_chart_and_the_audit_row_is_flagged(
        self, signed_in, outsider_doctor, patient, chart
    ):
        breakglass_open(
            actor=otp_verified_user(outsider_doctor), patient=patient, reason="Unconscious in the ED, no history"
        )

        response = signed_in(outsider_doctor).get(url(patient))

        assert response.status_code == 200
        view = AuditEvent.objects.get(actor=outsider_doctor, action="records.chart.view")
        assert view.breakglass is True
        assert view.outcome == "success"
        assert "Unconscious in the ED" in view.reason

    def test_the_summary_costs_the_same_queries_however_big_the_chart(
        self, signed_in, doctor, patient, django_assert_max_num_queries
    ):
        client = signed_in(doctor)
        client.get(url(patient))  # the session and OTP device are loaded once per client either way
        with CaptureQueriesContext(connection) as small:
            client.get(url(patient))
        # Taken now: the next request resets the connection's query log that `small` reads.
        queries = len(small)
        for _ in range(5):
            AllergyFactory(patient=patient, recorded_by=DoctorFactory())
            ConditionFactory(patient=patient)
            MedicationFactory(patient=patient)
            VitalSignsFactory(patient=patient)

        with django_assert_max_num_queries(queries) as big:
            client.get(url(patient))
        assert len(big) == queries


# --- the sections ---------------------------------------------------------------------------

SECTIONS = ("allergies", "conditions", "medications", "immunizations", "vitals", "notes", "documents")


def _rows(section: str, patient, count: int) -> None:
    for _ in range(count):
        match section:
            case "allergies":
                AllergyFactory(patient=patient, recorded_by=DoctorFactory())
            case "conditions":
                ConditionFactory(patient=patient, recorded_by=DoctorFactory())
            case "medications":
                MedicationFactory(patient=patient, recorded_by=DoctorFactory())
            case "immunizations":
                ImmunizationFactory(patient=patient, recorded_by=DoctorFactory())
            case "vitals":
                VitalSignsFactory(patient=patient, recorded_by=DoctorFactory())
            case "notes":
                NoteAmendmentFactory(note=SignedNoteFactory(patient=patient, author=DoctorFactory()))
            case "documents":
                DocumentFactory(patient=patient, recorded_by=DoctorFactory())


@pytest.mark.parametrize("section", SECTIONS)
def test_each_list_costs_the_same_queries_whatever_the_number_of_rows(
    signed_in, patient, section, django_assert_max_num_queries
):
    client = signed_in(patient)
    _rows(section, patient, 1)
    client.get(url(patient, section))
    with CaptureQueriesContext(connection) as one:
        assert client.get(url(patient, section)).json()["count"] == 1
    queries = len(one)
    _rows(section, patient, 6)

    with django_assert_max_num_queries(queries):
        body = client.get(url(patient, section)).json()

    assert body["count"] == 7


@pytest.mark.parametrize("section", SECTIONS)
@pytest.mark.parametrize("persona", ["patient", "proxy", "doctor", "nurse"])
def test_the_patient_their_proxy_and_their_clinicians_read_every_section(request, signed_in, patient, section, persona):
    _rows(section, patient, 2)

    response = signed_in(request.getfixturevalue(persona)).get(url(patient, section))

    assert response.status_code == 200
    assert response.json()["count"] == 2


@pytest.mark.parametrize("section", SECTIONS)
@pytest.mark.parametrize("persona", ["outsider_doctor", "admin"])
def test_outsiders_get_not_found_on_every_section(request, signed_in, patient, section, persona):
    user = request.getfixturevalue(persona)

    assert_error(signed_in(user).get(url(patient, section)), 404, "not_found")
    assert len(denied(user, patient=patient)) == 1


def test_a_section_is_paginated(signed_in, patient):
    _rows("allergies", patient, 3)

    body = signed_in(patient).get(url(patient, "allergies"), {"page_size": 2}).json()

    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"]


def test_entries_marked_entered_in_error_are_left_out(signed_in, patient, chart, clinician):
    services.entry_mark_entered_in_error(chart.allergy, actor=clinician, reason="Wrong patient")

    assert signed_in(patient).get(url(patient, "allergies")).json()["count"] == 0


def test_an_allergy_shows_who_recorded_it_when_and_from_which_source(signed_in, patient, chart):
    [allergy] = signed_in(patient).get(url(patient, "allergies")).json()["results"]

    assert allergy == {
        "id": chart.allergy.pk,
        "patient": patient.pk,
        "source": "clinician",
        "recorded_by": {"id": chart.allergy.recorded_by_id, "name": "Dr Dana Doctor", "role": "doctor"},
        "recorded_at": allergy["recorded_at"],
        "updated_at": allergy["updated_at"],
        "substance": "Penicillin",
        "reaction": "Hives",
        "severity": "moderate",
        "status": "active",
        "noted_on": None,
    }
    assert allergy["recorded_at"].endswith("Z")


# --- adding entries ---------------------------------------------------------------------------

NEW_ENTRIES = {
    "allergies": ({"substance": "Peanuts", "reaction": "Anaphylaxis", "severity": "severe"}, "substance", "Peanuts"),
    "conditions": ({"description": "Asthma", "code": "j45.909", "onset_on": "2019-03-01"}, "code", "J45.909"),
    "medications": (
        {"name": "Salbutamol", "dose": "100 mcg", "route": "inhaled", "frequency": "As needed"},
        "route",
        "inhaled",
    ),
    "immunizations": ({"vaccine": "Tetanus", "administered_on": "2024-05-02", "dose_number": 2}, "dose_number", 2),
}


@pytest.mark.parametrize("section", NEW_ENTRIES)
def test_a_doctor_caring_for_the_patient_adds_an_entry(signed_in, doctor, patient, section):
    body, field, expected = NEW_ENTRIES[section]

    response = signed_in(doctor).post(url(patient, section), body)

    assert response.status_code == 201, response.content
    entry = response.json()
    assert entry[field] == expected
    assert (entry["source"], entry["recorded_by"]["id"]) == ("clinician", doctor.pk)
    listed = signed_in(patient).get(url(patient, section)).json()["results"]
    assert [item["id"] for item in listed] == [entry["id"]]
    created = AuditEvent.objects.get(action__endswith=".create", actor=doctor, patient=patient)
    assert created.outcome == "success"


def test_a_doctor_with_break_glass_adds_an_allergy_flagged_in_the_audit(signed_in, outsider_doctor, patient):
    breakglass_open(actor=otp_verified_user(outsider_doctor), patient=patient, reason="Anaphylaxis in the ED")

    response = signed_in(outsider_doctor).post(url(patient, "allergies"), {"substance": "Bee venom"})

    assert response.status_code == 201
    assert AuditEvent.objects.get(action="records.allergy.create").breakglass is True


@pytest.mark.parametrize("persona", ["patient", "proxy", "nurse"])
def test_only_a_doctor_adds_clinical_entries(request, signed_in, patient, persona):
    user = request.getfixturevalue(persona)

    response = signed_in(user).post(url(patient, "allergies"), {"substance": "Peanuts"})

    assert_error(response, 403, "records_forbidden")
    assert not Allergy.objects.exists()
    assert len(denied(user, action="records.allergy.create")) == 1


def test_an_outsider_doctor_adding_an_entry_gets_not_found_whatever_the_body(signed_in, outsider_doctor, patient):
    client = signed_in(outsider_doctor)

    assert_error(client.post(url(patient, "allergies"), {"substance": "Peanuts"}), 404, "not_found")
    assert_error(client.post(url(patient, "allergies"), {}), 404, "not_found")
    assert len(denied(outsider_doctor, action="records.allergy.create")) == 2


def test_an_entry_with_invalid_fields_is_refused_field_by_field(signed_in, doctor, patient):
    response = signed_in(doctor).post(url(patient, "allergies"), {"severity": "deadly", "noted_on": "yesterday"})

    body = assert_error(response, 400, "invalid")
    assert body["detail"] == "The request is invalid."
    assert set(body["fields"]) == {"substance", "severity", "noted_on"}
    assert all(isinstance(message, str) for messages in body["fields"].values() for message in messages)


def test_a_new_entry_cannot_be_entered_in_error_from_the_start(signed_in, doctor, patient):
    response = signed_in(doctor).post(
        url(patient, "conditions"), {"description": "Asthma", "status": "entered_in_error"}
    )

    assert list(assert_error(response, 400, "invalid")["fields"]) == ["status"]


def test_an_immunization_in_the_future_is_refused_by_the_service_with_the_field_named(signed_in, doctor, patient):
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()

    response = signed_in(doctor).post(
        url(patient, "immunizations"), {"vaccine": "Influenza", "administered_on": tomorrow}
    )

    body = assert_error(response, 400, "invalid")
    assert body["fields"] == {"administered_on": ["An immunization cannot be given in the future."]}


def test_an_entry_is_sent_as_json_only(signed_in, doctor, patient):
    response = signed_in(doctor).post(url(patient, "allergies"), {"substance": "Peanuts"}, format="multipart")

    assert_error(response, 415, "unsupported_media_type")
