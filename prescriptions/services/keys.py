"""Prescribers' signing keys: made on first need, rotated on request, never deleted.

Only an OTP-verified, active doctor holds a key (nurses, patients and admins never sign).
Every creation and rotation is audited (no patient: it is not health data).
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role, User
from accounts.policy import otp_verified
from audit.services import audit_record, audit_record_denied
from prescriptions import signing
from prescriptions.errors import PrescriptionsErrorCode
from prescriptions.models import PrescriberKey
from telemed.errors import ApplicationError

FORBIDDEN = PrescriptionsErrorCode.FORBIDDEN.value


def _require_prescriber(actor: User, *, action: str) -> None:
    if getattr(actor, "role", None) != Role.DOCTOR or not actor.is_active or not otp_verified(actor):
        audit_record_denied(
            actor=actor, action=action, target_type="prescriptions.prescriberkey", reason="not a verified doctor"
        )
        raise ApplicationError("Only a doctor with a verified sign-in holds a signing key.", FORBIDDEN, status_code=403)


def _new_key(actor: User) -> PrescriberKey:
    private = signing.new_private_key()
    public = signing.public_key_bytes(private)
    return PrescriberKey.objects.create(
        prescriber=actor,
        public_key=public.hex(),
        fingerprint=signing.fingerprint(public),
        private_key=base64.b64encode(signing.private_key_bytes(private)).decode("ascii"),
    )


def prescriber_key_ensure(*, actor: User) -> PrescriberKey:
    """The doctor's active signing key, made now if they have none (idempotent)."""
    action = "prescriptions.key.create"
    _require_prescriber(actor, action=action)
    existing = PrescriberKey.objects.filter(prescriber=actor, retired_at__isnull=True).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic(durable=True):
            key = _new_key(actor)
            audit_record(
                actor=actor,
                action=action,
                target_type="prescriptions.prescriberkey",
                target_id=key.pk,
                reason=f"fingerprint {key.fingerprint}",
            )
    except IntegrityError:
        # A concurrent request made it first (the one-active-key constraint): use theirs.
        return PrescriberKey.objects.get(prescriber=actor, retired_at__isnull=True)
    return key


@transaction.atomic(durable=True)
def _rotate(actor: User) -> PrescriberKey:
    # The row lock on the active key closes the race of two rotations at once.
    active = PrescriberKey.objects.select_for_update().filter(prescriber=actor, retired_at__isnull=True).first()
    if active is not None:
        active.retired_at = timezone.now()
        active.save(update_fields=["retired_at"])
    key = _new_key(actor)
    audit_record(
        actor=actor,
        action="prescriptions.key.rotate",
        target_type="prescriptions.prescriberkey",
        target_id=key.pk,
        reason=f"{active.fingerprint if active else 'none'} -> {key.fingerprint}",
    )
    return key


def prescriber_key_rotate(*, actor: User) -> PrescriberKey:
    """Retire the doctor's active key and make a new one; what the old key signed still verifies."""
    _require_prescriber(actor, action="prescriptions.key.rotate")
    return _rotate(actor)


def signing_key(key: PrescriberKey) -> Ed25519PrivateKey:
    """The private key of an active key row, decrypted (for the signing service only)."""
    if not key.active:
        raise ApplicationError("A retired key signs nothing new.", PrescriptionsErrorCode.KEY_RETIRED, status_code=409)
    return signing.private_key_from_bytes(base64.b64decode(key.private_key))
