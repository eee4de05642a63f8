"""Virus scanning against a real ClamAV daemon (Debian's clamav-daemon, `make system-deps`).

There is no network for freshclam, so the fixture starts its own clamd on a unix socket in a
temporary directory with a signature database written here: the MD5 of the EICAR test file
(an .hdb hash signature) and its bytes anywhere in a file (an .ndb body signature). One
daemon serves the whole session and is always stopped.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from records.errors import RecordsError
from records.models import Document, ScanStatus
from records.scanning import ClamdScanner, NoScanner, ScanUnavailable, scanner
from records.services.documents import PREFIX, document_upload
from records.tests import upload_samples as samples
from records.tests.upload_samples import EICAR

CLAMD_START_SECONDS = 60


def _ping(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(path)
            sock.sendall(b"zPING\0")
            return sock.recv(16) == b"PONG\0"
    except OSError:
        return False


@pytest.fixture(scope="session")
def clamd_url(tmp_path_factory) -> Iterator[str]:
    """`unix:///…/clamd.sock` of a clamd that knows the EICAR test file as malware."""
    binary = shutil.which("clamd") or "/usr/sbin/clamd"
    assert Path(binary).exists(), "clamd is missing: install Debian's clamav-daemon (make system-deps)"
    home = tmp_path_factory.mktemp("clamd")
    database = home / "db"
    database.mkdir()
    (database / "telemed-test.hdb").write_text(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:Telemed.Test.EICAR\n")
    (database / "telemed-test.ndb").write_text(f"Telemed.Test.EICAR.Body:0:*:{EICAR.hex()}\n")
    sock = home / "clamd.sock"
    config = home / "clamd.conf"
    # No User: clamd keeps the user that started it (dropping privileges needs a "clamav" user).
    config.write_text(
        "\n".join(
            [
                "Foreground yes",
                f"LocalSocket {sock}",
                f"DatabaseDirectory {database}",
                f"TemporaryDirectory {home}",
                f"LogFile {home / 'clamd.log'}",
                "LogTime yes",
                "SelfCheck 0",
                "StreamMaxLength 25M",
                "",
            ]
        )
    )
    process = subprocess.Popen(
        [binary, f"--config-file={config}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + CLAMD_START_SECONDS
        while not _ping(str(sock)):
            if process.poll() is not None:
                log = (home / "clamd.log").read_text() if (home / "clamd.log").exists() else ""
                pytest.fail(f"clamd exited with {process.returncode}: {process.stderr.read()}\n{log}")
            if time.monotonic() > deadline:
                pytest.fail(f"clamd did not answer PING within {CLAMD_START_SECONDS} s")
            time.sleep(0.1)
        yield f"unix://{sock}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def clamd(settings, clamd_url) -> str:
    settings.CLAMD_URL = clamd_url
    return clamd_url


def stored_keys() -> set[str]:
    from django.core.files.storage import default_storage

    try:
        return set(default_storage.listdir(PREFIX)[1])
    except FileNotFoundError:
        return set()


@pytest.fixture
def upload_as(db, patient):
    def upload(content: bytes, name: str, actor=None) -> Document:
        return document_upload(actor=actor or patient, patient=patient, upload=samples.upload(content, name))

    return upload


class TestTheClient:
    def test_it_finds_the_test_signature_in_a_stream(self, clamd_url):
        result = ClamdScanner(clamd_url, timeout=10).scan([EICAR])

        assert (result.scanned, result.infected) == (True, True)
        # Both test signatures match; clamd names the first (local ones end in .UNOFFICIAL).
        assert result.signature.startswith("Telemed.Test.EICAR")
        assert result.signature.endswith(".UNOFFICIAL")

    def test_it_finds_the_body_signature_across_chunk_boundaries(self, clamd_url):
        # The marker split across the client's chunks: clamd reassembles the stream.
        padded = b"%PDF-1.4\n" + b"x" * 70_000 + EICAR + b"\n%%EOF\n"
        cut = 70_005

        result = ClamdScanner(clamd_url, timeout=10).scan([padded[:cut], padded[cut:]])

        assert result.infected
        assert result.signature.startswith("Telemed.Test.EICAR")

    def test_a_clean_stream_is_scanned_and_clean(self, clamd_url):
        result = ClamdScanner(clamd_url, timeout=10).scan([samples.lab_report_pdf()])

        assert (result.scanned, result.infected) == (True, False)

    def test_an_unreachable_daemon_is_an_error_not_a_clean_result(self, tmp_path):
        with pytest.raises(ScanUnavailable):
            ClamdScanner(f"unix://{tmp_path / 'nobody-listens.sock'}", timeout=2).scan([b"hello"])

    def test_a_stream_over_clamds_limit_is_an_error_not_a_clean_result(self, clamd_url):
        # StreamMaxLength is 25 MB here: clamd answers "INSTREAM size limit exceeded".
        chunk = b"\0" * (1024 * 1024)

        with pytest.raises(ScanUnavailable):
            ClamdScanner(clamd_url, timeout=30).scan(chunk for _ in range(26))

    @pytest.mark.parametrize("url", ["clamd.local:3310", "http://clamd:3310", "tcp://"])
    def test_a_malformed_url_is_refused_loudly(self, url):
        with pytest.raises(ValueError):
            ClamdScanner(url, timeout=1)

    def test_no_url_means_no_scanner(self, settings):
        settings.CLAMD_URL = ""

        assert isinstance(scanner(), NoScanner)


class TestUploadsThroughTheScanner:
    def test_the_eicar_file_is_refused_as_infected_and_nothing_is_stored(self, clamd, upload_as):
        before = stored_keys()

        with pytest.raises(RecordsError) as refused:
            upload_as(EICAR, "results.txt")

        assert (refused.value.status_code, refused.value.code) == (422, "upload_infected")
        assert "malware" in refused.value.message
        assert not Document.objects.exists()
        assert stored_keys() == before

    def test_a_pdf_carrying_the_test_signature_is_refused(self, clamd, upload_as):
        pdf = samples.built_pdf({4: b"<< /Length %d >>\nstream\n" % len(EICAR) + EICAR + b"\nendstream"})

        with pytest.raises(RecordsError) as refused:
            upload_as(pdf, "letter.pdf")

        assert refused.value.code == "upload_infected"
        assert not Document.objects.exists()

    def test_a_clean_file_is_stored_as_scanned_clean_with_the_time(self, clamd, upload_as):
        before = timezone.now()

        document = upload_as(samples.lab_report_pdf(), "lipids.pdf")

        assert document.scan_status == ScanStatus.CLEAN
        assert before <= document.scanned_at <= timezone.now()
        assert document.get_scan_status_display() == "No threat found"

    def test_a_configured_but_stopped_daemon_refuses_the_upload_with_503(self, settings, tmp_path, upload_as):
        settings.CLAMD_URL = f"unix://{tmp_path / 'clamd.sock'}"  # configured, nobody answering
        before = stored_keys()

        with pytest.raises(RecordsError) as refused:
            upload_as(samples.png(), "rash.png")

        assert (refused.value.status_code, refused.value.code) == (503, "upload_scan_failed")
        assert not Document.objects.exists()
        assert stored_keys() == before

    def test_a_daemon_on_a_closed_tcp_port_refuses_the_upload_with_503(self, settings, upload_as):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        settings.CLAMD_URL = f"tcp://127.0.0.1:{port}"

        with pytest.raises(RecordsError) as refused:
            upload_as(samples.png(), "rash.png")

        assert refused.value.code == "upload_scan_failed"

    def test_without_a_configured_scanner_the_document_says_not_scanned(self, settings, upload_as):
        settings.CLAMD_URL = ""

        document = upload_as(samples.png(), "rash.png")

        assert document.scan_status == ScanStatus.NOT_SCANNED
        assert document.scanned_at is None
        assert document.get_scan_status_display() == "Not scanned"
