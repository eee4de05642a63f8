"""The clinician's pages: the list of charts, a patient's chart, and its forms (entries,
corrections, vitals, acknowledging home readings, uploads)."""

import datetime as dt
import html
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from accounts.services.access import breakglass_open
from accounts.tests.factories import PatientProfileFactory, otp_force_login, otp_verified_user
from audit.models import AuditEvent
from records.models import Allergy, AllergyStatus, Document, Medication, Source, VitalSigns

pytestmark = pytest.mark.django_db


def text(response) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def as_staff(client, user):
    return otp_force_login(client, user)


def chart_url(patient) -> str:
    return reverse("records:chart", args=[patient.pk])


# --- The list of charts ---------------------------------------------------------------------


def test_a_doctor_lists_their_patients_and_the_home_readings_waiting(client, chart, doctor):
    response = as_staff(client, doctor).get(reverse("records:patients"))

    assert response.status_code == 200
    page = text(response)
    assert "Pat Patient" in page
    assert chart_url(chart.patient) in response.content.decode()
    assert "Home readings to acknowledge" in page
    assert "blood pressure 142/91 mmHg" in page
    assert reverse("records:vitals_acknowledge", args=[chart.home_reading.pk]) in response.content.decode()
    assert reverse("accounts:breakglass_open") in response.content.decode()


def test_a_doctor_without_patients_sees_an_empty_list_and_the_way_to_break_glass(client, outsider_doctor, chart):
    response = as_staff(client, outsider_doctor).get(reverse("records:patients"))

    page = text(response)
    assert response.status_code == 200
    assert "Pat Patient" not in page
    assert "open emergency access (break-glass)" in page


def test_patients_and_admins_find_no_list_of_charts(client, patient, admin):
    client.force_login(patient)
    assert client.get(reverse("records:patients")).status_code == 404
    client.logout()
    assert as_staff(client, admin).get(reverse("records:patients")).status_code == 404


# --- The chart --------------------------------------------------------------------------------


def test_the_doctor_sees_the_whole_chart_with_drafts_and_every_form(client, chart, doctor):
    PatientProfileFactory(user=chart.patient, date_of_birth=dt.date(1980, 4, 2))

    response = as_staff(client, doctor).get(chart_url(chart.patient))

    assert response.status_code == 200
    page = text(response)
    content = response.content.decode()
    assert "Chart of Pat Patient" in page
    assert re.search(r"MRN \S+ · born 2 Apr 1980", page)
    assert "Penicillin" in page and "Hypertension" in page and "Lisinopril" in page and "Influenza" in page
    assert "Headaches in the morning." in page
    assert "Draft by Dr Dana Doctor" in page
    for name in ("allergy_add", "condition_add", "medication_add", "immunization_add", "vitals_add", "note_new"):
        assert reverse(f"records:{name}", args=[chart.patient.pk]) in content, name
    assert reverse("records:document_upload", args=[chart.patient.pk]) in content
    assert reverse("records:entry_edit", args=["allergy", chart.allergy.pk]) in content
    assert reverse("records:entry_error", args=["allergy", chart.allergy.pk]) in content
    assert "Record vital signs" in page
    assert "breakglass-banner" not in content
    event = AuditEvent.objects.filter(action="records.chart.view", actor=doctor, patient=chart.patient).get()
    assert event.outcome == "success" and not event.breakglass


def test_the_nurse_reads_the_chart_and_may_record_and_acknowledge_vitals_but_sees_no_clinical_forms(
    client, chart, nurse
):
    response = as_staff(client, nurse).get(chart_url(chart.patient))

    assert response.status_code == 200
    content = response.content.decode()
    assert "Penicillin" in content
    assert reverse("records:vitals_add", args=[chart.patient.pk]) in content
    assert reverse("records:vitals_acknowledge", args=[chart.home_reading.pk]) in content
    assert reverse("records:allergy_add", args=[chart.patient.pk]) not in content
    assert reverse("records:note_new", args=[chart.patient.pk]) not in content
    assert reverse("records:document_upload", args=[chart.patient.pk]) not in content
    assert reverse("records:entry_edit", args=["allergy", chart.allergy.pk]) not in content


def test_a_doctor_without_a_care_relationship_gets_a_404_recorded_as_denied(client, chart, outsider_doctor):
    response = as_staff(client, outsider_doctor).get(chart_url(chart.patient))

    assert response.status_code == 404
    assert "Penicillin" not in response.content.decode()
    assert AuditEvent.objects.filter(
        actor=outsider_doctor, patient=chart.patient, action="records.chart.view", outcome="denied"
    ).exists()


def test_break_glass_shows_the_chart_under_a_banner_with_the_reason(client, chart, outsider_doctor):
    breakglass_open(
        actor=otp_verified_user(outsider_doctor), patient=chart.patient, reason="Unconscious in the emergency room"
    )

    response = as_staff(client, outsider_doctor).get(chart_url(chart.patient))

    assert response.status_code == 200
    page = text(response)
    assert "Emergency access (break-glass)" in page
    assert "Unconscious in the emergency room" in page
    assert 'data-testid="breakglass-banner"' in response.content.decode()
    event = AuditEvent.objects.get(action="records.chart.view", actor=outsider_doctor, outcome="success")
    assert event.breakglass


def test_an_unknown_patient_is_a_404_like_any_other(client, doctor):
    response = as_staff(client, doctor).get(reverse("records:chart", args=[999_999]))

    assert response.status_code == 404
    assert AuditEvent.objects.filter(actor=doctor, action="records.chart.view", outcome="denied").exists()


def test_an_admin_reads_no_chart_by_role_alone(client, chart, admin):
    assert as_staff(client, admin).get(chart_url(chart.patient)).status_code == 404


# --- Structured entries -----------------------------------------------------------------------


def test_the_doctor_adds_an_allergy_and_is_sent_back_to_the_chart(client, patient, doctor):
    response = as_staff(client, doctor).post(
        reverse("records:allergy_add", args=[patient.pk]),
        {
            "allergy-substance": "Latex",
            "allergy-reaction": "Rash",
            "allergy-severity": "mild",
            "allergy-status": "active",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == f"{chart_url(patient)}#allergies"
    allergy = Allergy.objects.get(patient=patient)
    assert (allergy.substance, allergy.reaction, allergy.recorded_by) == ("Latex", "Rash", doctor)
    assert AuditEvent.objects.filter(action="records.allergy.create", actor=doctor, outcome="success").exists()
    assert "The allergy was added to the chart." in text(client.get(response["Location"]))


def test_an_allergy_without_a_substance_comes_back_with_the_field_error_and_the_form_open(client, patient, doctor):
    response = as_staff(client, doctor).post(
        reverse("records:allergy_add", args=[patient.pk]), {"allergy-severity": "mild", "allergy-status": "active"}
    )

    assert response.status_code == 400
    content = response.content.decode()
    assert 'id="id_allergy-substance-error"' in content
    assert '<details class="chart-form" id="allergy-form" open>' in content
    assert "Nothing was saved." in text(response)
    assert not Allergy.objects.exists()


def test_the_doctor_adds_a_problem_a_medication_and_an_immunization(client, patient, doctor):
    as_staff(client, doctor)

    client.post(
        reverse("records:condition_add", args=[patient.pk]),
        {"condition-description": "Asthma", "condition-code": "j45", "condition-status": "active"},
    )
    client.post(
        reverse("records:medication_add", args=[patient.pk]),
        {"medication-name": "Salbutamol", "medication-route": "inhaled", "medication-status": "active"},
    )
    response = client.post(
        reverse("records:immunization_add", args=[patient.pk]),
        {"immunization-vaccine": "Tetanus", "immunization-administered_on": "2024-05-01"},
    )

    assert response.status_code == 302
    page = text(client.get(chart_url(patient)))
    assert "Asthma J45" in page
    assert "Salbutamol" in page
    assert "Tetanus" in page


def test_a_medication_that_stops_before_it_starts_is_refused_with_a_message(client, patient, doctor):
    response = as_staff(client, doctor).post(
        reverse("records:medication_add", args=[patient.pk]),
        {
            "medication-name": "Amoxicillin",
            "medication-route": "oral",
            "medication-status": "active",
            "medication-started_on": "2025-03-10",
            "medication-stopped_on": "2025-03-01",
        },
    )

    assert response.status_code == 400
    assert not Medication.objects.exists()


def test_the_nurse_may_not_add_an_allergy_and_the_refusal_is_recorded(client, patient, nurse):
    response = as_staff(client, nurse).post(
        reverse("records:allergy_add", args=[patient.pk]), {"allergy-substance": "Latex"}
    )

    assert response.status_code == 403
    assert "Only a doctor caring for this patient changes this part of the chart." in text(response)
    assert not Allergy.objects.exists()
    assert AuditEvent.objects.filter(action="records.allergy.create", actor=nurse, outcome="denied").exists()


def test_a_doctor_without_care_posting_an_allergy_gets_a_404_recorded_as_denied(client, patient, outsider_doctor):
    response = as_staff(client, outsider_doctor).post(
        reverse("records:allergy_add", args=[patient.pk]), {"allergy-substance": "Latex"}
    )

    assert response.status_code == 404
    assert AuditEvent.objects.filter(
        action="records.allergy.create", actor=outsider_doctor, patient=patient, outcome="denied"
    ).exists()


def test_the_doctor_edits_an_allergy(client, chart, doctor):
    url = reverse("records:entry_edit", args=["allergy", chart.allergy.pk])
    as_staff(client, doctor)

    form = client.get(url)
    response = client.post(
        url,
        {
            "allergy-substance": "Penicillin",
            "allergy-reaction": "Anaphylaxis",
            "allergy-severity": "severe",
            "allergy-status": "active",
        },
    )

    assert form.status_code == 200
    assert 'value="Hives"' in form.content.decode()
    assert response.status_code == 302
    chart.allergy.refresh_from_db()
    assert (chart.allergy.reaction, chart.allergy.severity) == ("Anaphylaxis", "severe")
    assert AuditEvent.objects.filter(action="records.allergy.update", actor=doctor, outcome="success").exists()


def test_the_nurse_cannot_open_the_edit_form(client, chart, nurse):
    response = as_staff(client, nurse).get(reverse("records:entry_edit", args=["allergy", chart.allergy.pk]))

    assert response.status_code == 403


def test_an_unknown_kind_of_entry_is_a_404(client, chart, doctor):
    assert as_staff(client, doctor).get("/records/entries/user/1/edit/").status_code == 404


def test_the_doctor_marks_an_allergy_entered_in_error_with_a_reason(client, chart, doctor):
    url = reverse("records:entry_error", args=["allergy", chart.allergy.pk])
    as_staff(client, doctor)

    confirm = client.get(url)
    refused = client.post(url, {"error-reason": ""})
    response = client.post(url, {"error-reason": "Wrong patient"})

    assert confirm.status_code == 200 and "Penicillin" in text(confirm)
    assert refused.status_code == 400
    assert response.status_code == 302
    chart.allergy.refresh_from_db()
    assert chart.allergy.status == AllergyStatus.ENTERED_IN_ERROR
    event = AuditEvent.objects.get(action="records.allergy.entered_in_error", outcome="success")
    assert "Wrong patient" in event.reason
    page = text(client.get(chart_url(chart.patient)))
    assert "Penicillin" not in page


def test_the_patient_withdraws_their_own_home_reading_but_not_a_clinicians(client, chart):
    client.force_login(chart.patient)

    mine = client.post(
        reverse("records:entry_error", args=["vitals", chart.home_reading.pk]), {"error-reason": "Cuff was loose"}
    )
    theirs = client.post(
        reverse("records:entry_error", args=["vitals", chart.clinic_vitals.pk]), {"error-reason": "Wrong"}
    )

    assert mine.status_code == 302
    assert VitalSigns.objects.get(pk=chart.home_reading.pk).entered_in_error
    assert theirs.status_code == 400
    assert "A reading taken by a clinician can only be corrected by a clinician." in text(theirs)
    assert not VitalSigns.objects.get(pk=chart.clinic_vitals.pk).entered_in_error


# --- Vitals -----------------------------------------------------------------------------------


def test_the_nurse_records_vitals_as_a_clinician(client, patient, nurse):
    response = as_staff(client, nurse).post(
        reverse("records:vitals_add", args=[patient.pk]),
        {"vitals-temperature_c": "37,2", "vitals-spo2_pct": "97", "vitals-measured_at": "2025-03-03T09:30"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"{chart_url(patient)}#vitals"
    reading = VitalSigns.objects.get(patient=patient)
    assert (str(reading.temperature_c), reading.spo2_pct, reading.source) == ("37.2", 97, Source.CLINICIAN)
    assert AuditEvent.objects.filter(action="records.vitals.create", actor=nurse, outcome="success").exists()


def test_the_time_typed_is_read_in_the_viewers_time_zone(client, patient, doctor):
    as_staff(client, doctor)
    client.cookies["tz"] = "Europe/Paris"

    client.post(
        reverse("records:vitals_add", args=[patient.pk]),
        {"vitals-heart_rate_bpm": "64", "vitals-measured_at": "2025-03-03T09:30"},
    )

    reading = VitalSigns.objects.get(patient=patient)
    assert reading.measured_at.isoformat() == "2025-03-03T08:30:00+00:00"


def test_blood_pressure_upside_down_is_refused_on_the_systolic_field(client, patient, doctor):
    response = as_staff(client, doctor).post(
        reverse("records:vitals_add", args=[patient.pk]), {"vitals-systolic_mmhg": "80", "vitals-diastolic_mmhg": "120"}
    )

    assert response.status_code == 400
    assert "The systolic (upper) number must be higher than the diastolic (lower) one." in text(response)
    assert 'id="id_vitals-systolic_mmhg-error"' in response.content.decode()


def test_the_nurse_acknowledges_a_home_reading_once(client, chart, nurse):
    url = reverse("records:vitals_acknowledge", args=[chart.home_reading.pk])
    as_staff(client, nurse)

    first = client.post(url, follow=True)
    second = client.post(url, follow=True)

    reading = VitalSigns.objects.get(pk=chart.home_reading.pk)
    assert reading.acknowledged_by == nurse
    assert "The home reading of Pat Patient was acknowledged." in text(first)
    assert "This reading has already been acknowledged." in text(second)
    assert AuditEvent.objects.filter(action="records.vitals.acknowledge", actor=nurse, outcome="success").count() == 1


def test_acknowledging_from_the_list_goes_back_to_the_list_and_never_off_site(client, chart, doctor):
    url = reverse("records:vitals_acknowledge", args=[chart.home_reading.pk])
    as_staff(client, doctor)

    response = client.post(url, {"next": "https://evil.example/"})

    assert response["Location"] == f"{chart_url(chart.patient)}#vitals"


def test_the_patient_cannot_acknowledge_their_own_reading(client, chart):
    client.force_login(chart.patient)

    response = client.post(reverse("records:vitals_acknowledge", args=[chart.home_reading.pk]))

    assert response.status_code == 403
    assert VitalSigns.objects.get(pk=chart.home_reading.pk).acknowledged_at is None


def test_acknowledging_a_reading_of_someone_elses_patient_is_a_404(client, chart, outsider_doctor):
    response = as_staff(client, outsider_doctor).post(
        reverse("records:vitals_acknowledge", args=[chart.home_reading.pk])
    )

    assert response.status_code == 404
    assert AuditEvent.objects.filter(
        action="records.vitals.acknowledge", actor=outsider_doctor, outcome="denied"
    ).exists()


# --- Uploads by the doctor --------------------------------------------------------------------


def test_the_doctor_uploads_a_letter(client, patient, doctor):
    image = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(image, format="PNG")
    png = image.getvalue()
    response = as_staff(client, doctor).post(
        reverse("records:document_upload", args=[patient.pk]),
        {"document-file": SimpleUploadedFile("x-ray.png", png), "document-title": "", "document-category": "imaging"},
    )

    assert response.status_code == 302
    document = Document.objects.get(patient=patient)
    assert (document.title, document.source, document.content_type) == ("x-ray.png", "clinician", "image/png")


def test_an_upload_without_a_file_asks_for_one(client, patient, doctor):
    response = as_staff(client, doctor).post(
        reverse("records:document_upload", args=[patient.pk]), {"document-category": "other"}
    )

    assert response.status_code == 400
    assert 'id="id_document-file-error"' in response.content.decode()
    assert '<details class="chart-form" id="document-form" open>' in response.content.decode()


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_the_chart_and_the_list_take_as_many_queries_for_a_long_chart_as_for_a_short_one(client, patient, doctor):
    from records.tests.factories import (
        AllergyFactory,
        ConditionFactory,
        DocumentFactory,
        HomeReadingFactory,
        ImmunizationFactory,
        MedicationFactory,
        NoteAmendmentFactory,
        VitalSignsFactory,
    )

    def grow():
        for factory in (AllergyFactory, ConditionFactory, MedicationFactory, ImmunizationFactory, DocumentFactory):
            factory(patient=patient, recorded_by=doctor)
        VitalSignsFactory(patient=patient, recorded_by=doctor)
        HomeReadingFactory(patient=patient)
        NoteAmendmentFactory(note__patient=patient, note__author=doctor)

    as_staff(client, doctor)
    grow()
    # The first request of a session (and of the audit chain) does one-off writes.
    client.get(chart_url(patient))
    client.get(reverse("records:patients"))
    short = (_queries(client, chart_url(patient)), _queries(client, reverse("records:patients")))
    for _ in range(4):
        grow()
    long = (_queries(client, chart_url(patient)), _queries(client, reverse("records:patients")))

    assert long == short
