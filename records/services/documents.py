"""Documents: stored encrypted under a generated key, checked on every download.

Upload (`document_upload`):
1. the policy (patient, or a doctor caring for them);
2. size (the ASGI limit in telemed.asgi_limits has already refused a body over
   RECORDS_MAX_UPLOAD_BYTES before it was buffered; this is the same rule for callers that
   are not HTTP) and type, decided from the bytes (`records.uploads.sniff`);
3. the virus scan (`records.scanning`): refused if infected, refused if clamd is configured
   but unreachable, recorded "not scanned" when no scanner is configured;
4. SHA-256 of the plaintext while encrypting it (telemed.crypto streams, context
   `records.document:<public id>`) into a spooled temporary file;
5. the object written at `documents/<random hex>` — no user text in any key;
6. only then the row and its audit event, in one transaction. If that transaction fails, the
   object is deleted; if the process dies between 5 and 6, the object is an orphan with no
   row, and `documents_sweep_orphans` (Celery beat) removes it once it is older than
   DOCUMENT_ORPHAN_AGE_SECONDS.

Download (`document_open`): the policy again, the audit event, then a first pass that
decrypts and hashes the whole object without sending anything: a changed byte (AES-GCM
refuses it) or a digest that differs from the one taken at upload marks the document
"integrity failed", records it, emails the clinic's admins and refuses the download. The
second pass streams the decrypted bytes; should the object change between the passes, the
stream fails before its last segment is sent (the client sees a broken transfer, never a
complete wrong file).

Signed S3 URLs are not used: the bucket holds ciphertext only, so every download goes
through the authorized, audited view.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from typing import IO, Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.selectors import admin_emails
from audit.services import audit_record
from records.errors import RecordsError, RecordsErrorCode, RecordsForbiddenError
from records.models import Document, DocumentCategory, DocumentStatus, ScanStatus
from records.scanning import ScanUnavailable, scanner
from records.selectors import DOCUMENT_DOWNLOAD_ACTION, Need
from records.services.chart import TEXT_MAX_LENGTH, require
from records.uploads import RefusedType, display_filename, sniff
from telemed.crypto import (
    DecryptionError,
    UnknownKeyError,
    current_key_id,
    decrypt_stream,
    encrypt_stream,
    stream_key_id,
)

logger = logging.getLogger(__name__)

PREFIX = "documents"
READ_BYTES = 256 * 1024
SWEEP_BATCH = 500
TITLE_MAX_LENGTH = 200


def _standing(decision: Any) -> str:
    return decision.label or f"via {decision.via}"


def encryption_context(public_id: uuid.UUID | str) -> bytes:
    return f"records.document:{public_id}".encode()


def new_storage_key() -> str:
    return f"{PREFIX}/{secrets.token_hex(16)}"


def _read(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(READ_BYTES):
        yield chunk


def _size_of(upload: Any) -> int:
    # The stream's own length, not a `.size` attribute a caller may have set to anything.
    upload.seek(0, 2)
    size = upload.tell()
    upload.seek(0)
    return int(size)


class Stored(NamedTuple):
    key: str
    sha256: str
    key_id: str
    size: int


def _store_encrypted(chunks: Iterable[bytes], *, public_id: uuid.UUID) -> Stored:
    """Encrypt the plaintext `chunks` to a new object; returns its key, the plaintext's SHA-256
    and size (as read, not as announced) and the key id."""
    digest = hashlib.sha256()
    size = 0

    def plaintext() -> Iterator[bytes]:
        nonlocal size
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            yield chunk

    key = new_storage_key()
    with tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE) as sealed:
        for piece in encrypt_stream(plaintext(), context=encryption_context(public_id)):
            sealed.write(piece)
        sealed.seek(0)
        stored = default_storage.save(key, File(sealed, name=key))
    if stored != key:
        # A random 128-bit name never collides; if the backend renamed it, do not guess.
        default_storage.delete(stored)
        raise RuntimeError(f"storage saved {stored!r} instead of {key!r}")
    return Stored(key, digest.hexdigest(), current_key_id(), size)


def _delete_quietly(key: str) -> None:
    """Remove an object no row points at, without hiding the error that got us here (if the
    storage refuses too, the orphan sweeper removes it later)."""
    try:
        default_storage.delete(key)
    except Exception:
        logger.exception("could not delete the unreferenced object %s; the sweeper will", key)


def document_upload(
    *,
    actor: User,
    patient: User,
    upload: Any,
    title: str = "",
    category: str = DocumentCategory.OTHER,
) -> Document:
    """Store an uploaded file in `patient`'s chart; see the module docstring for every check.

    `upload` is a Django UploadedFile (or any seekable binary file with a `name`). Raises
    RecordsError (413 too large, 400 empty, 415 refused type, 422 infected, 503 scanner down)
    or ValidationError (title, category); nothing is stored when it raises.
    """
    action = "records.document.upload"
    decision = require(actor, patient, Need.UPLOAD, action=action, target_type="records.document")
    size = _size_of(upload)
    limit = settings.RECORDS_MAX_UPLOAD_BYTES
    if size > limit:
        raise RecordsError(
            f"This file is {size / 1_048_576:.1f} MB; the limit is {limit / 1_048_576:.0f} MB.",
            RecordsErrorCode.UPLOAD_TOO_LARGE,
            status_code=413,
        )
    if size == 0:
        raise RecordsError("This file is empty.", RecordsErrorCode.UPLOAD_EMPTY)
    title = (title or "").strip()
    if len(title) > TITLE_MAX_LENGTH:
        raise ValidationError({"title": f"At most {TITLE_MAX_LENGTH} characters."})
    if category not in DocumentCategory.values:
        raise ValidationError({"category": "Choose a category from the list."})
    try:
        content_type = sniff(upload)
    except RefusedType as exc:
        raise RecordsError(exc.message, RecordsErrorCode.UPLOAD_TYPE_REFUSED, status_code=415) from None
    filename = display_filename(getattr(upload, "name", "") or "", content_type)

    try:
        upload.seek(0)
        result = scanner().scan(_read(upload))
    except ScanUnavailable as exc:
        logger.error("virus scanner unavailable, upload refused: %s", exc)
        raise RecordsError(
            "The virus scanner is not answering; please try again in a few minutes.",
            RecordsErrorCode.UPLOAD_SCAN_FAILED,
            status_code=503,
        ) from None
    if result.infected:
        logger.warning("upload refused: malware signature %s", result.signature)
        raise RecordsError(
            "This file contains malware and was not stored.", RecordsErrorCode.UPLOAD_INFECTED, status_code=422
        )

    public_id = uuid.uuid4()
    upload.seek(0)
    stored = _store_encrypted(_read(upload), public_id=public_id)
    try:
        if stored.size != size:
            # The file changed under us between the checks and the copy: what was checked is
            # not what was stored.
            raise RecordsError("The file changed while it was being stored; upload it again.", RecordsErrorCode.INVALID)
        document = Document(
            public_id=public_id,
            patient=patient,
            recorded_by=actor,
            source="patient" if decision.via == "self" else "clinician",
            title=title or filename,
            filename=filename,
            category=category,
            content_type=content_type,
            size_bytes=stored.size,
            sha256=stored.sha256,
            storage_key=stored.key,
            key_id=stored.key_id,
            scan_status=ScanStatus.CLEAN if result.scanned else ScanStatus.NOT_SCANNED,
            scanned_at=timezone.now() if result.scanned else None,
        )
        with transaction.atomic(durable=True):
            document.save(force_insert=True)
            audit_record(
                actor=actor,
                action=action,
                target_type="records.document",
                target_id=document.pk,
                patient=patient,
                reason=f"{content_type}, {size} bytes, {document.scan_status}; {_standing(decision)}",
                breakglass=decision.breakglass,
            )
    except BaseException:
        # No row points at the object: remove it now (the sweeper would, later).
        _delete_quietly(stored.key)
        raise
    return document


# --- Download ------------------------------------------------------------------------------


def _decrypted(document: Document) -> Iterator[bytes]:
    with default_storage.open(document.storage_key, "rb") as stored:
        yield from decrypt_stream(_read(stored), context=encryption_context(document.public_id))


def _verify(document: Document) -> str | None:
    """None when the stored object decrypts to the bytes hashed at upload; else what is wrong."""
    digest = hashlib.sha256()
    try:
        for chunk in _decrypted(document):
            digest.update(chunk)
    except FileNotFoundError:
        return "the stored object is missing"
    except (DecryptionError, UnknownKeyError) as exc:
        return f"the stored object does not decrypt: {exc}"
    if digest.hexdigest() != document.sha256:
        return "the SHA-256 of the stored file differs from the one taken at upload"
    return None


def _notify_admins(document: Document, problem: str, recipients: list[str]) -> None:
    if not recipients:
        return
    url = settings.SITE_URL.rstrip("/") + reverse("admin:records_document_change", args=[document.pk])
    send_mail(
        subject="[Telemed] A stored document failed its integrity check",
        message=(
            f"Document {document.public_id} (patient #{document.patient_id}) failed its integrity check "
            f"at {timezone.now():%Y-%m-%d %H:%M} UTC: {problem}.\n\nDownloads of it are refused until "
            f"it is restored from backup.\n\n{url}\n"
        ),
        from_email=None,
        recipient_list=recipients,
        fail_silently=False,
    )


def _integrity_failed(document: Document, *, actor: User, problem: str) -> None:
    logger.error("document %s failed its integrity check: %s", document.public_id, problem)
    with transaction.atomic(durable=True):
        updated = Document.objects.filter(pk=document.pk, status=DocumentStatus.AVAILABLE).update(
            status=DocumentStatus.INTEGRITY_FAILED, integrity_failed_at=timezone.now()
        )
        audit_record(
            actor=actor,
            action="records.document.integrity_failed",
            target_type="records.document",
            target_id=document.pk,
            patient=document.patient,
            outcome="failure",
            reason=problem,
        )
        if updated:
            recipients = admin_emails()
            transaction.on_commit(lambda: _notify_admins(document, problem, recipients))


def document_open(document: Document, *, actor: User) -> Iterator[bytes]:
    """Check, audit and return the decrypted bytes of `document` as an iterator of chunks.

    Raises RecordsError (409 document_integrity_failed) when the stored object was changed
    or lost, after marking the document and alerting the admins; RecordsError (410) for a
    document already known to be damaged or marked entered in error. See the module
    docstring for the two passes.
    """
    decision = require(
        actor,
        document.patient,
        Need.READ,
        action=DOCUMENT_DOWNLOAD_ACTION,
        target_type="records.document",
        target_id=document.pk,
    )
    if document.status != DocumentStatus.AVAILABLE:
        raise RecordsError(
            "This document cannot be downloaded: it failed an integrity check or was withdrawn.",
            RecordsErrorCode.DOCUMENT_UNAVAILABLE,
            status_code=410,
        )
    problem = _verify(document)
    if problem is not None:
        _integrity_failed(document, actor=actor, problem=problem)
        raise RecordsError(
            "This document failed its integrity check and cannot be downloaded. The clinic has been alerted.",
            RecordsErrorCode.DOCUMENT_INTEGRITY,
            status_code=409,
        )
    with transaction.atomic(durable=True):
        audit_record(
            actor=actor,
            action=DOCUMENT_DOWNLOAD_ACTION,
            target_type="records.document",
            target_id=document.pk,
            patient=document.patient,
            reason=_standing(decision),
            breakglass=decision.breakglass,
        )
    return _verified_stream(document)


def _verified_stream(document: Document) -> Iterator[bytes]:
    # One segment held back: the last one is released only once the whole digest matched.
    digest = hashlib.sha256()
    held: bytes | None = None
    for chunk in _decrypted(document):
        digest.update(chunk)
        if held is not None:
            yield held
        held = chunk
    if digest.hexdigest() != document.sha256:
        raise DecryptionError("document changed while it was being sent")
    if held:
        yield held


def document_read_all(document: Document, *, actor: User) -> bytes:
    """The whole verified file in memory (the patient's export); same checks and audit as a download."""
    return b"".join(document_open(document, actor=actor))


def document_mark_entered_in_error(document: Document, *, actor: User, reason: str) -> Document:
    """Withdraw a document filed by mistake (kept in storage, hidden, no longer downloadable)."""
    action = "records.document.entered_in_error"
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this document is withdrawn."})
    need = Need.UPLOAD
    decision = require(
        actor, document.patient, need, action=action, target_type="records.document", target_id=document.pk
    )
    if decision.via == "self" and document.source != "patient":
        raise RecordsForbiddenError("Only a clinician withdraws a document the clinic filed.")
    with transaction.atomic(durable=True):
        Document.objects.filter(pk=document.pk).update(
            status=DocumentStatus.ENTERED_IN_ERROR, updated_at=timezone.now()
        )
        audit_record(
            actor=actor,
            action=action,
            target_type="records.document",
            target_id=document.pk,
            patient=document.patient,
            reason=f"{reason[:TEXT_MAX_LENGTH]}; {_standing(decision)}",
            breakglass=decision.breakglass,
        )
    document.refresh_from_db()
    return document


# --- Housekeeping: orphans and key rotation -------------------------------------------------


def documents_sweep_orphans(*, older_than: dt.timedelta | None = None, now: dt.datetime | None = None) -> list[str]:
    """Delete stored objects under documents/ that no row points at and that are older than
    `older_than` (default DOCUMENT_ORPHAN_AGE_SECONDS: an upload still between writing its
    object and committing its row is younger). Returns the keys removed."""
    older_than = older_than or dt.timedelta(seconds=settings.DOCUMENT_ORPHAN_AGE_SECONDS)
    now = now or timezone.now()
    try:
        _dirs, names = default_storage.listdir(PREFIX)
    except FileNotFoundError:
        return []
    keys = [f"{PREFIX}/{name}" for name in names]
    known: set[str] = set()
    # In batches: one IN (...) over a bucket of 100,000 objects passes SQLite's variable limit.
    for start in range(0, len(keys), SWEEP_BATCH):
        batch = keys[start : start + SWEEP_BATCH]
        known.update(Document.objects.filter(storage_key__in=batch).values_list("storage_key", flat=True))
    removed = []
    for key in keys:
        if key in known:
            continue
        modified = default_storage.get_modified_time(key)
        if timezone.is_naive(modified):
            modified = timezone.make_aware(modified, dt.UTC)
        if now - modified < older_than:
            continue
        # Re-check just before deleting: the upload may have committed its row meanwhile.
        if Document.objects.filter(storage_key=key).exists():
            continue
        default_storage.delete(key)
        removed.append(key)
    if removed:
        logger.warning("removed %d orphaned document object(s)", len(removed))
    return removed


def document_stored_key_id(document: Document) -> str:
    """The key id in the stored object's header (what rotation compares with the current key)."""
    with default_storage.open(document.storage_key, "rb") as stored:
        return stream_key_id(stored.read(64))


def document_reencrypt(document: Document) -> bool:
    """Re-encrypt one document's object under the current key (a new object, then the row,
    then the old object is deleted). Returns False when it already uses the current key.
    Verifies the plaintext digest on the way; an object that fails is left as it is and
    raises RecordsError so the operator sees it."""
    current = current_key_id()
    if document.key_id == current:
        return False
    problem = _verify(document)
    if problem is not None:
        raise RecordsError(
            f"Document {document.public_id}: {problem}.", RecordsErrorCode.DOCUMENT_INTEGRITY, status_code=409
        )

    old_key = document.storage_key
    key, sha256, key_id, _size = _store_encrypted(_decrypted(document), public_id=document.public_id)
    if sha256 != document.sha256:
        default_storage.delete(key)
        raise RecordsError(
            f"Document {document.public_id} changed while being re-encrypted.", RecordsErrorCode.DOCUMENT_INTEGRITY
        )
    try:
        with transaction.atomic(durable=True):
            updated = Document.objects.filter(pk=document.pk, storage_key=old_key).update(
                storage_key=key, key_id=key_id, updated_at=timezone.now()
            )
            if updated:
                audit_record(
                    actor=None,
                    action="records.document.reencrypt",
                    target_type="records.document",
                    target_id=document.pk,
                    patient=document.patient,
                    reason=f"key {document.key_id} -> {key_id}",
                )
    except BaseException:
        _delete_quietly(key)
        raise
    if not updated:
        default_storage.delete(key)
        return False
    default_storage.delete(old_key)
    document.storage_key, document.key_id = key, key_id
    return True
