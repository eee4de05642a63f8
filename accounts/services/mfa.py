"""MFA: TOTP enrolment and verification (django-otp), single-use backup codes, an admin's reset.

Verification writes the device (django-otp's `last_t`, which refuses a code already used, and
its failure throttle) in a transaction that commits whatever the outcome; a refusal is then
audited outside it with `audit_record_denied`. Callers must therefore call these outside any
atomic block.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.mfa.models import BackupCode
from accounts.models import Role
from accounts.services.sessions import user_sessions_end_in_transaction
from audit.services import audit_record, audit_record_denied
from telemed.errors import ApplicationError

if TYPE_CHECKING:
    from accounts.models import User

BACKUP_CODE_COUNT = 10
# 10 characters of a 32-letter alphabet without look-alikes: 50 bits, typed from paper.
BACKUP_CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
BACKUP_CODE_LENGTH = 10
DEVICE_NAME = "Authenticator app"


class MfaErrorCode:
    INVALID_CODE = "mfa_invalid_code"
    NOT_ENROLLED = "mfa_not_enrolled"
    ALREADY_ENROLLED = "mfa_already_enrolled"
    REQUIRED_FOR_STAFF = "mfa_required_for_staff"
    FORBIDDEN = "mfa_forbidden"


def _normalize_backup_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def backup_code_hash(code: str, *, salt: str | None = None) -> str:
    """`hmac_sha256$<salt>$<hex>`: keyed by SECRET_KEY, salted per code.

    Not the password hasher: a challenge compares against up to ten codes, and ten PBKDF2 runs
    (~0.3 s each in production) would make every wrong code cost seconds of CPU. A code has 50
    random bits, so a keyed fast hash is enough: the table alone does not let anyone test codes.
    """
    salt = salt or secrets.token_hex(8)
    digest = salted_hmac("accounts.mfa.backup_code", f"{salt}:{code}", algorithm="sha256").hexdigest()
    return f"hmac_sha256${salt}${digest}"


def _backup_code_matches(code: str, stored: str) -> bool:
    try:
        _, salt, _ = stored.split("$", 2)
    except ValueError:
        return False
    return constant_time_compare(backup_code_hash(code, salt=salt), stored)


def _normalize_totp(code: str) -> str:
    return "".join(ch for ch in code if not ch.isspace())


def totp_device_confirmed(*, user: User) -> TOTPDevice | None:
    """The user's confirmed authenticator, if any (read-only helper for interfaces)."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


@transaction.atomic(durable=True)
def totp_enrol_start(*, user: User) -> tuple[TOTPDevice, str]:
    """Return an unconfirmed TOTP device of `user` and its otpauth:// URI (for the QR code).

    Reloading the setup page keeps the same secret until it is confirmed. Raises
    ApplicationError if the user already has a confirmed device.
    """
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ApplicationError("Two-step verification is already set up.", MfaErrorCode.ALREADY_ENROLLED)
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device, device.config_url


def totp_enrol_confirm(*, user: User, device: TOTPDevice, code: str) -> TOTPDevice:
    """Confirm `device` with a current code from the app; audited `accounts.mfa.enrol`.

    Other unconfirmed devices of the user are removed. Raises ApplicationError on a wrong code
    (audited as denied).
    """
    verified = False
    with transaction.atomic(durable=True):
        locked = TOTPDevice.objects.select_for_update().filter(pk=device.pk, user=user, confirmed=False).first()
        if locked is not None and locked.verify_token(_normalize_totp(code)):
            locked.confirmed = True
            locked.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            audit_record(
                actor=user, action="accounts.mfa.enrol", target_type="otp_totp.totpdevice", target_id=locked.pk
            )
            verified = True
    if not verified:
        audit_record_denied(
            actor=user,
            action="accounts.mfa.enrol",
            target_type="otp_totp.totpdevice",
            target_id=device.pk,
            reason="wrong code",
        )
        raise ApplicationError(
            "That code is not right. Check the time on your phone and try again.", MfaErrorCode.INVALID_CODE
        )
    assert locked is not None
    return locked


def totp_verify(*, user: User, code: str) -> TOTPDevice | None:
    """The confirmed device of `user` that accepts `code`, or None (audited as denied).

    A code is accepted once: django-otp's `verify_token` refuses any time step up to the
    device's `last_t`, and repeated failures are throttled (1 s, 2 s, 4 s ...).
    """
    accepted: TOTPDevice | None = None
    token = _normalize_totp(code)
    with transaction.atomic(durable=True):
        # The race this lock closes: two requests with the same code both read last_t before
        # either saves it, and the code is accepted twice.
        for device in TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"):
            if device.verify_token(token):
                accepted = device
                break
        if accepted is not None:
            audit_record(
                actor=user, action="accounts.mfa.verify", target_type="otp_totp.totpdevice", target_id=accepted.pk
            )
    if accepted is None:
        audit_record_denied(
            actor=user,
            action="accounts.mfa.verify",
            target_type="accounts.user",
            target_id=user.pk,
            reason="wrong or reused authenticator code",
        )
    return accepted


@transaction.atomic(durable=True)
def backup_codes_generate(*, user: User) -> list[str]:
    """Replace the user's backup codes with 10 new ones and return them (shown once, never stored).

    Requires a confirmed authenticator. Audited `accounts.mfa.backup_codes`.
    """
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ApplicationError("Set up an authenticator app first.", MfaErrorCode.NOT_ENROLLED)
    codes = [
        "".join(secrets.choice(BACKUP_CODE_ALPHABET) for _ in range(BACKUP_CODE_LENGTH))
        for _ in range(BACKUP_CODE_COUNT)
    ]
    BackupCode.objects.filter(user=user).delete()
    BackupCode.objects.bulk_create(BackupCode(user=user, code_hash=backup_code_hash(code)) for code in codes)
    audit_record(actor=user, action="accounts.mfa.backup_codes", target_type="accounts.user", target_id=user.pk)
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def backup_code_use(*, user: User, code: str) -> TOTPDevice | None:
    """Spend one unused backup code of `user`; return the device the session counts as verified by.

    A backup code stands in for the authenticator, so the verified session is bound to the user's
    confirmed TOTP device (django-otp keeps a device, not a code, in the session). Returns None
    (audited as denied) for a wrong or already used code.
    """
    normalized = _normalize_backup_code(code)
    device: TOTPDevice | None = None
    if len(normalized) == BACKUP_CODE_LENGTH:
        with transaction.atomic(durable=True):
            # The race this lock closes: two requests spending the same code at once.
            for backup in BackupCode.objects.select_for_update().filter(user=user, used_at__isnull=True).order_by("pk"):
                if _backup_code_matches(normalized, backup.code_hash):
                    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
                    if device is not None:
                        backup.used_at = timezone.now()
                        backup.save(update_fields=["used_at"])
                        audit_record(
                            actor=user,
                            action="accounts.mfa.backup_code_use",
                            target_type="accounts.user",
                            target_id=user.pk,
                        )
                    break
    if device is None:
        audit_record_denied(
            actor=user,
            action="accounts.mfa.verify",
            target_type="accounts.user",
            target_id=user.pk,
            reason="wrong or used backup code",
        )
    return device


def mfa_code_verify(*, user: User, code: str) -> TOTPDevice | None:
    """Check a code typed at a challenge: six digits are an authenticator code, anything else a
    backup code. Returns the device to mark the session verified with, or None (audited)."""
    token = _normalize_totp(code)
    if token.isdigit() and len(token) == 6:
        return totp_verify(user=user, code=token)
    return backup_code_use(user=user, code=code)


def backup_codes_remaining(*, user: User) -> int:
    return BackupCode.objects.filter(user=user, used_at__isnull=True).count()


def mfa_disable(*, user: User, code: str) -> None:
    """A patient turns two-step verification off, proving it with a current code.

    Staff may not (MFA is required for them). Deletes the user's devices and backup codes.
    Audited `accounts.mfa.disable`.
    """
    if user.is_staff_role:
        audit_record_denied(
            actor=user,
            action="accounts.mfa.disable",
            target_type="accounts.user",
            target_id=user.pk,
            reason="staff must keep MFA",
        )
        raise ApplicationError(
            "Clinic staff must keep two-step verification on.", MfaErrorCode.REQUIRED_FOR_STAFF, status_code=403
        )
    if mfa_code_verify(user=user, code=code) is None:
        raise ApplicationError("That code is not right.", MfaErrorCode.INVALID_CODE)
    with transaction.atomic(durable=True):
        TOTPDevice.objects.filter(user=user).delete()
        BackupCode.objects.filter(user=user).delete()
        audit_record(actor=user, action="accounts.mfa.disable", target_type="accounts.user", target_id=user.pk)


def mfa_reset(*, actor: User, user: User, reason: str) -> None:
    """An admin removes `user`'s authenticator and backup codes and ends all their sessions.

    The user sets MFA up again at next sign-in (staff are sent to setup). `actor` must be an
    active clinic admin; a reason is required. Audited `accounts.mfa.reset`.
    """
    if not (actor.is_active and actor.role == Role.ADMIN):
        audit_record_denied(
            actor=actor, action="accounts.mfa.reset", target_type="accounts.user", target_id=user.pk, reason=reason
        )
        raise ApplicationError(
            "Only a clinic admin can reset two-step verification.", MfaErrorCode.FORBIDDEN, status_code=403
        )
    if not reason.strip():
        raise ApplicationError("Give a reason for the reset.", "reason_required")
    with transaction.atomic(durable=True):
        TOTPDevice.objects.filter(user=user).delete()
        BackupCode.objects.filter(user=user).delete()
        user_sessions_end_in_transaction(user=user)
        audit_record(
            actor=actor,
            action="accounts.mfa.reset",
            target_type="accounts.user",
            target_id=user.pk,
            reason=reason.strip(),
        )
