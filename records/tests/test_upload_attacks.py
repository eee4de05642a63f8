"""Upload attacks (issue 5, "Done when"): oversized, renamed HTML, SVG with script, path
traversal in the name, an interrupted upload — and a database failure after the object was
written. Twice: against the service (`document_upload`), and over HTTP against the real
ASGI server (daphne, as in production) with raw sockets where a client must misbehave.

Every refusal leaves nothing behind: no row, no object in storage, no temporary file.
"""

from __future__ import annotations

import json
import re
import socket
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from django.core.cache import cache
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.db import DatabaseError, connection
from django.urls import reverse

from accounts.tests.factories import TEST_PASSWORD
from records.errors import RecordsError
from records.models import Document
from records.services.documents import PREFIX, document_upload
from records.tests import upload_samples as samples
from telemed.asgi_limits import FRAMING_ALLOWANCE

STORAGE_KEY = re.compile(rf"^{PREFIX}/[0-9a-f]{{32}}$")
HTML = (
    b"<!DOCTYPE html>\n<html><body><script>fetch('/api/v1/me').then(r => r.text()).then(alert)</script></body></html>\n"
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(document.domain)</script></svg>\n'


def stored_keys() -> set[str]:
    try:
        return set(default_storage.listdir(PREFIX)[1])
    except FileNotFoundError:
        return set()


# --- The service ----------------------------------------------------------------------------


@pytest.fixture
def attempt(db, patient, clinician):
    """Upload as the patient (or `actor`); returns the document, or the refusal after checking
    that nothing was stored."""

    def attempt(content: bytes, name: str, *, actor=None, **fields):
        before = stored_keys()
        try:
            return document_upload(
                actor=actor or patient, patient=patient, upload=samples.upload(content, name), **fields
            )
        except RecordsError as refused:
            assert not Document.objects.exists()
            assert stored_keys() == before
            return refused

    return attempt


def assert_refused(outcome, status: int, code: str) -> None:
    assert isinstance(outcome, RecordsError), f"stored: {outcome!r}"
    assert (outcome.status_code, outcome.code) == (status, code), outcome.message


class TestRenamedAndDisguisedFiles:
    @pytest.mark.parametrize(
        ("content", "name"),
        [
            (HTML, "results.pdf"),
            (HTML, "results.txt"),
            (SVG, "xray.png"),
            (b'<?xml version="1.0"?>\n' + SVG, "xray.jpg"),
            (samples.png() + b"<html><script>alert(1)</script></html>", "rash.png"),
            (samples.jpeg()[:200], "photo.jpg"),
            (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"garbage " * 40, "photo.jpg"),
            ("Blood pressure 128/82\n".encode("utf-16"), "readings.txt"),
            (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200, "lab.pdf"),
            (b"PK\x03\x04" + b"\x00" * 100, "scans.pdf"),
        ],
        ids=[
            "html-as-pdf",
            "html-as-text",
            "svg-as-png",
            "xml-svg-as-jpg",
            "png-with-html-appended",
            "truncated-jpeg",
            "garbage-behind-jpeg-header",
            "utf16-text",
            "windows-executable-as-pdf",
            "zip-as-pdf",
        ],
    )
    def test_it_refuses_what_the_bytes_say_is_not_an_allowed_file(self, attempt, content, name):
        assert_refused(attempt(content, name), 415, "upload_type_refused")

    @pytest.mark.parametrize(
        "pdf",
        [
            samples.script_in_names(),
            samples.built_pdf({4: b"<< /S /J#61vaScript /J#53 (app.alert\\(1\\)) >>"}, catalog=b"/OpenAction 4 0 R"),
            samples.script_in_names(packed=True),
        ],
        ids=["javascript", "escaped-name", "in-an-object-stream"],
    )
    def test_it_refuses_a_pdf_with_javascript_however_it_is_spelled_or_packed(self, attempt, pdf):
        outcome = attempt(pdf, "discharge-letter.pdf")

        assert_refused(outcome, 415, "upload_type_refused")
        assert "scripts" in outcome.message

    def test_a_real_pdf_named_anything_is_stored_as_a_pdf(self, attempt):
        document = attempt(samples.lab_report_pdf(), "lipids.html")

        assert (document.content_type, document.filename) == ("application/pdf", "lipids.pdf")


class TestNames:
    @pytest.mark.parametrize(
        ("name", "shown"),
        [
            ("../../etc/passwd.pdf", "passwd.pdf"),
            ("..\\..\\x.txt", "x.pdf"),
            ("/var/lib/telemed/media/documents/" + "0" * 32, "00000000000000000000000000000000.pdf"),
            ("scan\x00.pdf", "scan.pdf"),
            ("\u202egnp.pdf", "gnp.pdf"),
        ],
    )
    def test_no_part_of_the_name_reaches_the_storage_key_or_the_shown_name(self, attempt, name, shown):
        document = attempt(samples.lab_report_pdf(), name)

        assert STORAGE_KEY.match(document.storage_key)
        assert document.filename == shown
        assert "/" not in document.filename and "\\" not in document.filename
        assert document.title == shown  # no title given: the cleaned name stands in


class TestSizes:
    def test_an_empty_file_is_refused(self, attempt):
        assert_refused(attempt(b"", "empty.pdf"), 400, "upload_empty")

    def test_a_file_over_the_limit_is_refused(self, attempt, settings):
        settings.RECORDS_MAX_UPLOAD_BYTES = 2048

        outcome = attempt(b"A long letter.\n" * 200, "letter.txt")

        assert_refused(outcome, 413, "upload_too_large")

    def test_a_file_exactly_at_the_limit_is_stored(self, attempt, settings):
        settings.RECORDS_MAX_UPLOAD_BYTES = 2048
        content = (b"A letter of exactly the allowed size.\n" * 60)[:2047] + b"\n"

        assert attempt(content, "letter.txt").size_bytes == 2048

    def test_a_file_whose_declared_size_lies_is_measured_not_believed(self, db, patient, settings):
        settings.RECORDS_MAX_UPLOAD_BYTES = 2048
        upload = samples.upload(b"A long letter.\n" * 200, "letter.txt")
        upload.size = 10  # what a careless caller (or a custom upload handler) might claim

        with pytest.raises(RecordsError) as refused:
            document_upload(actor=patient, patient=patient, upload=upload)

        assert refused.value.code == "upload_too_large"

    def test_a_file_spooled_to_disk_is_stored_whole(self, attempt, db, patient):
        content = b"Home readings, twice a day.\n" * 60_000  # 1.7 MB: Django spools it to disk
        upload = TemporaryUploadedFile("readings.txt", "text/plain", len(content), None)
        upload.write(content)
        upload.seek(0)

        document = document_upload(actor=patient, patient=patient, upload=upload)

        assert document.size_bytes == len(content)
        upload.close()


class TestADatabaseFailureAfterTheObjectIsWritten:
    @pytest.fixture
    def refusing_database(self, db):
        # The database itself refuses the row (a trigger, as a full disk or a failover would):
        # the object is already written when the INSERT fails.
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "CREATE FUNCTION test_refuse_documents() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'no space left on device'; END $$"
                )
                cursor.execute(
                    "CREATE TRIGGER test_refuse_documents BEFORE INSERT ON records_document "
                    "FOR EACH ROW EXECUTE FUNCTION test_refuse_documents()"
                )
            else:
                cursor.execute(
                    "CREATE TRIGGER test_refuse_documents BEFORE INSERT ON records_document "
                    "BEGIN SELECT RAISE(ABORT, 'no space left on device'); END"
                )
        # Created inside the test's transaction: rolled back with it.

    def test_it_leaves_no_row_and_no_object(self, refusing_database, patient):
        before = stored_keys()

        with pytest.raises(DatabaseError, match="no space left"):
            document_upload(actor=patient, patient=patient, upload=samples.upload(samples.png(), "rash.png"))

        assert not Document.objects.exists()
        assert stored_keys() == before


# --- Over HTTP, against daphne --------------------------------------------------------------

LIMIT = 64 * 1024
BODY_LIMIT = LIMIT + FRAMING_ALLOWANCE


@pytest.fixture
def server(settings, tmp_path, monkeypatch, request, transactional_db):
    """The live ASGI server with a 64 KiB document limit, and Django's and Python's temporary
    files in directories of this test (set before the server process forks, so it inherits
    them)."""
    settings.RECORDS_MAX_UPLOAD_BYTES = LIMIT
    settings.CLAMD_URL = ""
    uploads, scratch = tmp_path / "uploads", tmp_path / "tmp"
    uploads.mkdir()
    scratch.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(uploads)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    cache.clear()  # sign-in throttles
    live = request.getfixturevalue("live_asgi")
    return SimpleNamespace(host=live.host, port=live.port, url=live.url, temp_dirs=(uploads, scratch))


@pytest.fixture
def token(server, patient) -> str:
    response = httpx.post(
        f"{server.url}/api/v1/auth/token/", json={"email": patient.email, "password": TEST_PASSWORD}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()["access"]


def documents_path(patient) -> str:
    return reverse("api:records_documents", kwargs={"patient_id": patient.pk})


def multipart(content: bytes, name: str, boundary: str = "telemed-test-boundary") -> tuple[bytes, str]:
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="title"\r\n\r\n'
            "Results\r\n"
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="category"\r\n\r\n'
            "lab_result\r\n"
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def request_head(server, path: str, token: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {server.host}:{server.port}", f"Authorization: Bearer {token}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket, timeout: float) -> tuple[int, dict]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body else {}


def _length(data: bytes) -> int:
    match = re.search(rb"(?im)^content-length:\s*(\d+)", data.split(b"\r\n\r\n", 1)[0])
    return int(match.group(1)) if match else 0


def no_temporary_files_left(server) -> bool:
    return all(not any(directory.iterdir()) for directory in server.temp_dirs)


class TestOversizedOverHttp:
    def test_a_declared_gigabyte_is_refused_at_once_without_the_client_sending_it(self, server, token, patient):
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(
                request_head(
                    server,
                    documents_path(patient),
                    token,
                    {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(10**9)},
                )
            )
            started = time.monotonic()

            status, body = read_response(sock, timeout=3)

        # Answered from the headers alone: not one byte of the body was sent or buffered.
        assert status == 413
        assert body["code"] == "upload_too_large"
        assert time.monotonic() - started < 3
        assert no_temporary_files_left(server)

    def test_a_chunked_body_without_a_length_is_cut_off_once_it_passes_the_limit(self, server, token, patient):
        chunk = b"x" * 16 * 1024
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(
                request_head(
                    server,
                    documents_path(patient),
                    token,
                    {"Content-Type": "multipart/form-data; boundary=x", "Transfer-Encoding": "chunked"},
                )
            )
            for _ in range(BODY_LIMIT // len(chunk) + 2):
                sock.sendall(frame)

            status, body = read_response(sock, timeout=5)

        assert status == 413
        assert body["code"] == "upload_too_large"
        assert not Document.objects.exists()

    def test_a_document_over_the_limit_within_the_framing_allowance_is_refused_by_the_service(
        self, server, token, patient
    ):
        content = (b"A letter that runs long.\n" * 4000)[: LIMIT + 1000]

        response = httpx.post(
            server.url + documents_path(patient),
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("letter.txt", content, "text/plain")},
            timeout=10,
        )

        assert response.status_code == 413
        assert response.json()["code"] == "upload_too_large"
        assert not Document.objects.exists()


class TestInterruptedUploadOverHttp:
    def test_a_complete_upload_over_the_same_socket_creates_the_document(self, server, token, patient):
        # The control for the next test: the same request, sent whole, is stored.
        body, content_type = multipart(samples.lab_report_pdf(lines=400), "lipids.pdf")
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(
                request_head(
                    server,
                    documents_path(patient),
                    token,
                    {"Content-Type": content_type, "Content-Length": str(len(body))},
                )
                + body
            )
            status, created = read_response(sock, timeout=10)

        assert status == 201, created
        assert Document.objects.filter(public_id=uuid.UUID(created["public_id"])).exists()

    def test_an_upload_cut_off_halfway_leaves_no_row_no_object_and_no_temporary_file(self, server, token, patient):
        before = stored_keys()
        body, content_type = multipart(samples.lab_report_pdf(lines=400), "lipids.pdf")
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(
                request_head(
                    server,
                    documents_path(patient),
                    token,
                    {"Content-Type": content_type, "Content-Length": str(len(body))},
                )
                + body[: len(body) // 2]
            )
            time.sleep(0.3)  # the server has the first half
        # The client is gone. Give the server time to notice and clean up.
        time.sleep(1.0)

        assert not Document.objects.exists()
        assert stored_keys() == before
        assert no_temporary_files_left(server)


class TestAttacksThroughTheApi:
    def post(self, server, token, patient, content: bytes, name: str, mime: str = "application/pdf"):
        return httpx.post(
            server.url + documents_path(patient),
            headers={"Authorization": f"Bearer {token}"},
            data={"title": "", "category": "lab_result"},
            files={"file": (name, content, mime)},
            timeout=10,
        )

    @pytest.mark.parametrize(
        ("content", "name", "mime"),
        [(HTML, "results.pdf", "application/pdf"), (SVG, "xray.png", "image/png")],
        ids=["renamed-html", "svg-with-script"],
    )
    def test_a_disguised_file_is_refused_with_415_and_nothing_stored(self, server, token, patient, content, name, mime):
        before = stored_keys()

        response = self.post(server, token, patient, content, name, mime)

        assert response.status_code == 415
        assert response.json()["code"] == "upload_type_refused"
        assert not Document.objects.exists()
        assert stored_keys() == before
        assert no_temporary_files_left(server)

    def test_a_traversal_name_is_stored_under_a_generated_key_and_shown_without_its_path(self, server, token, patient):
        before = stored_keys()

        response = self.post(server, token, patient, samples.lab_report_pdf(), "../../../etc/passwd.pdf")

        assert response.status_code == 201, response.text
        assert response.json()["filename"] == "passwd.pdf"
        document = Document.objects.get()
        assert STORAGE_KEY.match(document.storage_key)
        assert stored_keys() - before == {Path(document.storage_key).name}
        if isinstance(default_storage, FileSystemStorage):  # on S3 there is no path to escape to
            var = Path(default_storage.location).parent
            assert not list(var.rglob("passwd*"))
