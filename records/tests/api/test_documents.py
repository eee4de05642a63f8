"""Documents over the API: uploads (checked by content, scanned, stored encrypted), the list and
metadata, downloads (headers, bytes, streaming under ASGI, a tampered object refused), and
withdrawing a document filed by mistake."""

from __future__ import annotations

import io
import socket
import uuid
import warnings

import pytest
from asgiref.sync import async_to_sync
from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncClient
from PIL import Image

from accounts.tests.factories import otp_verified_user
from audit.models import AuditEvent
from records.models import Document
from records.services.documents import document_upload
from records.tests.api.conftest import assert_error, denied

pytestmark = pytest.mark.django_db

LAB_TEXT = b"Haemoglobin 13.5 g/dL\nWhite cells 6.1 x10^9/L\n"
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def url(patient) -> str:
    return f"/api/v1/patients/{patient.pk}/documents/"


def document_url(document, suffix: str = "") -> str:
    return f"/api/v1/records/documents/{document.public_id}/{suffix}"


def upload(client, patient, name: str, content: bytes, **fields):
    return client.post(url(patient), {"file": SimpleUploadedFile(name, content), **fields}, format="multipart")


@pytest.fixture
def lab_result(patient):
    """The patient's own upload, through the service (stored encrypted)."""
    return document_upload(
        actor=patient, patient=patient, upload=SimpleUploadedFile("result.txt", LAB_TEXT), title="Blood count"
    )


@pytest.fixture
def letter(patient, clinician):
    return document_upload(
        actor=clinician, patient=patient, upload=SimpleUploadedFile("letter.pdf", PDF), title="Referral letter"
    )


def _tamper(document: Document) -> None:
    """Change one byte of the stored (encrypted) object, as a bucket compromise or bit rot would."""
    with default_storage.open(document.storage_key, "rb") as stored:
        data = bytearray(stored.read())
    data[len(data) // 2] ^= 0x01
    default_storage.delete(document.storage_key)
    assert default_storage.save(document.storage_key, ContentFile(bytes(data))) == document.storage_key


class TestUpload:
    def test_the_patient_uploads_a_file_and_gets_its_metadata(self, signed_in, patient):
        response = upload(
            signed_in(patient), patient, "result.txt", LAB_TEXT, title="Blood count", category="lab_result"
        )

        assert response.status_code == 201, response.content
        body = response.json()
        document = Document.objects.get()
        assert body["public_id"] == str(document.public_id)
        assert (body["title"], body["filename"], body["category"]) == ("Blood count", "result.txt", "lab_result")
        assert (body["content_type"], body["size_bytes"]) == ("text/plain", len(LAB_TEXT))
        assert (body["scan_status"], body["status"], body["source"]) == ("not_scanned", "available", "patient")
        assert body["download_url"] == f"http://testserver{document_url(document, 'download/')}"
        assert len(body["sha256"]) == 64
        assert AuditEvent.objects.get(action="records.document.upload").actor == patient

    def test_a_doctor_uploads_a_pdf_for_their_patient(self, signed_in, doctor, patient):
        response = upload(signed_in(doctor), patient, "letter.pdf", PDF)

        assert response.status_code == 201, response.content
        assert (response.json()["source"], response.json()["title"]) == ("clinician", "letter.pdf")

    def test_an_image_is_stored_as_what_it_is_whatever_its_name(self, signed_in, patient):
        response = upload(signed_in(patient), patient, "rash.pdf", png(), category="photo")

        assert response.status_code == 201, response.content
        assert (response.json()["content_type"], response.json()["filename"]) == ("image/png", "rash.png")

    def test_a_path_in_the_name_is_dropped_and_never_reaches_the_storage_key(self, signed_in, patient):
        response = upload(signed_in(patient), patient, "../../etc/passwd.txt", LAB_TEXT)

        assert response.json()["filename"] == "passwd.txt"
        key = Document.objects.get().storage_key
        assert key.startswith("documents/") and "passwd" not in key and ".." not in key

    @pytest.mark.parametrize(
        ("name", "content"),
        [
            ("report.pdf", b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"),
            ("chart.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ],
    )
    def test_html_or_svg_under_any_name_is_refused(self, signed_in, patient, name, content):
        assert_error(upload(signed_in(patient), patient, name, content), 415, "upload_type_refused")
        assert not Document.objects.exists()

    def test_a_file_over_the_limit_is_refused(self, signed_in, patient, settings):
        settings.RECORDS_MAX_UPLOAD_BYTES = 2048

        assert_error(upload(signed_in(patient), patient, "big.txt", b"a" * 4096), 413, "upload_too_large")
        assert not Document.objects.exists()

    def test_an_empty_file_is_refused(self, signed_in, patient):
        assert_error(upload(signed_in(patient), patient, "empty.txt", b""), 400, "upload_empty")

    def test_a_file_is_required_and_a_category_from_the_list(self, signed_in, patient):
        response = signed_in(patient).post(url(patient), {"title": "x", "category": "tarot"}, format="multipart")

        assert set(assert_error(response, 400, "invalid")["fields"]) == {"file", "category"}

    def test_an_upload_is_multipart(self, signed_in, patient):
        response = signed_in(patient).post(url(patient), {"title": "x"}, format="json")

        assert_error(response, 415, "unsupported_media_type")

    def test_a_clean_scan_is_recorded(self, signed_in, patient, fake_clamd):
        response = upload(signed_in(patient), patient, "result.txt", LAB_TEXT)

        assert response.json()["scan_status"] == "clean"
        assert fake_clamd.received == [LAB_TEXT]

    def test_malware_is_refused(self, signed_in, patient, fake_clamd):
        fake_clamd.reply = b"stream: Eicar-Test-Signature FOUND\0"

        assert_error(upload(signed_in(patient), patient, "result.txt", LAB_TEXT), 422, "upload_infected")
        assert not Document.objects.exists()

    def test_a_configured_scanner_that_does_not_answer_refuses_the_upload(self, signed_in, patient, settings):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        settings.CLAMD_URL = f"tcp://127.0.0.1:{port}"

        assert_error(upload(signed_in(patient), patient, "result.txt", LAB_TEXT), 503, "upload_scan_failed")
        assert not Document.objects.exists()

    @pytest.mark.parametrize("persona", ["proxy", "nurse"])
    def test_a_proxy_or_a_nurse_does_not_upload(self, request, signed_in, patient, persona):
        user = request.getfixturevalue(persona)

        assert_error(upload(signed_in(user), patient, "result.txt", LAB_TEXT), 403, "records_forbidden")
        assert len(denied(user, action="records.document.upload")) == 1

    @pytest.mark.parametrize("persona", ["outsider_doctor", "admin", "outsider_patient"])
    def test_outsiders_get_not_found_and_are_audited(self, request, signed_in, patient, persona):
        user = request.getfixturevalue(persona)

        assert_error(upload(signed_in(user), patient, "result.txt", LAB_TEXT), 404, "not_found")
        assert len(denied(user, action="records.document.upload")) == 1
        assert not Document.objects.exists()


class TestRead:
    def test_the_list_and_one_documents_metadata(self, signed_in, proxy, patient, lab_result, letter):
        client = signed_in(proxy)

        listed = client.get(url(patient)).json()["results"]
        one = client.get(document_url(lab_result)).json()

        assert [item["title"] for item in listed] == ["Referral letter", "Blood count"]
        assert one == next(item for item in listed if item["public_id"] == str(lab_result.public_id))
        assert one["recorded_by"] == {"id": patient.pk, "name": "Pat Patient", "role": "patient"}

    @pytest.mark.parametrize("persona", ["outsider_doctor", "admin"])
    def test_outsiders_get_not_found_on_a_document_and_are_audited(self, request, signed_in, lab_result, persona):
        user = request.getfixturevalue(persona)

        assert_error(signed_in(user).get(document_url(lab_result)), 404, "not_found")
        assert_error(signed_in(user).get(document_url(lab_result, "download/")), 404, "not_found")
        assert len(denied(user)) == 2

    def test_an_unknown_document_is_not_found_and_audited(self, signed_in, patient):
        missing = f"/api/v1/records/documents/{uuid.uuid4()}/download/"

        assert_error(signed_in(patient).get(missing), 404, "not_found")
        assert [event.target_type for event in denied(patient)] == ["records.document"]


class TestDownload:
    @pytest.mark.parametrize("persona", ["patient", "proxy", "doctor", "nurse"])
    def test_the_bytes_come_back_as_uploaded_with_safe_headers(self, request, signed_in, lab_result, persona):
        response = signed_in(request.getfixturevalue(persona)).get(document_url(lab_result, "download/"))

        assert response.status_code == 200
        assert b"".join(response.streaming_content) == LAB_TEXT
        assert response["Content-Type"] == "text/plain"
        assert response["Content-Disposition"] == 'attachment; filename="result.txt"'
        assert response["Content-Length"] == str(len(LAB_TEXT))
        assert response["Cache-Control"] == "no-store"
        assert response["X-Content-Type-Options"] == "nosniff"

    def test_each_download_is_audited(self, signed_in, doctor, lab_result):
        b"".join(signed_in(doctor).get(document_url(lab_result, "download/")).streaming_content)

        event = AuditEvent.objects.get(action="records.document.download", target_type="records.document")
        assert (event.actor, event.outcome) == (doctor, "success")

    def test_a_name_that_is_not_ascii_is_offered_as_rfc_6266_says(self, signed_in, patient):
        document = document_upload(
            actor=patient, patient=patient, upload=SimpleUploadedFile("Résultat sanguin.txt", LAB_TEXT)
        )

        response = signed_in(patient).get(document_url(document, "download/"))

        assert response["Content-Disposition"] == (
            "attachment; filename=\"R_sultat sanguin.txt\"; filename*=UTF-8''R%C3%A9sultat%20sanguin.txt"
        )

    def test_an_image_keeps_its_type(self, signed_in, patient):
        image = png()
        document = document_upload(actor=patient, patient=patient, upload=SimpleUploadedFile("rash.png", image))

        response = signed_in(patient).get(document_url(document, "download/"))

        assert response["Content-Type"] == "image/png"
        assert b"".join(response.streaming_content) == image

    def test_a_client_asking_for_the_files_type_still_gets_errors_as_json(self, signed_in, outsider_doctor, letter):
        response = signed_in(outsider_doctor).get(document_url(letter, "download/"), HTTP_ACCEPT="application/pdf")

        assert_error(response, 404, "not_found")

    def test_a_changed_byte_in_storage_refuses_the_download_marks_the_document_and_alerts_admins(
        self, signed_in, patient, admin, lab_result, django_capture_on_commit_callbacks
    ):
        _tamper(lab_result)

        with django_capture_on_commit_callbacks(execute=True):
            response = signed_in(patient).get(document_url(lab_result, "download/"))

        assert_error(response, 409, "document_integrity_failed")
        lab_result.refresh_from_db()
        assert lab_result.status == "integrity_failed"
        [alert] = mail.outbox
        assert alert.to == [admin.email]
        assert str(lab_result.public_id) in alert.body
        assert AuditEvent.objects.get(action="records.document.integrity_failed").outcome == "failure"
        # Known to be damaged from now on.
        assert_error(signed_in(patient).get(document_url(lab_result, "download/")), 410, "document_unavailable")
        assert signed_in(patient).get(document_url(lab_result)).json()["status"] == "integrity_failed"

    def test_under_asgi_a_large_file_streams_in_several_chunks(self, patient):
        content = b"Potassium 4.1 mmol/L and sodium 140 mmol/L.\n" * 20000
        document = document_upload(actor=patient, patient=patient, upload=SimpleUploadedFile("panel.txt", content))
        client = AsyncClient()
        client.force_login(patient)

        async def download():
            response = await client.get(document_url(document, "download/"))
            return response, [chunk async for chunk in response.streaming_content]

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            response, chunks = async_to_sync(download)()

        assert response.status_code == 200
        # Django reads a synchronous iterator wholly into memory under ASGI, and says so.
        assert not [warning for warning in caught if "must consume" in str(warning.message)]
        assert response.is_async
        assert len(chunks) > 1
        assert b"".join(chunks) == content


class TestEnteredInError:
    def test_the_patient_withdraws_their_own_upload(self, signed_in, patient, lab_result):
        client = signed_in(patient)

        response = client.post(document_url(lab_result, "entered-in-error/"), {"reason": "Wrong file"})

        assert response.status_code == 200, response.content
        assert response.json()["status"] == "entered_in_error"
        assert client.get(url(patient)).json()["count"] == 0
        assert_error(client.get(document_url(lab_result, "download/")), 410, "document_unavailable")

    def test_the_patient_does_not_withdraw_what_the_clinic_filed(self, signed_in, patient, letter):
        response = signed_in(patient).post(document_url(letter, "entered-in-error/"), {"reason": "I don't like it"})

        assert_error(response, 403, "records_forbidden")

    def test_a_doctor_withdraws_a_document(self, signed_in, doctor, lab_result):
        response = signed_in(doctor).post(document_url(lab_result, "entered-in-error/"), {"reason": "Other patient's"})

        assert response.status_code == 200

    @pytest.mark.parametrize("persona", ["proxy", "nurse"])
    def test_a_proxy_or_a_nurse_does_not(self, request, signed_in, lab_result, persona):
        response = signed_in(request.getfixturevalue(persona)).post(
            document_url(lab_result, "entered-in-error/"), {"reason": "x"}
        )

        assert_error(response, 403, "records_forbidden")

    def test_a_reason_is_required(self, signed_in, patient, lab_result):
        response = signed_in(patient).post(document_url(lab_result, "entered-in-error/"), {"reason": ""})

        assert list(assert_error(response, 400, "invalid")["fields"]) == ["reason"]

    def test_an_outsider_doctor_gets_not_found(self, signed_in, outsider_doctor, lab_result):
        response = signed_in(outsider_doctor).post(document_url(lab_result, "entered-in-error/"), {"reason": "x"})

        assert_error(response, 404, "not_found")
        assert len(denied(otp_verified_user(outsider_doctor), action="records.document.entered_in_error")) == 1
