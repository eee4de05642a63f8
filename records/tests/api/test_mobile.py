"""The records API as a mobile client uses it: JWTs from the sign-in endpoint (staff tokens
carry the OTP claim), a read and a write on each side, and what an outsider's token meets."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from records.tests.api.conftest import assert_error, denied

pytestmark = pytest.mark.django_db


def test_a_patient_reads_their_chart_and_sends_a_home_reading_with_a_token(as_user, patient, chart):
    client = as_user(patient)

    summary = client.get(f"/api/v1/patients/{patient.pk}/chart/")
    created = client.post(f"/api/v1/patients/{patient.pk}/vitals/", {"heart_rate_bpm": 64, "spo2_pct": 98})

    assert summary.status_code == 200
    assert summary.json()["allergies"][0]["substance"] == "Penicillin"
    assert created.status_code == 201, created.content
    assert (created.json()["source"], created.json()["needs_acknowledgement"]) == ("patient", True)


def test_a_patient_uploads_and_downloads_a_document_with_a_token(as_user, patient):
    client = as_user(patient)
    content = b"Cholesterol 4.2 mmol/L\n"

    created = client.post(
        f"/api/v1/patients/{patient.pk}/documents/",
        {"file": SimpleUploadedFile("lipids.txt", content), "category": "lab_result"},
        format="multipart",
    )
    download = client.get(created.json()["download_url"])

    assert created.status_code == 201, created.content
    assert b"".join(download.streaming_content) == content


def test_a_doctor_with_an_otp_token_acknowledges_a_reading_and_adds_an_allergy(as_user, doctor, patient, chart):
    client = as_user(doctor)

    acknowledged = client.post(f"/api/v1/records/vitals/{chart.home_reading.pk}/acknowledge/")
    allergy = client.post(f"/api/v1/patients/{patient.pk}/allergies/", {"substance": "Ibuprofen", "severity": "mild"})

    assert acknowledged.status_code == 200, acknowledged.content
    assert acknowledged.json()["acknowledged_by"]["id"] == doctor.pk
    assert allergy.status_code == 201, allergy.content
    created = AuditEvent.objects.get(action="records.allergy.create", target_id=str(allergy.json()["id"]))
    assert created.actor == doctor


def test_a_nurse_with_a_token_records_vitals_but_not_a_note(as_user, nurse, patient):
    client = as_user(nurse)

    assert client.post(f"/api/v1/patients/{patient.pk}/vitals/", {"temperature_c": 37.2}).status_code == 201
    assert_error(client.post(f"/api/v1/patients/{patient.pk}/notes/", {"subjective": "x"}), 403, "records_forbidden")


def test_an_outsider_doctors_token_meets_not_found_and_the_attempt_is_audited(as_user, outsider_doctor, patient, chart):
    client = as_user(outsider_doctor)

    assert_error(client.get(f"/api/v1/patients/{patient.pk}/chart/"), 404, "not_found")
    assert_error(client.get(f"/api/v1/records/notes/{chart.note.pk}/"), 404, "not_found")
    assert len(denied(outsider_doctor)) == 2


def test_a_bad_token_is_refused(api, patient):
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert_error(api.get(f"/api/v1/patients/{patient.pk}/chart/"), 401, "token_not_valid")
