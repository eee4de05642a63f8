"""The user's signed-in browser sessions: recorded at sign-in, touched, ended one by one or all.

A session is ended by marking its `UserSession` row; `SessionSecurityMiddleware` logs out any
request whose session row is ended (and flushes the session data), so an ended session is
dead on its next request on any device. Sockets are told too: every consumer of a signed-in
user joins the group `user.<id>` and must close when it receives `{"type": "session.revoked"}`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from accounts.mfa.models import UserSession
from audit.services import audit_record, audit_record_denied
from telemed.events import send_on_commit

if TYPE_CHECKING:
    from accounts.models import User

SESSION_REVOKED_EVENT = {"type": "session.revoked"}


def user_group(user_id: int) -> str:
    """The channel-layer group every socket of the user joins (closed on session.revoked)."""
    return f"user.{user_id}"


def session_key_hash(session_key: str) -> str:
    return hashlib.sha256(session_key.encode()).hexdigest()


@transaction.atomic(durable=True)
def user_session_start(
    *, user: User, session_key: str, ip: str | None, user_agent: str, signed_in_here: bool = False
) -> UserSession:
    """Record a signed-in session so the sessions page lists it and can end it.

    `signed_in_here=True` from the portal's sign-in (password, OTP step): audited
    `accounts.login.success`. Without it, a session signed in some other way is recorded on its
    first request, as bookkeeping (not audited again).
    """
    now = timezone.now()
    row = UserSession.objects.create(
        user=user,
        session_key_hash=session_key_hash(session_key),
        created_at=now,
        last_seen_at=now,
        ip=ip or None,
        user_agent=user_agent[:512],
    )
    if signed_in_here:
        audit_record(
            actor=user, action="accounts.login.success", target_type="accounts_mfa.usersession", target_id=row.pk
        )
    return row


def user_session_touch(*, user_session_id: int, session_key: str, ip: str | None) -> None:
    """Move last-seen forward (no audit: it is bookkeeping, throttled by the caller)."""
    UserSession.objects.filter(pk=user_session_id, ended_at__isnull=True).update(
        last_seen_at=timezone.now(), session_key_hash=session_key_hash(session_key), ip=ip or None
    )


def user_session_end(*, actor: User, user_session_id: int) -> UserSession:
    """End one of the actor's own sessions. Audited `accounts.session.end`.

    Someone else's session id (or none) is a 404, audited as denied: ids from outside are not trusted.
    """
    if not UserSession.objects.filter(pk=user_session_id, user=actor).exists():
        audit_record_denied(
            actor=actor,
            action="accounts.session.end",
            target_type="accounts_mfa.usersession",
            target_id=user_session_id,
        )
        raise Http404("No such session.")
    with transaction.atomic(durable=True):
        row = UserSession.objects.select_for_update().get(pk=user_session_id, user=actor)
        if row.ended_at is None:
            row.ended_at = timezone.now()
            row.save(update_fields=["ended_at"])
            audit_record(
                actor=actor, action="accounts.session.end", target_type="accounts_mfa.usersession", target_id=row.pk
            )
            send_on_commit(user_group(actor.pk), {**SESSION_REVOKED_EVENT, "session_id": row.pk})
    return row


def user_sessions_end_in_transaction(*, user: User) -> int:
    """End every session of `user` inside the caller's transaction; sockets are told after commit."""
    ended = UserSession.objects.filter(user=user, ended_at__isnull=True).update(ended_at=timezone.now())
    send_on_commit(user_group(user.pk), SESSION_REVOKED_EVENT)
    return ended


@transaction.atomic(durable=True)
def user_sessions_end_all(*, actor: User) -> int:
    """Sign out everywhere: end all the actor's sessions, this one too. Audited `accounts.session.end_all`."""
    ended = user_sessions_end_in_transaction(user=actor)
    audit_record(actor=actor, action="accounts.session.end_all", target_type="accounts.user", target_id=actor.pk)
    return ended


@transaction.atomic(durable=True)
def user_session_close(*, user: User, user_session_id: int | None, reason: str) -> None:
    """Mark a session closed because it signed out or timed out. Audited `accounts.session.close`."""
    if user_session_id is not None:
        UserSession.objects.filter(pk=user_session_id, user=user, ended_at__isnull=True).update(ended_at=timezone.now())
    audit_record(
        actor=user,
        action="accounts.session.close",
        target_type="accounts_mfa.usersession",
        target_id=user_session_id or "",
        reason=reason,
    )
