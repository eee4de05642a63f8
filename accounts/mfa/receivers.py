"""Audit every failed sign-in.

A signal receiver, against the project's "no logic in signals" habit, because this is an
integration hook, not business logic: Django sends `user_login_failed` from `authenticate()`
wherever a password is checked (the login page, the admin, the API token endpoint), and
django-axes counts failures from the same signal. Hooking it here audits every failure,
counted or locked out, without each caller remembering to.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from audit.services import audit_record_denied
from telemed.events import on_commit


@receiver(user_login_failed, dispatch_uid="accounts.mfa.audit_login_failed")
def audit_login_failed(sender, credentials: dict, request=None, **kwargs) -> None:
    from accounts.middleware import axes_username

    email = axes_username(request, credentials) if request is not None else None
    if email is None:
        email = (credentials.get("username") or credentials.get("email") or "").strip().lower() or None
    user = get_user_model().objects.filter(email__iexact=email).only("pk").first() if email else None
    locked = bool(getattr(request, "axes_locked_out", False))
    # The typed text of an unknown account is not stored: people type passwords into the email field.
    reason = ("locked out" if locked else "wrong password") if user else ("locked out" if locked else "unknown account")

    def record() -> None:
        audit_record_denied(
            actor=AnonymousUser(),
            action="accounts.login.fail",
            target_type="accounts.user",
            target_id=user.pk if user else "",
            patient=None,
            reason=reason,
        )

    try:
        record()
    except RuntimeError:
        # A caller checking a password inside its own transaction (audit_record_denied refuses
        # to run in an atomic block): record once that transaction commits.
        on_commit(record)
