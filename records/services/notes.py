"""Clinical notes: a SOAP draft, signed once (then locked), amended afterwards.

    draft --note_sign--> signed --note_amend--> signed + amendments

A draft belongs to its author: only they change, sign or discard it. Signing records who and
when and a SHA-256 of the signed content; after that the note's text never changes and
additions are amendments, each attributed and timestamped, shown after the original.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from appointments.selectors import appointment_of_patient
from audit.services import audit_record, audit_record_denied
from records.errors import RecordsError, RecordsErrorCode, RecordsForbiddenError
from records.models import ClinicalNote, NoteAmendment, NoteStatus
from records.selectors import Need
from records.services.chart import TEXT_MAX_LENGTH, require

SOAP_FIELDS = ("subjective", "objective", "assessment", "plan")
NOTE_MAX_LENGTH = 20000


def _audit(actor: User, decision: Any, *, action: str, note: ClinicalNote, detail: str = "") -> None:
    reason = decision.label or f"via {decision.via}"
    audit_record(
        actor=actor,
        action=action,
        target_type="records.clinicalnote",
        target_id=note.pk,
        patient=note.patient,
        reason=f"{detail}; {reason}" if detail else reason,
        breakglass=decision.breakglass,
    )


def _clean_soap(values: dict[str, str]) -> dict[str, str]:
    cleaned = {name: (values.get(name) or "").strip() for name in SOAP_FIELDS}
    long = {
        name: f"At most {NOTE_MAX_LENGTH} characters." for name, text in cleaned.items() if len(text) > NOTE_MAX_LENGTH
    }
    if long:
        raise ValidationError(long)
    return cleaned


def _appointment(patient: User, appointment_id: object) -> Any:
    if appointment_id in (None, ""):
        return None
    appointment = appointment_of_patient(patient, appointment_id)
    if appointment is None:
        raise ValidationError(
            {"appointment": "Choose one of this patient's appointments."}, code=RecordsErrorCode.APPOINTMENT_MISMATCH
        )
    return appointment


def content_sha256(note: ClinicalNote) -> str:
    """The digest signed into a note: patient, author, signer, time, linked visit and the SOAP text."""
    canonical = {
        "note": note.pk,
        "patient": note.patient_id,
        "author": note.author_id,
        "appointment": note.appointment_id,
        "signed_by": note.signed_by_id,
        "signed_at": note.signed_at.isoformat() if note.signed_at else None,
        **{name: getattr(note, name) for name in SOAP_FIELDS},
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def note_create(*, actor: User, patient: User, appointment_id: object = None, **soap: str) -> ClinicalNote:
    """Start a draft note for `patient` (a doctor caring for them), optionally for one of their visits."""
    action = "records.clinicalnote.create"
    decision = require(actor, patient, Need.CLINICAL, action=action, target_type="records.clinicalnote")
    values = _clean_soap(soap)
    note = ClinicalNote(patient=patient, author=actor, appointment=_appointment(patient, appointment_id), **values)
    note.full_clean()
    with transaction.atomic(durable=True):
        note.save(force_insert=True)
        _audit(actor, decision, action=action, note=note)
    return note


def _require_author(note: ClinicalNote, actor: User, *, action: str) -> None:
    # The author never changes, so this is checked before the transaction, where the refusal
    # can be recorded (the lock below checks it again).
    if note.author_id != actor.pk:
        audit_record_denied(
            actor=actor,
            action=action,
            target_type="records.clinicalnote",
            target_id=note.pk,
            patient=note.patient,
            reason="not the author of the note",
        )
        raise RecordsForbiddenError("Only the author changes or signs a draft note.")


def _locked_draft(note: ClinicalNote, actor: User) -> ClinicalNote:
    # The row lock closes the race between saving a draft and signing it from two tabs:
    # whichever comes second sees the other's result.
    current = ClinicalNote.objects.select_for_update().select_related("patient").get(pk=note.pk)
    if current.status != NoteStatus.DRAFT:
        raise RecordsError(
            "This note is signed: add an amendment instead.", RecordsErrorCode.NOTE_SIGNED, status_code=409
        )
    if current.author_id != actor.pk:
        raise RecordsForbiddenError("Only the author changes or signs a draft note.")
    return current


def note_update(note: ClinicalNote, *, actor: User, appointment_id: object = None, **soap: str) -> ClinicalNote:
    """Save the author's changes to a draft; a signed note refuses (409 note_signed)."""
    action = "records.clinicalnote.update"
    decision = require(
        actor, note.patient, Need.CLINICAL, action=action, target_type="records.clinicalnote", target_id=note.pk
    )
    values = _clean_soap(soap)
    appointment = _appointment(note.patient, appointment_id)
    _require_author(note, actor, action=action)
    with transaction.atomic(durable=True):
        current = _locked_draft(note, actor)
        for name, value in values.items():
            setattr(current, name, value)
        current.appointment = appointment
        current.save()
        _audit(actor, decision, action=action, note=current)
    return current


def note_sign(note: ClinicalNote, *, actor: User) -> ClinicalNote:
    """Sign the author's draft: locked from now on, attributed and timestamped."""
    action = "records.clinicalnote.sign"
    decision = require(
        actor, note.patient, Need.CLINICAL, action=action, target_type="records.clinicalnote", target_id=note.pk
    )
    _require_author(note, actor, action=action)
    with transaction.atomic(durable=True):
        current = _locked_draft(note, actor)
        if not any(getattr(current, name).strip() for name in SOAP_FIELDS):
            raise RecordsError("An empty note cannot be signed.", RecordsErrorCode.NOTE_EMPTY)
        current.status = NoteStatus.SIGNED
        current.signed_by = actor
        current.signed_at = timezone.now()
        current.content_sha256 = content_sha256(current)
        current.save()
        _audit(actor, decision, action=action, note=current, detail=f"sha256 {current.content_sha256}")
    return current


def note_discard(note: ClinicalNote, *, actor: User) -> None:
    """The author throws away a draft that was never signed (a signed note is never removed)."""
    action = "records.clinicalnote.discard"
    decision = require(
        actor, note.patient, Need.CLINICAL, action=action, target_type="records.clinicalnote", target_id=note.pk
    )
    _require_author(note, actor, action=action)
    with transaction.atomic(durable=True):
        current = _locked_draft(note, actor)
        _audit(actor, decision, action=action, note=current)
        current.delete()


def note_amend(note: ClinicalNote, *, actor: User, reason: str, text: str) -> NoteAmendment:
    """Add an amendment to a signed note; the note's own text stays as it was signed."""
    action = "records.clinicalnote.amend"
    decision = require(
        actor, note.patient, Need.CLINICAL, action=action, target_type="records.clinicalnote", target_id=note.pk
    )
    reason, text = reason.strip(), text.strip()
    errors = {}
    if not reason:
        errors["reason"] = "Say why the note is amended."
    elif len(reason) > TEXT_MAX_LENGTH:
        errors["reason"] = f"At most {TEXT_MAX_LENGTH} characters."
    if not text:
        errors["text"] = "Write the amendment."
    elif len(text) > NOTE_MAX_LENGTH:
        errors["text"] = f"At most {NOTE_MAX_LENGTH} characters."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(durable=True):
        current = ClinicalNote.objects.select_for_update().select_related("patient").get(pk=note.pk)
        if current.status != NoteStatus.SIGNED:
            raise RecordsError(
                "Only a signed note is amended; edit the draft instead.",
                RecordsErrorCode.NOTE_NOT_SIGNED,
                status_code=409,
            )
        amendment = NoteAmendment.objects.create(note=current, author=actor, reason=reason, text=text)
        _audit(actor, decision, action=action, note=current, detail=f"amendment {amendment.pk}")
    return amendment
