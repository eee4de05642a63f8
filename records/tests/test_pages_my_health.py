""" "My health": the patient's own chart page, and what a proxy or anyone else meets there."""

import html
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.context_processors import ACTING_FOR_SESSION_KEY
from accounts.tests.factories import VerifiedPatientFactory, otp_force_login
from audit.models import AuditEvent
from records.models import Document, Source, VitalSigns

pytestmark = pytest.mark.django_db

URL = "/records/"


def text(response) -> str:
    """The page's visible text, roughly: tags out, entities decoded, spaces squeezed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def signed_in(client, user):
    if user.is_staff_role:
        return otp_force_login(client, user)
    client.force_login(user)
    return client


def test_the_url_is_named_my_health():
    assert reverse("records:my_health") == URL


def test_the_patient_sees_their_summary_with_allergies_first(client, chart):
    response = signed_in(client, chart.patient).get(URL)

    assert response.status_code == 200
    page = text(response)
    assert "My health" in page
    assert page.index("Allergies") < page.index("Active problems") < page.index("Medications")
    assert "Penicillin : Hives Moderate" in page
    assert "Hypertension (I10)" in page
    assert "Lisinopril 10 mg, Once daily" in page
    assert "Influenza" in page


def test_the_patient_sees_their_latest_vitals_with_bmi_and_a_trend_chart_with_a_table(client, chart):
    response = signed_in(client, chart.patient).get(URL)

    page = text(response)
    content = response.content.decode()
    assert "Blood pressure 142/91 mmHg" in page
    assert "Weight 70.0 kg" in page or "Weight 70 kg" in page
    # 70 kg at 1.75 m.
    assert "BMI 22.9 kg/m²" in page
    assert content.count('<svg class="trend"') == 3
    assert "Heart rate: 68 beats/min" in content
    assert '<title id="trend-blood-pressure-title">Blood pressure (mmHg)</title>' in content
    assert '<table class="data-table">' in content
    assert "awaiting review" in page


def test_the_patient_sees_signed_notes_but_not_drafts(client, chart):
    response = signed_in(client, chart.patient).get(URL)

    page = text(response)
    assert "Headaches in the morning." in page
    assert "Signed by Dr Dana Doctor" in page
    assert "Follow-up planned." not in page
    assert "Draft" not in page


def test_the_patient_sees_documents_honestly_marked_not_scanned_with_a_download_link(client, patient):
    from records.services.documents import document_upload

    document = document_upload(
        actor=patient, patient=patient, upload=SimpleUploadedFile("bp.txt", b"142/91\n"), title="Home BP log"
    )

    response = signed_in(client, patient).get(URL)

    page = text(response)
    assert "Home BP log" in page
    assert "Virus scan: Not scanned" in page
    assert reverse("records:document_download", args=[document.public_id]) in response.content.decode()


def test_the_patient_has_the_home_reading_and_upload_forms_and_the_access_log_link_but_no_clinical_forms(client, chart):
    content = signed_in(client, chart.patient).get(URL).content.decode()

    assert "Add a home reading" in content
    assert reverse("records:vitals_add", args=[chart.patient.pk]) in content
    assert reverse("records:document_upload", args=[chart.patient.pk]) in content
    assert reverse("records:access_log") in content
    assert "Who viewed my chart" in content
    assert reverse("records:allergy_add", args=[chart.patient.pk]) not in content
    assert reverse("records:note_new", args=[chart.patient.pk]) not in content
    assert 'Entered in error<span class="visually-hidden">: Penicillin' not in content


def test_a_patient_adds_a_home_reading_which_waits_for_the_care_team(client, patient):
    response = signed_in(client, patient).post(
        reverse("records:vitals_add", args=[patient.pk]),
        {"vitals-systolic_mmhg": "135", "vitals-diastolic_mmhg": "85", "vitals-heart_rate_bpm": "70"},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == f"{URL}#vitals"
    assert "Your reading was saved." in text(response)
    reading = VitalSigns.objects.get(patient=patient)
    assert (reading.systolic_mmhg, reading.diastolic_mmhg, reading.source) == (135, 85, Source.PATIENT)
    assert reading.needs_acknowledgement
    assert AuditEvent.objects.filter(action="records.vitals.create", actor=patient, outcome="success").exists()


def test_an_impossible_temperature_comes_back_with_a_message_that_says_why(client, patient):
    response = signed_in(client, patient).post(
        reverse("records:vitals_add", args=[patient.pk]), {"vitals-temperature_c": "98.6"}
    )

    assert response.status_code == 400
    content = response.content.decode()
    assert (
        "Temperature must be between 30 and 45 °C; 98.6 is not a possible value. That looks like °F; enter °C."
        in html.unescape(content)
    )
    assert 'aria-invalid="true"' in content
    assert 'aria-describedby="id_vitals-temperature_c-error"' in content
    assert 'value="98.6"' in content
    assert not VitalSigns.objects.filter(patient=patient).exists()


def test_an_empty_reading_asks_for_at_least_one_measurement(client, patient):
    response = signed_in(client, patient).post(reverse("records:vitals_add", args=[patient.pk]), {})

    assert response.status_code == 400
    assert "Enter at least one measurement." in text(response)


def test_a_patient_uploads_a_document(client, patient):
    response = signed_in(client, patient).post(
        reverse("records:document_upload", args=[patient.pk]),
        {
            "document-file": SimpleUploadedFile("result.txt", b"Cholesterol 4.2 mmol/L\n"),
            "document-title": "Cholesterol",
            "document-category": "lab_result",
        },
        follow=True,
    )

    assert response.redirect_chain[-1][0] == f"{URL}#documents"
    document = Document.objects.get(patient=patient)
    assert (document.title, document.source, document.content_type) == ("Cholesterol", "patient", "text/plain")
    assert "“Cholesterol” was added to the chart." in text(response)
    assert AuditEvent.objects.filter(action="records.document.upload", actor=patient).exists()


def test_an_html_file_named_pdf_is_refused_with_a_message_on_the_file_field(client, patient):
    upload = SimpleUploadedFile("report.pdf", b"<!doctype html><html><script>alert(1)</script></html>")

    response = signed_in(client, patient).post(
        reverse("records:document_upload", args=[patient.pk]),
        {"document-file": upload, "document-category": "other"},
    )

    assert response.status_code == 415
    assert 'id="id_document-file-error"' in response.content.decode()
    assert not Document.objects.filter(patient=patient).exists()


def test_a_proxy_acting_for_the_patient_reads_their_chart_without_forms(client, chart, proxy):
    signed_in(client, proxy)
    session = client.session
    session[ACTING_FOR_SESSION_KEY] = chart.patient.pk
    session.save()

    response = client.get(URL)

    assert response.status_code == 200
    page = text(response)
    assert "Health of Pat Patient" in page
    assert "Penicillin" in page
    assert "Headaches in the morning." in page
    assert "Follow-up planned." not in page
    content = response.content.decode()
    assert reverse("records:vitals_add", args=[chart.patient.pk]) not in content
    assert reverse("records:document_upload", args=[chart.patient.pk]) not in content
    # The access log is the patient's own.
    assert reverse("records:access_log") not in content
    assert AuditEvent.objects.filter(
        action="records.chart.view", actor=proxy, patient=chart.patient, outcome="success"
    ).exists()


def test_a_proxy_cannot_add_a_reading_for_the_patient(client, patient, proxy):
    response = signed_in(client, proxy).post(
        reverse("records:vitals_add", args=[patient.pk]), {"vitals-heart_rate_bpm": "70"}
    )

    assert response.status_code == 403
    assert "Only the patient and their clinicians record vital signs." in text(response)
    assert not VitalSigns.objects.exists()
    assert AuditEvent.objects.filter(action="records.vitals.create", actor=proxy, outcome="denied").exists()


def test_a_patient_whose_email_is_unverified_sees_no_health_data_and_it_is_recorded(client, outsider_patient):
    response = signed_in(client, outsider_patient).get(URL)

    assert response.status_code == 404
    assert AuditEvent.objects.filter(actor=outsider_patient, action="records.chart.view", outcome="denied").exists()


def test_another_patient_posting_to_this_chart_gets_a_404_recorded_as_denied(client, patient):
    stranger = VerifiedPatientFactory()

    response = signed_in(client, stranger).post(
        reverse("records:vitals_add", args=[patient.pk]), {"vitals-heart_rate_bpm": "70"}
    )

    assert response.status_code == 404
    assert not VitalSigns.objects.exists()
    assert AuditEvent.objects.filter(
        actor=stranger, action="records.vitals.create", patient=patient, outcome="denied"
    ).exists()


def test_staff_are_sent_to_their_charts_and_admins_find_nothing(client, doctor, admin):
    assert signed_in(client, doctor).get(URL)["Location"] == reverse("records:patients")
    client.logout()
    assert signed_in(client, admin).get(URL).status_code == 404


def test_signing_in_is_required(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert "/login/" in response["Location"]
