"""Key rotation: every encrypted value and every document moved to the current key.

The operator's procedure (docs/security.md, "Encryption at rest"): put a new key first in
FIELD_ENCRYPTION_KEYS (the old ones stay after it), restart, run `manage.py rotate_keys`, and
remove an old key only once a run reports nothing left under it and no failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from audit.services import audit_record
from records.errors import RecordsError
from records.models import Document
from records.services.documents import document_reencrypt
from telemed.crypto.keys import current_key_id, keyring
from telemed.crypto.rotation import DEFAULT_BATCH_SIZE, FAILURES_SHOWN, FieldRotation, encrypted_fields, rotate_field

ROTATE_ACTION = "records.keys.rotate"


@dataclass
class KeyRotationReport:
    key_id: str
    dry_run: bool
    fields: list[FieldRotation] = field(default_factory=list)
    documents_pending: int = 0
    documents_rotated: int = 0
    documents_failed: int = 0
    document_failures: list[str] = field(default_factory=list)

    @property
    def values_pending(self) -> int:
        return sum(item.pending for item in self.fields)

    @property
    def values_rotated(self) -> int:
        return sum(item.rotated for item in self.fields)

    @property
    def values_changed(self) -> int:
        return sum(item.changed for item in self.fields)

    @property
    def values_unreadable(self) -> int:
        return sum(item.unreadable for item in self.fields)

    @property
    def complete(self) -> bool:
        """Nothing is left under an older key (after a real run): the old keys may go."""
        return not (self.values_changed or self.values_unreadable or self.documents_failed) and (
            not self.dry_run or not (self.values_pending or self.documents_pending)
        )

    def summary(self) -> str:
        if self.dry_run:
            return (
                f"{self.values_pending} values and {self.documents_pending} documents to re-encrypt under key "
                f"{self.key_id}; {self.values_unreadable} values and {self.documents_failed} documents unreadable"
            )
        return (
            f"{self.values_rotated} values and {self.documents_rotated} documents re-encrypted under key "
            f"{self.key_id}; {self.values_changed} values changed meanwhile, {self.values_unreadable} values and "
            f"{self.documents_failed} documents failed"
        )


def keys_rotate(
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> KeyRotationReport:
    """Re-encrypt, under the current key, every EncryptedTextField value of every installed
    model (telemed.crypto.rotation) and every document's stored object (document_reencrypt).

    Idempotent (what is under the current key is left alone) and resumable (each batch and each
    document commits on its own). Unreadable values and damaged documents are reported in the
    result, not raised, so one bad row does not stop the rest. A real run records one audit
    event (`records.keys.rotate`, actor: the system) with the counts; a dry run writes nothing.
    Call outside a transaction.
    """
    say = progress or (lambda _line: None)
    report = KeyRotationReport(key_id=current_key_id(), dry_run=dry_run)
    for model, model_field in encrypted_fields():
        result = rotate_field(model, model_field, batch_size=batch_size, dry_run=dry_run)
        report.fields.append(result)
        if result.pending and dry_run:
            say(f"{result.label}: {result.pending - result.unreadable} to re-encrypt")
        elif result.pending:
            changed = f", {result.changed} changed meanwhile (run again)" if result.changed else ""
            say(f"{result.label}: {result.rotated} re-encrypted{changed}")
        for failure in result.failures:
            say(f"{result.label}: cannot decrypt {failure}")

    configured = keyring()
    # The stored object is what moves here; the row's encrypted columns are rotated above (and
    # are not needed: a row whose title does not decrypt still has its file re-encrypted).
    documents = Document.objects.exclude(key_id=report.key_id).defer("title", "filename").order_by("pk")
    last = 0
    while batch := list(documents.filter(pk__gt=last).select_related("patient")[:batch_size]):
        last = batch[-1].pk
        for document in batch:
            report.documents_pending += 1
            if dry_run:
                if document.key_id not in configured:
                    _document_failed(report, f"{document.public_id}: its key {document.key_id!r} is not configured")
                continue
            try:
                if document_reencrypt(document):
                    report.documents_rotated += 1
            except RecordsError as exc:
                _document_failed(report, exc.message)
    if report.documents_pending:
        verb = "to re-encrypt" if dry_run else "re-encrypted"
        count = report.documents_pending - report.documents_failed if dry_run else report.documents_rotated
        say(f"documents: {count} {verb}")
    for failure in report.document_failures:
        say(f"documents: failed {failure}")

    if not dry_run:
        with transaction.atomic(durable=True):
            audit_record(
                actor=None,
                action=ROTATE_ACTION,
                target_type="telemed.crypto.key",
                target_id=report.key_id,
                reason=report.summary(),
            )
    return report


def _document_failed(report: KeyRotationReport, problem: str) -> None:
    report.documents_failed += 1
    if len(report.document_failures) < FAILURES_SHOWN:
        report.document_failures.append(problem)
