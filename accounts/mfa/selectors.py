"""Reads for the sessions and staff pages (each takes the acting user)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.mfa.models import UserSession

if TYPE_CHECKING:
    from accounts.models import User


def user_session_list_for_user(user: User) -> QuerySet[UserSession]:
    """The user's sessions that are still alive (not ended, seen within the absolute limit), newest first."""
    horizon = timezone.now() - dt.timedelta(seconds=settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS)
    return UserSession.objects.filter(user=user, ended_at__isnull=True, created_at__gte=horizon).order_by(
        "-last_seen_at"
    )


def staff_user_list(*, actor: User, query: str = "", limit: int = 50) -> list[User]:
    """Accounts for the admin's management page, with `has_mfa` and `locked_out` annotations."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    users = get_user_model().objects.all().order_by("email")
    if query:
        users = users.filter(Q(email__icontains=query) | Q(full_name__icontains=query))
    users = users.annotate(
        has_mfa=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
    )
    found = list(users[:limit])
    # One query for the lockouts of the listed accounts (axes stores the typed, normalised email).
    failures = (
        AccessAttempt.objects.filter(username__in=[u.email.lower() for u in found], attempt_time__gte=since)
        .values("username")
        .annotate(total=Sum("failures_since_start"), rows=Count("id"))
    )
    locked = {row["username"] for row in failures if row["total"] >= settings.AXES_FAILURE_LIMIT}
    for user in found:
        user.locked_out = user.email.lower() in locked
    return found


def locked_addresses(*, actor: User) -> list[dict]:
    """Addresses locked out right now, with their failure count."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    rows = (
        AccessAttempt.objects.filter(attempt_time__gte=since)
        .values("ip_address")
        .annotate(total=Sum("failures_since_start"))
        .order_by("ip_address")
    )
    return [row for row in rows if row["total"] >= settings.AXES_FAILURE_LIMIT]
