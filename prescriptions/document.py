"""The signed content of a prescription, and the check that it is still what was signed.

`signed_document` builds the dict that `signing.canonical_bytes` serializes: every field that
matters to a pharmacist or a patient — the prescription's id, the clinic, the patient's name,
date of birth and record number, the prescriber's name, licence and key, the dates (and the
validity in days they come from), what it replaces, and every item with every field.
Version 1 (`"v": 1`); a new field means a new version, and verifiers keep knowing the old ones.

`integrity_ok` recomputes the document from the rows and checks the stored signature with the
key the prescription names: a changed byte in any signed column, an item added, removed or
changed, a swapped key, all make it False. The two links that are database ids rather than
signed text are checked against what is signed: the key must be the prescriber's own, and the
patient the one whose record number was signed (a record number never changes), so a signed
prescription moved to another prescriber or another patient's chart is False too. It never
raises on corrupt data (an unreadable encrypted column counts as tampered).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from accounts.selectors import own_profile
from prescriptions import signing
from prescriptions.models import PrescriberKey, Prescription, PrescriptionItem

DOCUMENT_VERSION = 1


def instant(value: dt.datetime) -> str:
    """UTC to the second, e.g. 2026-11-23T15:04:05Z (signed_at is stored without microseconds)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def item_document(item: PrescriptionItem) -> dict[str, Any]:
    return {
        "position": item.position,
        "medication": item.medication,
        "strength": item.strength,
        "form": item.form,
        "dose": item.dose,
        "route": item.route,
        "frequency": item.frequency,
        "duration": item.duration,
        "quantity": item.quantity,
        "quantity_unit": item.quantity_unit,
        "refills": item.refills,
        "substitution_allowed": item.substitution_allowed,
        "instructions": item.instructions,
    }


def signed_document(
    prescription: Prescription, items: Iterable[PrescriptionItem], key: PrescriberKey | None
) -> dict[str, Any]:
    """What the signature covers (see the module docstring)."""
    if prescription.signed_at is None:
        raise ValueError("a draft has no signed content")
    supersedes = prescription.supersedes.public_id if prescription.supersedes_id else None
    return {
        "v": DOCUMENT_VERSION,
        "id": prescription.public_id,
        "clinic": prescription.clinic_name,
        "patient": {
            "name": prescription.patient_name,
            "birth_date": _date(prescription.patient_birth_date),
            "mrn": prescription.patient_mrn,
        },
        "prescriber": {
            "name": prescription.prescriber_name,
            "licence": prescription.prescriber_licence,
            "jurisdiction": prescription.prescriber_jurisdiction,
            "key": key.fingerprint if key else "",
        },
        "appointment": prescription.appointment_id,
        "supersedes": supersedes,
        "signed_at": instant(prescription.signed_at),
        "valid_days": prescription.valid_days,
        "valid_until": _date(prescription.valid_until),
        "items": [item_document(item) for item in sorted(items, key=lambda row: row.position)],
    }


def _same_patient(prescription: Prescription) -> bool:
    profile = own_profile(prescription.patient)
    return (getattr(profile, "mrn", "") or "") == prescription.patient_mrn


def integrity_ok(prescription: Prescription, items: Iterable[PrescriptionItem] | None = None) -> bool:
    """True when the signed prescription's rows still match its signature (see module docstring)."""
    if prescription.signed_at is None or not prescription.signature or prescription.signing_key_id is None:
        return False
    try:
        key = prescription.signing_key
        public = bytes.fromhex(key.public_key)
        # A key row whose public key no longer hashes to its fingerprint was changed.
        if signing.fingerprint(public) != key.fingerprint:
            return False
        if key.prescriber_id != prescription.prescriber_id or not _same_patient(prescription):
            return False
        rows = list(items) if items is not None else list(prescription.items.all())
        document = signed_document(prescription, rows, key)
        return signing.verify(public, document, bytes.fromhex(prescription.signature))
    except Exception:
        # Corrupt or undecryptable data is tampered data, never a crash.
        return False
