"""Refill requests: the patient's side asks, the prescriber approves (a new signed
prescription that supersedes the old one) or declines with a reason; both sides are told.

One open request per prescription (a partial unique constraint closes the race of two at
once); a second is refused with a message saying when the first was sent.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import formats, timezone

from accounts.models import Role, User
from audit.services import audit_record, audit_record_denied
from prescriptions.errors import PrescriptionsError, PrescriptionsErrorCode, PrescriptionsForbiddenError
from prescriptions.models import Prescription, PrescriptionStatus, RefillRequest, RefillStatus
from prescriptions.services.keys import prescriber_key_ensure
from prescriptions.services.notify import notify_refill_decided, notify_refill_requested
from prescriptions.services.prescribing import (
    copy_as_draft,
    prescriber_licence,
    require_acknowledged,
    require_fresh_code,
    require_no_revision_pending,
    require_prescriber_for,
    sign_locked,
    warnings_for,
)
from records.selectors import Need as ChartNeed
from records.selectors import chart_permission

TARGET = "prescriptions.refillrequest"
MAX_NOTE = 2000


def _refused_duplicate(prescription: Prescription) -> PrescriptionsError:
    open_request = RefillRequest.objects.filter(prescription=prescription, status=RefillStatus.OPEN).first()
    when = formats.date_format(timezone.localtime(open_request.created_at), "j F Y") if open_request else "earlier"
    return PrescriptionsError(
        f"A refill request for this prescription is already waiting for the prescriber (sent {when}).",
        PrescriptionsErrorCode.REFILL_OPEN,
        status_code=409,
    )


def refill_request_create(*, actor: User, prescription: Prescription, note: str = "") -> RefillRequest:
    """Ask for a refill of a signed prescription (the patient, or a proxy with records.view)."""
    decision = chart_permission(actor, prescription.patient, ChartNeed.READ)
    if decision is None or getattr(actor, "role", None) != Role.PATIENT:
        audit_record_denied(
            actor=actor,
            action="prescriptions.refill.request",
            target_type="prescriptions.prescription",
            target_id=prescription.pk,
            patient=prescription.patient,
            reason="not the patient or their proxy",
        )
        raise PrescriptionsForbiddenError("Only the patient or their proxy asks for a refill.")
    if prescription.status != PrescriptionStatus.SIGNED:
        raise PrescriptionsError(
            f"Only an active prescription can be refilled (this one is {prescription.get_status_display().lower()}).",
            PrescriptionsErrorCode.NOT_ACTIVE,
            status_code=409,
        )
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise PrescriptionsError(f"Keep the note under {MAX_NOTE} characters.", PrescriptionsErrorCode.INVALID)
    try:
        with transaction.atomic(durable=True):
            refill = RefillRequest.objects.create(prescription=prescription, requested_by=actor, note=note)
            audit_record(
                actor=actor,
                action="prescriptions.refill.request",
                target_type=TARGET,
                target_id=refill.pk,
                patient=prescription.patient,
                reason=f"for {prescription.public_id}",
            )
            notify_refill_requested(refill)
    except IntegrityError:
        raise _refused_duplicate(prescription) from None
    return refill


def _require_active(prescription: Prescription) -> None:
    if prescription.status != PrescriptionStatus.SIGNED:
        raise PrescriptionsError(
            "The prescription is no longer active; decline the request or write a new prescription.",
            PrescriptionsErrorCode.NOT_ACTIVE,
            status_code=409,
        )


def _require_open(refill: RefillRequest) -> RefillRequest:
    if refill.status != RefillStatus.OPEN:
        raise PrescriptionsError(
            f"This request was already {refill.get_status_display().lower()}.",
            PrescriptionsErrorCode.REFILL_DECIDED,
            status_code=409,
        )
    return refill


def _lock_open(refill: RefillRequest) -> RefillRequest:
    # The race this lock closes: two doctors (or two tabs) answering one request.
    return _require_open(RefillRequest.objects.select_for_update().select_related("prescription").get(pk=refill.pk))


def refill_request_approve(
    *, actor: User, refill: RefillRequest, otp_code: str, override_reason: str = ""
) -> Prescription:
    """Approve: a new prescription with the same items, signed now (fresh TOTP code, a reason
    if the safety check warns), superseding the old one; the patient is told."""
    action = "prescriptions.refill.approve"
    # Read again: a second tab holds what was true before the first one answered.
    refill = RefillRequest.objects.select_related("prescription__patient").get(pk=refill.pk)
    old = refill.prescription
    require_prescriber_for(actor, old.patient, action=action, prescription=old)
    _require_open(refill)
    _require_active(old)
    # Every refusal that needs no code comes before the code is used.
    require_no_revision_pending(old)
    prescriber_licence(actor)
    items = [(item.position, item.medication) for item in old.items.all()]
    warnings = warnings_for(actor, old.patient, items, exclude_ids=(old.pk,))
    # Asked after the warnings: an answer committed meanwhile (another doctor's approval, whose
    # new prescription would warn here as a duplicate) is reported as the answer it is.
    _require_open(RefillRequest.objects.get(pk=refill.pk))
    require_acknowledged(warnings, override_reason)
    require_fresh_code(actor, otp_code, old)
    prescriber_key_ensure(actor=actor)
    with transaction.atomic(durable=True):
        locked = _lock_open(refill)
        # The race this lock closes: the prescription cancelled, revised or superseded while
        # the code was checked.
        current = Prescription.objects.select_for_update().get(pk=old.pk)
        _require_active(current)
        require_no_revision_pending(current)
        draft = copy_as_draft(actor, current, action="prescriptions.prescription.revise")
        # One notice for the patient's side: the refill's answer says the new one is ready.
        new = sign_locked(actor, draft, override_reason, notify=False, answering_refill_id=locked.pk)
        locked.status = RefillStatus.APPROVED
        locked.decided_at = timezone.now()
        locked.decided_by = actor
        locked.new_prescription = new
        locked.save(update_fields=["status", "decided_at", "decided_by", "new_prescription"])
        audit_record(
            actor=actor,
            action=action,
            target_type=TARGET,
            target_id=locked.pk,
            patient=old.patient,
            reason=f"{old.public_id} -> {new.public_id}",
        )
        notify_refill_decided(locked)
    return new


def refill_request_decline(*, actor: User, refill: RefillRequest, reason: str) -> RefillRequest:
    """Decline with a reason the patient reads; the patient is told."""
    action = "prescriptions.refill.decline"
    # Refusals come before the transaction: their audit record commits on its own.
    require_prescriber_for(actor, refill.prescription.patient, action=action, prescription=refill.prescription)
    reason = (reason or "").strip()
    if not reason:
        raise PrescriptionsError("Tell the patient why the refill is declined.", PrescriptionsErrorCode.INVALID)
    with transaction.atomic(durable=True):
        locked = _lock_open(refill)
        locked.status = RefillStatus.DECLINED
        locked.decided_at = timezone.now()
        locked.decided_by = actor
        locked.decline_reason = reason
        locked.save(update_fields=["status", "decided_at", "decided_by", "decline_reason"])
        audit_record(
            actor=actor,
            action=action,
            target_type=TARGET,
            target_id=locked.pk,
            patient=locked.prescription.patient,
            # The reason is health text: it stays encrypted with the request.
            reason="declined; reason kept with the request",
        )
        notify_refill_decided(locked)
    return locked
