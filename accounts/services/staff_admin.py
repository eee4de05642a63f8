"""What a clinic admin does to another account: deactivate it, lift a sign-in lockout.

(Resetting MFA is `accounts.services.mfa.mfa_reset`.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from axes.models import AccessAttempt
from django.db import transaction

from accounts.models import Role
from accounts.services.sessions import user_sessions_end_in_transaction
from audit.services import audit_record, audit_record_denied
from telemed.errors import ApplicationError

if TYPE_CHECKING:
    from accounts.models import User


class StaffAdminErrorCode:
    FORBIDDEN = "staff_admin_forbidden"
    REASON_REQUIRED = "reason_required"
    SELF = "staff_admin_self"


def _require_admin(*, actor: User, action: str, user: User | None, reason: str) -> None:
    # Outside any transaction: the refusal is recorded on its own (audit_record_denied).
    if not (actor.is_active and actor.role == Role.ADMIN):
        audit_record_denied(
            actor=actor, action=action, target_type="accounts.user", target_id=user.pk if user else "", reason=reason
        )
        raise ApplicationError("Only a clinic admin can do this.", StaffAdminErrorCode.FORBIDDEN, status_code=403)


def user_deactivate(*, actor: User, user: User, reason: str) -> User:
    """Deactivate `user`: no more sign-in, every session ended, every socket told to close.

    Sockets: consumers join `user.<id>` and close on `{"type": "session.revoked"}` (sent after
    commit). API tokens: simplejwt refuses tokens of an inactive user. Audited
    `accounts.user.deactivate` with the reason. An admin cannot deactivate themself.
    """
    _require_admin(actor=actor, action="accounts.user.deactivate", user=user, reason=reason)
    if not reason.strip():
        raise ApplicationError("Give a reason.", StaffAdminErrorCode.REASON_REQUIRED)
    if actor.pk == user.pk:
        raise ApplicationError("You cannot deactivate your own account.", StaffAdminErrorCode.SELF)
    with transaction.atomic(durable=True):
        type(user).objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        user_sessions_end_in_transaction(user=user)
        audit_record(
            actor=actor,
            action="accounts.user.deactivate",
            target_type="accounts.user",
            target_id=user.pk,
            reason=reason.strip(),
        )
    return user


def user_unlock(*, actor: User, user: User | None = None, ip: str = "") -> int:
    """Lift django-axes lockouts of an account (by its email) and/or an address.

    Returns how many failure records were removed. Audited `accounts.user.unlock`.
    """
    target = f"ip={ip}" if ip else ""
    _require_admin(actor=actor, action="accounts.user.unlock", user=user, reason=target)
    if user is None and not ip:
        raise ApplicationError("Choose an account or an address to unlock.", "unlock_target_required")
    with transaction.atomic(durable=True):
        removed = 0
        if user is not None:
            removed += AccessAttempt.objects.filter(username=user.email.lower()).delete()[0]
        if ip:
            removed += AccessAttempt.objects.filter(ip_address=ip).delete()[0]
        audit_record(
            actor=actor,
            action="accounts.user.unlock",
            target_type="accounts.user",
            target_id=user.pk if user else "",
            reason=target,
        )
    return removed
