"""The patient's copy of their record (right of access): JSON for machines, PDF for people.

Both hold the whole record as the patient's side sees it: identity (name, date of birth, MRN),
allergies, problems, medications, immunizations, every vitals set, signed visit notes with
their amendments (drafts never), and the list of documents, with the moment it was generated.
Entries marked "entered in error" are left out, as on the chart.

Documents are listed, not embedded: each entry carries its metadata, its SHA-256 and the API
path that downloads it (`download`). Embedding would make one export as large as every file
together (up to RECORDS_MAX_UPLOAD_BYTES each), held in memory at once; the checked,
audited download of each document stays the one way to its bytes.

The JSON is versioned (`"format": "telemed.record.v1"`); its keys are always present (null
or [] when empty) and in a fixed order. A change that removes or renames a key is a new version.

Only the patient themself and a proxy holding records.view export; anyone else, clinicians
included (they read the chart itself), meets Http404, audited as denied. Every export is
recorded as `records.export` with its format.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.selectors import own_profile
from audit.services import audit_record, audit_record_denied
from records.export_pdf import render_record_pdf
from records.models import VITAL_RANGES, NoteStatus
from records.selectors import EXPORT_ACTION, Chart, ChartAccess, chart_get, chart_permission

FORMAT = "telemed.record.v1"
CONTENT_TYPES = {"json": "application/json; charset=utf-8", "pdf": "application/pdf"}


# --- Who may export -----------------------------------------------------------------------------


def _export_access(actor: User, patient: User, *, fmt: str) -> ChartAccess:
    """The patient's side only; Http404 (audited as denied) for anyone else. Call outside a transaction."""
    decision = chart_permission(actor, patient)
    access = ChartAccess(user=actor, patient=patient, decision=decision) if decision else None
    if access is None or not access.patient_side:
        audit_record_denied(
            actor=actor,
            action=EXPORT_ACTION,
            target_type="records.chart",
            target_id=patient.pk,
            patient=patient,
            reason=f"{fmt}: the export is the patient's own copy (the patient and their proxies only)",
        )
        raise Http404("No such record.")
    return access


def _audit_export(access: ChartAccess, *, fmt: str, size: int) -> None:
    with transaction.atomic(durable=True):
        audit_record(
            actor=access.user,
            action=EXPORT_ACTION,
            target_type="records.chart",
            target_id=access.patient.pk,
            patient=access.patient,
            reason=f"{fmt}, {size} bytes; {access.audit_reason}",
        )


# --- The record as data ---------------------------------------------------------------------------


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def _number(value: Any) -> int | float | None:
    # Decimal columns hold one decimal place (70.5 kg); a JSON number says it exactly.
    return float(value) if isinstance(value, decimal.Decimal) else value


def _party(user: User | None) -> dict[str, str] | None:
    if user is None:
        return None
    return {"name": str(user), "role": user.role}


def _entry(entry: Any) -> dict[str, Any]:
    return {
        "source": entry.source,
        "recorded_by": _party(entry.recorded_by),
        "recorded_at": _iso(entry.recorded_at),
    }


def _identity(patient: User) -> dict[str, Any]:
    profile = own_profile(patient)
    return {
        "name": str(patient),
        "legal_name": getattr(profile, "legal_name", "") or None,
        "email": patient.email,
        "date_of_birth": _iso(getattr(profile, "date_of_birth", None)),
        "sex": getattr(profile, "sex", None),
        "mrn": getattr(profile, "mrn", None),
    }


def _document_path(document: Any) -> str:
    return reverse("api:records_document_download", args=[document.public_id])


def _record(chart: Chart, *, generated_at: dt.datetime) -> dict[str, Any]:
    patient = chart.access.patient
    return {
        "format": FORMAT,
        "generated_at": _iso(generated_at),
        "clinic": settings.CLINIC_NAME,
        "patient": _identity(patient),
        "allergies": [
            {
                "substance": item.substance,
                "reaction": item.reaction,
                "severity": item.severity,
                "status": item.status,
                "noted_on": _iso(item.noted_on),
                **_entry(item),
            }
            for item in chart.allergies
        ],
        "problems": [
            {
                "description": item.description,
                "code": item.code,
                "onset_on": _iso(item.onset_on),
                "status": item.status,
                **_entry(item),
            }
            for item in chart.conditions
        ],
        "medications": [
            {
                "name": item.name,
                "dose": item.dose,
                "route": item.route,
                "frequency": item.frequency,
                "started_on": _iso(item.started_on),
                "stopped_on": _iso(item.stopped_on),
                "status": item.status,
                **_entry(item),
            }
            for item in chart.medications
        ],
        "immunizations": [
            {
                "vaccine": item.vaccine,
                "administered_on": _iso(item.administered_on),
                "dose_number": item.dose_number,
                "lot_number": item.lot_number,
                "notes": item.notes,
                "status": item.status,
                **_entry(item),
            }
            for item in chart.immunizations
        ],
        "vitals": [
            {
                "measured_at": _iso(item.measured_at),
                **{name: _number(getattr(item, name)) for name, *_rest in VITAL_RANGES},
                "bmi": _number(item.bmi),
                "note": item.note,
                **_entry(item),
                "acknowledged_by": _party(item.acknowledged_by),
                "acknowledged_at": _iso(item.acknowledged_at),
            }
            for item in chart.vitals
        ],
        "notes": [
            {
                "id": note.pk,
                "author": _party(note.author),
                "signed_by": _party(note.signed_by),
                "signed_at": _iso(note.signed_at),
                "appointment_id": note.appointment_id,
                "subjective": note.subjective,
                "objective": note.objective,
                "assessment": note.assessment,
                "plan": note.plan,
                "content_sha256": note.content_sha256,
                "amendments": [
                    {
                        "author": _party(amendment.author),
                        "created_at": _iso(amendment.created_at),
                        "reason": amendment.reason,
                        "text": amendment.text,
                    }
                    for amendment in note.amendments.all()
                ],
            }
            for note in _signed(chart)
        ],
        "documents": [
            {
                "id": str(document.public_id),
                "title": document.title,
                "filename": document.filename,
                "category": document.category,
                "content_type": document.content_type,
                "size_bytes": document.size_bytes,
                "sha256": document.sha256,
                "scan_status": document.scan_status,
                "status": document.status,
                **_entry(document),
                "download": _document_path(document),
            }
            for document in chart.documents
        ],
    }


def _signed(chart: Chart) -> list[Any]:
    # notes_for_chart already gives the patient's side signed notes only; a draft must never
    # leave in an export even if that selector changed.
    return [note for note in chart.notes if note.status == NoteStatus.SIGNED]


def export_filename(fmt: str) -> str:
    """What the downloaded copy is called (no name in it: it lands in shared download folders)."""
    return f"health-record-{timezone.localdate():%Y-%m-%d}.{fmt}"


def record_export_json(*, actor: User, patient: User) -> bytes:
    """The whole record as UTF-8 JSON (`telemed.record.v1`). Http404 unless `actor` is the
    patient or their proxy (audited as denied); audited as `records.export` (json)."""
    access = _export_access(actor, patient, fmt="json")
    record = _record(chart_get(access), generated_at=timezone.now())
    body = json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
    _audit_export(access, fmt="json", size=len(body))
    return body


def record_export_pdf(*, actor: User, patient: User) -> bytes:
    """The whole record as a readable PDF. Http404 unless `actor` is the patient or their proxy
    (audited as denied); audited as `records.export` (pdf)."""
    access = _export_access(actor, patient, fmt="pdf")
    record = _record(chart_get(access), generated_at=timezone.now())
    body = render_record_pdf(record)
    _audit_export(access, fmt="pdf", size=len(body))
    return body
