"""The document download page: an attachment streamed after the checks, never cached or sniffed;
a changed file refused with an honest page; outsiders meet a 404 recorded as denied."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.tests.factories import otp_force_login
from audit.models import AuditEvent
from records.models import DocumentStatus
from records.services.documents import document_upload

pytestmark = pytest.mark.django_db

CONTENT = b"Full blood count\nHb 13.5 g/dL\nWBC 6.1\n"


@pytest.fixture
def document(patient, clinician):
    return document_upload(
        actor=clinician,
        patient=patient,
        upload=SimpleUploadedFile("../../etc/FBC result <march>.txt", CONTENT),
        title="Full blood count",
        category="lab_result",
    )


def url(document) -> str:
    return reverse("records:document_download", args=[document.public_id])


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_patient_downloads_the_file_as_an_attachment_that_is_never_cached(client, patient, document):
    client.force_login(patient)

    response = client.get(url(document))

    assert response.status_code == 200
    assert body(response) == CONTENT
    assert response["Content-Type"] == "text/plain"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "/" not in disposition and ".." not in disposition and "<" not in disposition
    assert document.filename in disposition
    assert "no-store" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Length"] == str(len(CONTENT))
    event = AuditEvent.objects.filter(action="records.document.download", target_type="records.document").get()
    assert (event.actor, event.patient, event.outcome) == (patient, patient, "success")


@pytest.mark.parametrize("persona", ["doctor", "nurse", "proxy"])
def test_the_care_team_and_the_proxy_download_it_too(client, request, document, persona):
    user = request.getfixturevalue(persona)
    if user.is_staff_role:
        otp_force_login(client, user)
    else:
        client.force_login(user)

    response = client.get(url(document))

    assert response.status_code == 200
    assert body(response) == CONTENT


@pytest.mark.parametrize("persona", ["outsider_doctor", "outsider_patient", "admin"])
def test_outsiders_get_a_404_recorded_as_denied(client, request, document, persona):
    user = request.getfixturevalue(persona)
    if user.is_staff_role:
        otp_force_login(client, user)
    else:
        client.force_login(user)

    response = client.get(url(document))

    assert response.status_code == 404
    assert CONTENT not in response.content
    assert AuditEvent.objects.filter(actor=user, action="records.document.download", outcome="denied").exists()


def test_an_unknown_document_is_a_404(client, patient):
    client.force_login(patient)

    assert client.get("/records/documents/00000000-0000-4000-8000-000000000000/download/").status_code == 404


def test_a_changed_file_is_refused_with_a_page_saying_the_clinic_was_alerted(client, patient, document, admin):
    with default_storage.open(document.storage_key, "rb") as stored:
        sealed = bytearray(stored.read())
    sealed[-5] ^= 0x01
    default_storage.delete(document.storage_key)
    default_storage.save(document.storage_key, ContentFile(bytes(sealed)))
    client.force_login(patient)

    response = client.get(url(document))

    assert response.status_code == 409
    page = response.content.decode()
    assert "This document cannot be downloaded" in page
    assert "The clinic has been alerted." in page
    document.refresh_from_db()
    assert document.status == DocumentStatus.INTEGRITY_FAILED
    # Afterwards the chart says so instead of offering the download.
    chart = client.get(reverse("records:my_health")).content.decode()
    assert url(document) not in chart
    assert "it failed its integrity check" in chart


# --- Withdrawing a document filed by mistake -------------------------------------------------


def withdraw_url(document) -> str:
    return reverse("records:document_withdraw", args=[document.public_id])


def test_the_patient_withdraws_their_own_upload_and_it_leaves_the_chart_audited(client, patient):
    own = document_upload(
        actor=patient, patient=patient, upload=SimpleUploadedFile("scan.txt", CONTENT), title="Wrong scan"
    )
    client.force_login(patient)

    assert "Withdraw" in client.get(withdraw_url(own)).content.decode()
    response = client.post(withdraw_url(own), {"error-reason": "Uploaded the wrong file."})

    assert response.status_code == 302
    own.refresh_from_db()
    assert own.status == DocumentStatus.ENTERED_IN_ERROR
    client.get(reverse("records:my_health"))  # shows (and uses up) the "was withdrawn" message
    assert "Wrong scan" not in client.get(reverse("records:my_health")).content.decode()
    assert client.get(url(own)).status_code == 410
    event = AuditEvent.objects.get(action="records.document.entered_in_error", outcome="success")
    assert (event.actor, event.patient) == (patient, patient)
    assert "Uploaded the wrong file." in event.reason


def test_a_reason_is_required(client, patient):
    own = document_upload(actor=patient, patient=patient, upload=SimpleUploadedFile("scan.txt", CONTENT), title="Scan")
    client.force_login(patient)

    response = client.post(withdraw_url(own), {"error-reason": ""})

    assert response.status_code == 400
    own.refresh_from_db()
    assert own.status == DocumentStatus.AVAILABLE


def test_the_patient_may_not_withdraw_what_the_clinic_filed(client, patient, document):
    client.force_login(patient)

    response = client.post(withdraw_url(document), {"error-reason": "I do not like it."})

    assert response.status_code == 403
    document.refresh_from_db()
    assert document.status == DocumentStatus.AVAILABLE


def test_the_doctor_withdraws_a_document_and_the_nurse_may_not(client, doctor, nurse, document):
    otp_force_login(client, nurse)
    assert client.post(withdraw_url(document), {"error-reason": "Wrong patient."}).status_code == 403

    otp_force_login(client, doctor)
    assert client.post(withdraw_url(document), {"error-reason": "Wrong patient."}).status_code == 302
    document.refresh_from_db()
    assert document.status == DocumentStatus.ENTERED_IN_ERROR


@pytest.mark.parametrize("persona", ["outsider_doctor", "outsider_patient", "admin"])
def test_outsiders_cannot_withdraw_and_are_recorded_as_denied(client, request, document, persona):
    user = request.getfixturevalue(persona)
    if user.is_staff_role:
        otp_force_login(client, user)
    else:
        client.force_login(user)

    assert client.post(withdraw_url(document), {"error-reason": "x"}).status_code == 404
    assert AuditEvent.objects.filter(actor=user, action="records.document.entered_in_error", outcome="denied").exists()
