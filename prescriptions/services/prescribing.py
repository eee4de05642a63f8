"""Writing, checking, signing, cancelling and revising prescriptions.

A draft belongs to its author (a doctor with clinical standing on the patient's chart: care
relationship or break-glass); only the author edits or signs it. Signing needs a fresh TOTP
code (consumed: the code used to sign in does not sign), the prescriber's licence number, and
a reason when the safety check warns. The signed content never changes afterwards (see
prescriptions.models.Prescription); a change is a revision: a new draft that supersedes the
signed prescription once it is signed itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Role, User
from accounts.selectors import own_profile
from accounts.services.mfa import totp_verify
from appointments.selectors import appointment_of_patient
from audit.services import audit_record, audit_record_denied
from prescriptions import document, safety, signing
from prescriptions.errors import (
    PrescriptionsError,
    PrescriptionsErrorCode,
    PrescriptionsForbiddenError,
    UnacknowledgedWarnings,
)
from prescriptions.models import (
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
    PrescriptionWarning,
    RefillRequest,
    RefillStatus,
)
from prescriptions.selectors import prescriber_key_active
from prescriptions.services.keys import prescriber_key_ensure, signing_key
from prescriptions.services.notify import (
    notify_prescription_cancelled,
    notify_prescription_ready,
    notify_refill_decided,
)
from records.selectors import Need as ChartNeed
from records.selectors import chart_permission, prescribing_facts

TARGET = "prescriptions.prescription"
ITEM_FIELDS = (
    "medication",
    "strength",
    "form",
    "dose",
    "route",
    "frequency",
    "duration",
    "quantity",
    "quantity_unit",
    "refills",
    "substitution_allowed",
    "instructions",
)
MAX_ITEMS = 10
# As the item table's check constraints say (prescriptions.models.PrescriptionItem).
MIN_QUANTITY, MAX_QUANTITY, MAX_REFILLS = 1, 10000, 12


# --- Who may ---------------------------------------------------------------------------------


def _refuse(actor: User, prescription: Prescription | None, *, action: str, reason: str, message: str) -> None:
    audit_record_denied(
        actor=actor,
        action=action,
        target_type=TARGET,
        target_id=prescription.pk if prescription else "",
        patient=prescription.patient if prescription else None,
        reason=reason,
    )
    raise PrescriptionsForbiddenError(message)


def require_prescriber_for(actor: User, patient: User, *, action: str, prescription: Prescription | None) -> None:
    """A doctor with clinical standing on the patient's chart (care or break-glass)."""
    if getattr(actor, "role", None) != Role.DOCTOR:
        _refuse(actor, prescription, action=action, reason="not a doctor", message="Only a doctor prescribes.")
    if chart_permission(actor, patient, ChartNeed.CLINICAL) is None:
        _refuse(
            actor,
            prescription,
            action=action,
            reason="no clinical standing",
            message="Only a doctor caring for this patient prescribes for them.",
        )


def _require_author(actor: User, prescription: Prescription, *, action: str) -> None:
    require_prescriber_for(actor, prescription.patient, action=action, prescription=prescription)
    if prescription.prescriber_id != actor.pk:
        _refuse(
            actor,
            prescription,
            action=action,
            reason="not the author",
            message="Only the doctor who wrote this prescription may change or sign it.",
        )


def _require_draft(prescription: Prescription) -> None:
    if prescription.status != PrescriptionStatus.DRAFT:
        raise PrescriptionsError(
            "A signed prescription is never edited: revise it (a new prescription replaces it).",
            PrescriptionsErrorCode.SIGNED,
            status_code=409,
        )


# --- Items -----------------------------------------------------------------------------------


def _clean_items(items: Iterable[Mapping[str, Any]]) -> list[PrescriptionItem]:
    rows: list[PrescriptionItem] = []
    for position, raw in enumerate(items, start=1):
        unknown = set(raw) - set(ITEM_FIELDS)
        if unknown:
            raise PrescriptionsError(
                f"Item {position}: unknown field {sorted(unknown)[0]!r}.", PrescriptionsErrorCode.INVALID
            )
        values = {name: raw[name] for name in ITEM_FIELDS if name in raw and raw[name] is not None}
        for name in ("medication", "strength", "dose", "frequency", "duration", "instructions", "quantity_unit"):
            if name in values:
                values[name] = str(values[name]).strip()
        row = PrescriptionItem(position=position, **values)
        try:
            # The table's check constraints are said below in words; Django would name them.
            row.full_clean(exclude=["prescription"], validate_unique=False, validate_constraints=False)
        except ValidationError as error:
            field, messages = next(iter(error.message_dict.items()))
            label = field.replace("_", " ")
            raise PrescriptionsError(
                f"Item {position}, {label}: {messages[0]}", PrescriptionsErrorCode.INVALID
            ) from None
        if not MIN_QUANTITY <= row.quantity <= MAX_QUANTITY:
            raise PrescriptionsError(
                f"Item {position}, quantity: between {MIN_QUANTITY} and {MAX_QUANTITY}.", PrescriptionsErrorCode.INVALID
            )
        if row.refills > MAX_REFILLS:
            raise PrescriptionsError(
                f"Item {position}, refills: at most {MAX_REFILLS}.", PrescriptionsErrorCode.INVALID
            )
        rows.append(row)
    if not rows:
        raise PrescriptionsError("Add at least one medicine.", PrescriptionsErrorCode.NO_ITEMS)
    if len(rows) > MAX_ITEMS:
        raise PrescriptionsError(f"A prescription holds at most {MAX_ITEMS} medicines.", PrescriptionsErrorCode.INVALID)
    return rows


def _replace_items(prescription: Prescription, rows: list[PrescriptionItem]) -> None:
    prescription.items.all().delete()
    for row in rows:
        row.prescription = prescription
    PrescriptionItem.objects.bulk_create(rows)


def _appointment_id(patient: User, appointment_id: object) -> int | None:
    if appointment_id in (None, ""):
        return None
    appointment = appointment_of_patient(patient, appointment_id)
    if appointment is None:
        raise PrescriptionsError(
            "That appointment is not one of this patient's.", PrescriptionsErrorCode.APPOINTMENT_MISMATCH
        )
    return appointment.pk


def _valid_days(value: object) -> int:
    try:
        days = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= 366:
        raise PrescriptionsError("Valid for: between 1 and 366 days.", PrescriptionsErrorCode.INVALID)
    return days


# --- Drafts ----------------------------------------------------------------------------------


def prescription_create(
    *,
    actor: User,
    patient: User,
    items: Iterable[Mapping[str, Any]],
    appointment_id: object = None,
    valid_days: object = 180,
) -> Prescription:
    """A new draft by `actor` for `patient` (PrescriptionsForbiddenError unless a caring doctor)."""
    action = "prescriptions.prescription.create"
    # Refusals come before the transaction: their audit record commits on its own.
    require_prescriber_for(actor, patient, action=action, prescription=None)
    rows = _clean_items(items)
    with transaction.atomic(durable=True):
        prescription = Prescription.objects.create(
            patient=patient,
            prescriber=actor,
            appointment_id=_appointment_id(patient, appointment_id),
            valid_days=_valid_days(valid_days),
        )
        _replace_items(prescription, rows)
        audit_record(actor=actor, action=action, target_type=TARGET, target_id=prescription.pk, patient=patient)
    return prescription


def prescription_update(
    *,
    actor: User,
    prescription: Prescription,
    items: Iterable[Mapping[str, Any]] | None = None,
    appointment_id: object = ...,
    valid_days: object = None,
) -> Prescription:
    """Change a draft (its author only); a signed prescription is refused (409)."""
    action = "prescriptions.prescription.update"
    _require_author(actor, prescription, action=action)
    rows = _clean_items(items) if items is not None else None
    with transaction.atomic(durable=True):
        # The race this lock closes: an edit landing after a concurrent signing read the items.
        prescription = Prescription.objects.select_for_update().get(pk=prescription.pk)
        _require_draft(prescription)
        if rows is not None:
            _replace_items(prescription, rows)
        if appointment_id is not ...:
            prescription.appointment_id = _appointment_id(prescription.patient, appointment_id)
        if valid_days is not None:
            prescription.valid_days = _valid_days(valid_days)
        prescription.updated_at = timezone.now()
        prescription.save(update_fields=["appointment", "valid_days", "updated_at"])
        audit_record(
            actor=actor, action=action, target_type=TARGET, target_id=prescription.pk, patient=prescription.patient
        )
    return prescription


def prescription_revise(*, actor: User, prescription: Prescription) -> Prescription:
    """A new draft with the signed prescription's items that will supersede it once signed.

    One revision at a time: asked again by the author of the open revision draft, that draft
    is returned (a second click makes nothing new); by another doctor, 409.
    """
    action = "prescriptions.prescription.revise"
    require_prescriber_for(actor, prescription.patient, action=action, prescription=prescription)
    with transaction.atomic(durable=True):
        # The race this lock closes: two revisions of one prescription started at once.
        locked = Prescription.objects.select_for_update().get(pk=prescription.pk)
        if locked.status != PrescriptionStatus.SIGNED:
            raise PrescriptionsError(
                "Only a signed, active prescription is revised.", PrescriptionsErrorCode.NOT_ACTIVE, status_code=409
            )
        pending = revision_pending(locked)
        if pending is not None and pending.prescriber_id == actor.pk:
            return pending
        require_no_revision_pending(locked)
        return copy_as_draft(actor, locked, action=action)


def revision_pending(prescription: Prescription) -> Prescription | None:
    """The draft that will supersede `prescription` once signed, if one is being written."""
    return Prescription.objects.filter(supersedes=prescription, status=PrescriptionStatus.DRAFT).first()


def require_no_revision_pending(prescription: Prescription) -> None:
    # A prescription is superseded by one other at most (a one-to-one link): a second would
    # fail in the database; say why instead.
    pending = revision_pending(prescription)
    if pending is not None:
        raise PrescriptionsError(
            f"A revision of this prescription is already being written (draft #{pending.pk}); "
            "sign or cancel that draft first.",
            PrescriptionsErrorCode.NOT_ACTIVE,
            status_code=409,
        )


def copy_as_draft(actor: User, prescription: Prescription, *, action: str) -> Prescription:
    draft = Prescription.objects.create(
        patient=prescription.patient,
        prescriber=actor,
        appointment_id=prescription.appointment_id,
        valid_days=prescription.valid_days,
        supersedes=prescription,
    )
    PrescriptionItem.objects.bulk_create(
        PrescriptionItem(prescription=draft, **{name: getattr(item, name) for name in ("position", *ITEM_FIELDS)})
        for item in prescription.items.all()
    )
    audit_record(
        actor=actor,
        action=action,
        target_type=TARGET,
        target_id=draft.pk,
        patient=prescription.patient,
        reason=f"supersedes {prescription.public_id}",
    )
    return draft


# --- Safety check ----------------------------------------------------------------------------


def _other_active_medicines(patient: User, exclude_ids: set[int]) -> list[str]:
    others = PrescriptionItem.objects.filter(
        prescription__patient=patient, prescription__status=PrescriptionStatus.SIGNED
    ).exclude(prescription_id__in=exclude_ids)
    today = timezone.localdate()
    return [item.medication for item in others.select_related("prescription") if item.prescription.valid_until >= today]


def warnings_for(
    actor: User, patient: User, items: Iterable[tuple[int, str]], *, exclude_ids: Iterable[int | None] = ()
) -> list[safety.Warning]:
    """Safety warnings for medicines (position, name) against the patient's active allergies,
    chart medications and other active prescriptions (except `exclude_ids`: the prescription
    itself and the one it replaces, which is not taken alongside it)."""
    facts = prescribing_facts(actor, patient)
    excluded = {pk for pk in exclude_ids if pk is not None}
    current = [safety.Candidate(name) for name in facts.medications + _other_active_medicines(patient, excluded)]
    allergies = [safety.AllergyFact(substance, reaction, severe) for substance, reaction, severe in facts.allergies]
    return safety.check(
        [safety.Candidate(name, position) for position, name in items], allergies=allergies, current=current
    )


def _warnings(actor: User, prescription: Prescription) -> list[safety.Warning]:
    items = [(item.position, item.medication) for item in prescription.items.all()]
    return warnings_for(actor, prescription.patient, items, exclude_ids=(prescription.pk, prescription.supersedes_id))


def prescription_check(*, actor: User, prescription: Prescription) -> list[safety.Warning]:
    """The safety warnings for a draft against the patient's chart (audited: it reads the chart)."""
    action = "prescriptions.prescription.check"
    require_prescriber_for(actor, prescription.patient, action=action, prescription=prescription)
    warnings = _warnings(actor, prescription)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=action,
            target_type=TARGET,
            target_id=prescription.pk,
            patient=prescription.patient,
            reason=f"{len(warnings)} warning(s)",
        )
    return warnings


# --- Signing ---------------------------------------------------------------------------------


def require_fresh_code(actor: User, otp_code: str, prescription: Prescription) -> None:
    code = (otp_code or "").strip()
    if not code:
        raise PrescriptionsError(
            "Enter the 6-digit code from your authenticator app to sign.", PrescriptionsErrorCode.OTP_REQUIRED
        )
    if totp_verify(user=actor, code=code) is None:
        audit_record_denied(
            actor=actor,
            action="prescriptions.prescription.sign",
            target_type=TARGET,
            target_id=prescription.pk,
            patient=prescription.patient,
            reason="wrong or reused authenticator code",
        )
        raise PrescriptionsError(
            "That code is not right or was already used. Wait for the next code and try again.",
            PrescriptionsErrorCode.OTP_INVALID,
        )


def prescriber_licence(actor: User) -> tuple[str, str]:
    profile = own_profile(actor)
    licence = getattr(profile, "licence_number", "") or ""
    if not licence.strip():
        raise PrescriptionsError(
            "Your profile has no licence number; a prescription must show it. Ask an administrator to add it.",
            PrescriptionsErrorCode.LICENCE_MISSING,
            status_code=409,
        )
    return licence.strip(), (getattr(profile, "licence_jurisdiction", "") or "").strip()


def _identity(patient: User) -> tuple[str, dt.date | None, str]:
    profile = own_profile(patient)
    name = (getattr(profile, "legal_name", "") or "").strip() or patient.full_name or patient.email
    return name, getattr(profile, "date_of_birth", None), getattr(profile, "mrn", "") or ""


def require_acknowledged(warnings: list[safety.Warning], override_reason: str) -> None:
    if warnings and not override_reason.strip():
        raise UnacknowledgedWarnings([warning.as_dict() for warning in warnings])


def _preflight(actor: User, prescription: Prescription, override_reason: str, *, action: str) -> None:
    """Every refusal that must not consume the one-time code: who, state, licence, warnings."""
    _require_author(actor, prescription, action=action)
    _require_draft(prescription)
    prescriber_licence(actor)
    if not prescription.items.exists():
        raise PrescriptionsError("Add at least one medicine.", PrescriptionsErrorCode.NO_ITEMS)
    require_acknowledged(_warnings(actor, prescription), override_reason)


def sign_locked(
    actor: User,
    prescription: Prescription,
    override_reason: str,
    *,
    notify: bool = True,
    answering_refill_id: int | None = None,
) -> Prescription:
    """Sign a draft inside the caller's transaction, with the row locked by the caller.

    `notify=False` when the caller tells the patient itself (an approved refill request);
    `answering_refill_id` names the refill request the caller answers itself (other open
    requests on the prescription this one replaces are answered here: it is their refill)."""
    _require_draft(prescription)
    warnings = _warnings(actor, prescription)
    # A warning may have appeared since the preflight (an allergy recorded meanwhile).
    require_acknowledged(warnings, override_reason)
    key = prescriber_key_active(actor)
    licence, jurisdiction = prescriber_licence(actor)
    name, birth_date, mrn = _identity(prescription.patient)
    signed_at = timezone.now().replace(microsecond=0)
    prescription.signed_at = signed_at
    # In the clinic's calendar, as expiry is checked (timezone.localdate()), not UTC's.
    prescription.valid_until = timezone.localdate(signed_at) + dt.timedelta(days=prescription.valid_days)
    prescription.clinic_name = settings.CLINIC_NAME
    prescription.patient_name = name
    prescription.patient_birth_date = birth_date
    prescription.patient_mrn = mrn
    prescription.prescriber_name = actor.full_name or actor.email
    prescription.prescriber_licence = licence
    prescription.prescriber_jurisdiction = jurisdiction
    prescription.signing_key = key
    items = list(prescription.items.all())
    body = document.signed_document(prescription, items, key)
    prescription.signature = signing.sign(signing_key(key), body).hex()
    prescription.status = PrescriptionStatus.SIGNED
    prescription.updated_at = signed_at
    prescription.save()
    reason = override_reason.strip()
    for warning in warnings:
        stored = PrescriptionWarning.objects.create(
            prescription=prescription,
            item_position=warning.item_position,
            kind=warning.kind,
            severity=warning.severity,
            message=warning.message,
            override_reason=reason,
            overridden_by=actor,
        )
        audit_record(
            actor=actor,
            action="prescriptions.warning.override",
            target_type=TARGET,
            target_id=prescription.pk,
            patient=prescription.patient,
            # The reason itself is health text: it stays encrypted with the warning.
            reason=(
                f"{warning.kind} ({warning.severity}), item {warning.item_position}; "
                f"reason kept with warning {stored.pk}"
            ),
        )
    if prescription.supersedes_id:
        # The lock closes the race with a pharmacy dispensing the old one as it is replaced.
        old = Prescription.objects.select_for_update().get(pk=prescription.supersedes_id)
        if old.status == PrescriptionStatus.SIGNED:
            old.status = PrescriptionStatus.SUPERSEDED
            old.updated_at = signed_at
            old.save(update_fields=["status", "updated_at"])
            _answer_open_refills(actor, old, replacement=prescription, except_id=answering_refill_id)
    audit_record(
        actor=actor,
        action="prescriptions.prescription.sign",
        target_type=TARGET,
        target_id=prescription.pk,
        patient=prescription.patient,
        reason=f"{prescription.public_id} with key {key.fingerprint}",
    )
    if notify:
        notify_prescription_ready(prescription)
    return prescription


def prescription_sign(
    *, actor: User, prescription: Prescription, otp_code: str, override_reason: str = ""
) -> Prescription:
    """Sign a draft: author only, fresh TOTP code, a reason if the safety check warns.

    Refusals that need no code come first (so a refused attempt does not burn the code):
    403 not the author / not a doctor, 409 already signed, 409 no licence, 409 unacknowledged
    warnings; then 400 missing / wrong / reused code. Then one transaction: the identity
    snapshots, the signature, the overridden warnings (each audited), the superseded
    prescription, the patient's notice.
    """
    action = "prescriptions.prescription.sign"
    _preflight(actor, prescription, override_reason, action=action)
    require_fresh_code(actor, otp_code, prescription)
    prescriber_key_ensure(actor=actor)
    with transaction.atomic(durable=True):
        # The race this lock closes: two signings (or an edit and a signing) of one draft.
        locked = Prescription.objects.select_for_update().get(pk=prescription.pk)
        return sign_locked(actor, locked, override_reason)


# --- Cancelling ------------------------------------------------------------------------------


def prescription_cancel(*, actor: User, prescription: Prescription, reason: str) -> Prescription:
    """Cancel a draft or a signed prescription (a doctor caring for the patient, with a reason).

    A cancelled prescription verifies as cancelled; what was already dispensed stays recorded.
    """
    action = "prescriptions.prescription.cancel"
    require_prescriber_for(actor, prescription.patient, action=action, prescription=prescription)
    if prescription.status == PrescriptionStatus.DRAFT and prescription.prescriber_id != actor.pk:
        _require_author(actor, prescription, action=action)
    reason = (reason or "").strip()
    if not reason:
        raise PrescriptionsError("Say why the prescription is cancelled.", PrescriptionsErrorCode.INVALID)
    with transaction.atomic(durable=True):
        # The race this lock closes: a dispense recorded while the prescription is being cancelled.
        locked = Prescription.objects.select_for_update().get(pk=prescription.pk)
        if locked.status not in (PrescriptionStatus.DRAFT, PrescriptionStatus.SIGNED):
            raise PrescriptionsError(
                f"This prescription is already {locked.get_status_display().lower()}.",
                PrescriptionsErrorCode.NOT_ACTIVE,
                status_code=409,
            )
        was_signed = locked.status == PrescriptionStatus.SIGNED
        now = timezone.now()
        locked.status = PrescriptionStatus.CANCELLED
        locked.cancelled_at = now
        locked.cancelled_by = actor
        locked.cancel_reason = reason
        locked.updated_at = now
        fields = ["status", "cancelled_at", "cancelled_by", "cancel_reason", "updated_at"]
        if not was_signed and locked.supersedes_id:
            # A dropped revision lets go of the prescription it would have replaced (one-to-one),
            # or that one could never be revised again.
            locked.supersedes = None
            fields.append("supersedes")
        locked.save(update_fields=fields)
        audit_record(
            actor=actor,
            action=action,
            target_type=TARGET,
            target_id=locked.pk,
            patient=locked.patient,
            # The reason is health text: it stays encrypted with the prescription.
            reason="signed prescription cancelled" if was_signed else "draft discarded",
        )
        if was_signed:
            notify_prescription_cancelled(locked)
            _answer_open_refills(actor, locked, replacement=None)
    return locked


def _answer_open_refills(
    actor: User, prescription: Prescription, *, replacement: Prescription | None, except_id: int | None = None
) -> None:
    """Answer the refill requests still open on a prescription that was just replaced (their
    refill is the replacement) or cancelled (declined, saying so), so no patient waits on a
    request nobody can approve any more."""
    requests = RefillRequest.objects.select_for_update().filter(prescription=prescription, status=RefillStatus.OPEN)
    if except_id is not None:
        requests = requests.exclude(pk=except_id)
    now = timezone.now()
    for refill in requests:
        refill.decided_at = now
        refill.decided_by = actor
        if replacement is not None:
            refill.status = RefillStatus.APPROVED
            refill.new_prescription = replacement
            action = "prescriptions.refill.approve"
        else:
            refill.status = RefillStatus.DECLINED
            refill.decline_reason = "Your doctor cancelled this prescription."
            action = "prescriptions.refill.decline"
        refill.save(update_fields=["status", "decided_at", "decided_by", "new_prescription", "decline_reason"])
        audit_record(
            actor=actor,
            action=action,
            target_type="prescriptions.refillrequest",
            target_id=refill.pk,
            patient=prescription.patient,
            reason="answered by the replacement" if replacement else "the prescription was cancelled",
        )
        notify_refill_decided(refill)
