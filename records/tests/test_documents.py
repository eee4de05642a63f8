"""Documents after upload: the integrity check on every download, the alert it raises, the
held-back last segment, and the orphan sweeper (service, Celery task, beat entry).

Stored objects are changed through the storage API, as someone with access to the bucket (or
a failing disk) would change them: these tests hold with the filesystem and with S3.
"""

import datetime as dt
import hashlib

import pytest
import time_machine
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.tests.factories import AdminFactory
from audit.models import AuditEvent
from records.errors import RecordsError
from records.models import Document, DocumentStatus
from records.services.documents import PREFIX, document_open, document_upload, documents_sweep_orphans
from records.tasks import documents_sweep_orphans_task
from records.tests import upload_samples as samples
from telemed.crypto import DecryptionError
from telemed.crypto.stream import SEGMENT_SIZE

pytestmark = pytest.mark.django_db


def stored_keys() -> set[str]:
    try:
        return {f"{PREFIX}/{name}" for name in default_storage.listdir(PREFIX)[1]}
    except FileNotFoundError:
        return set()


def stored_bytes(key: str) -> bytes:
    with default_storage.open(key, "rb") as stored:
        return stored.read()


def replace_object(key: str, content: bytes) -> None:
    default_storage.delete(key)
    assert default_storage.save(key, ContentFile(content)) == key


def flip_byte(key: str, at: int) -> None:
    content = bytearray(stored_bytes(key))
    content[at] ^= 0x01
    replace_object(key, bytes(content))


def long_text(segments: float = 3.5) -> bytes:
    line = b"2026-03-01 08:00 systolic 128 diastolic 82 pulse 64 - morning, seated, left arm\n"
    return (line * int(SEGMENT_SIZE * segments / len(line) + 1))[: int(SEGMENT_SIZE * segments)]


@pytest.fixture
def upload(patient, clinician):
    def upload(content: bytes = b"Lipid panel: LDL 2.4 mmol/L\n", name: str = "lipids.txt", actor=None) -> Document:
        return document_upload(
            actor=actor or clinician, patient=patient, upload=samples.upload(content, name), title="Lipid panel"
        )

    return upload


@pytest.fixture
def admins(admin):
    AdminFactory(email="second.admin@example.test")
    AdminFactory(email="former.admin@example.test", is_active=False)
    return ["admin@example.test", "second.admin@example.test"]


def read(document: Document, actor) -> bytes:
    return b"".join(document_open(document, actor=actor))


class TestAnIntactDocument:
    def test_it_reads_back_byte_for_byte_and_records_the_download(self, upload, patient):
        content = long_text()
        document = upload(content)

        assert read(document, patient) == content
        assert document.size_bytes == len(content)
        assert document.sha256 == hashlib.sha256(content).hexdigest()
        download = AuditEvent.objects.get(action="records.document.download")
        assert (download.actor, download.patient, download.outcome) == (patient, patient, "success")

    def test_what_is_stored_is_neither_the_plaintext_nor_under_a_name_anyone_chose(self, upload):
        content = b"Diagnosis: confidential words nobody should read in a bucket\n"
        document = upload(content, name="../../secret-diagnosis.txt")

        assert document.storage_key.startswith(f"{PREFIX}/")
        assert len(document.storage_key.removeprefix(f"{PREFIX}/")) == 32
        stored = stored_bytes(document.storage_key)
        assert b"confidential" not in stored
        assert b"secret" not in stored


class TestAChangedObject:
    def test_a_changed_byte_fails_the_download_marks_the_document_and_alerts_the_admins(
        self, upload, patient, admins, mailoutbox, django_capture_on_commit_callbacks
    ):
        document = upload()
        flip_byte(document.storage_key, -5)

        with django_capture_on_commit_callbacks(execute=True), pytest.raises(RecordsError) as refused:
            document_open(document, actor=patient)

        assert refused.value.status_code == 409
        assert refused.value.code == "document_integrity_failed"
        document.refresh_from_db()
        assert document.status == DocumentStatus.INTEGRITY_FAILED
        assert document.integrity_failed_at is not None
        event = AuditEvent.objects.get(action="records.document.integrity_failed")
        assert (event.actor, event.patient, event.outcome) == (patient, patient, "failure")
        assert event.target_id == str(document.pk)
        assert not AuditEvent.objects.filter(action="records.document.download", outcome="success").exists()
        assert len(mailoutbox) == 1
        mail = mailoutbox[0]
        assert sorted(mail.to) == admins
        assert "integrity" in mail.subject
        assert str(document.public_id) in mail.body
        assert f"/admin/records/document/{document.pk}/" in mail.body

    def test_the_next_download_is_refused_as_unavailable_and_mails_nobody_again(
        self, upload, patient, admins, mailoutbox, django_capture_on_commit_callbacks
    ):
        document = upload()
        flip_byte(document.storage_key, 60)
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(RecordsError):
            document_open(document, actor=patient)
        document.refresh_from_db()

        with django_capture_on_commit_callbacks(execute=True), pytest.raises(RecordsError) as refused:
            document_open(document, actor=patient)

        assert (refused.value.status_code, refused.value.code) == (410, "document_unavailable")
        assert len(mailoutbox) == 1

    def test_a_deleted_object_fails_the_same_way(
        self, upload, patient, admins, mailoutbox, django_capture_on_commit_callbacks
    ):
        document = upload()
        default_storage.delete(document.storage_key)

        with django_capture_on_commit_callbacks(execute=True), pytest.raises(RecordsError) as refused:
            document_open(document, actor=patient)

        assert (refused.value.status_code, refused.value.code) == (409, "document_integrity_failed")
        document.refresh_from_db()
        assert document.status == DocumentStatus.INTEGRITY_FAILED
        assert "missing" in AuditEvent.objects.get(action="records.document.integrity_failed").reason
        assert len(mailoutbox) == 1

    def test_another_documents_ciphertext_put_at_this_key_is_refused_even_with_the_same_content(
        self, upload, patient, admins, mailoutbox, django_capture_on_commit_callbacks
    ):
        # Each object is sealed for its own document (the public id is in the encryption
        # context): a genuine object moved under another row does not decrypt there.
        content = b"The same words in both files.\n"
        mine, other = upload(content), upload(content)
        replace_object(mine.storage_key, stored_bytes(other.storage_key))

        with django_capture_on_commit_callbacks(execute=True), pytest.raises(RecordsError) as refused:
            document_open(mine, actor=patient)

        assert refused.value.code == "document_integrity_failed"
        assert read(other, patient) == content
        assert len(mailoutbox) == 1

    def test_an_object_cut_at_a_segment_boundary_is_refused(self, upload, patient, admins):
        document = upload(long_text(3.5))
        stored = stored_bytes(document.storage_key)
        # Drop the last sealed segment (half a segment of plaintext + the 16-byte tag).
        replace_object(document.storage_key, stored[: -(SEGMENT_SIZE // 2 + 16)])

        with pytest.raises(RecordsError) as refused:
            document_open(document, actor=patient)

        assert refused.value.code == "document_integrity_failed"


class TestTheHeldBackSegment:
    def test_an_object_changed_after_the_check_breaks_the_stream_before_its_end(self, upload, patient):
        content = long_text(4.5)
        document = upload(content)
        chunks = document_open(document, actor=patient)  # checked: the object was intact
        flip_byte(document.storage_key, -3)  # then changed, before the bytes are sent

        received = []
        with pytest.raises(DecryptionError):
            for chunk in chunks:
                received.append(chunk)

        sent = b"".join(received)
        assert content.startswith(sent)
        # Not one byte of the last two segments left: the one that failed, and the one held
        # back until the whole file was known to be right.
        assert len(sent) <= len(content) - SEGMENT_SIZE

    def test_an_intact_object_streams_every_segment_in_order(self, upload, patient):
        content = long_text(4.5)
        document = upload(content)

        chunks = list(document_open(document, actor=patient))

        assert len(chunks) == 5
        assert b"".join(chunks) == content


class TestOrphanSweeper:
    @pytest.fixture
    def orphan(self):
        key = default_storage.save(
            f"{PREFIX}/{'ab' * 16}", ContentFile(b"TMS\x01 a sealed upload whose row never came")
        )
        yield key
        default_storage.delete(key)

    def test_an_object_without_a_row_is_deleted_once_older_than_the_age(self, orphan):
        later = timezone.now() + dt.timedelta(seconds=settings.DOCUMENT_ORPHAN_AGE_SECONDS + 60)

        removed = documents_sweep_orphans(now=later)

        assert orphan in removed
        assert orphan not in stored_keys()

    def test_a_young_object_without_a_row_is_kept(self, orphan):
        # It may be an upload between writing its object and committing its row.
        removed = documents_sweep_orphans()

        assert orphan not in removed
        assert orphan in stored_keys()

    def test_objects_with_rows_are_kept_however_old(self, upload, patient, orphan):
        document = upload()
        much_later = timezone.now() + dt.timedelta(days=365)

        removed = documents_sweep_orphans(now=much_later)

        assert document.storage_key not in removed
        assert orphan in removed
        assert read(document, patient) == b"Lipid panel: LDL 2.4 mmol/L\n"

    def test_the_celery_task_sweeps_and_says_how_many_it_removed(self, upload, orphan):
        kept = upload().storage_key
        with time_machine.travel(timezone.now() + dt.timedelta(hours=2), tick=False):
            result = documents_sweep_orphans_task.apply()

        assert result.successful()
        assert result.get() >= 1
        assert orphan not in stored_keys()
        assert kept in stored_keys()

    def test_a_second_run_finds_nothing_more_to_do(self, orphan):
        later = timezone.now() + dt.timedelta(hours=2)
        documents_sweep_orphans(now=later)

        assert orphan not in documents_sweep_orphans(now=later)

    def test_beat_runs_the_sweeper_every_fifteen_minutes_by_default(self):
        from telemed.celery import app

        app.loader.import_default_modules()
        entry = settings.CELERY_BEAT_SCHEDULE["records-documents-sweep-orphans"]

        assert entry["task"] == documents_sweep_orphans_task.name
        assert entry["task"] in app.tasks
        assert entry["schedule"] == 900.0
