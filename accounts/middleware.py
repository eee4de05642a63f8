"""Session security for pages: timeouts, ended sessions, and MFA before any staff page.

`SessionSecurityMiddleware` (after AuthenticationMiddleware, OTPMiddleware and
MessageMiddleware) signs a user out after an idle period (15 min staff, 30 min patients) or
12 h after sign-in, and when the session was ended from the sessions page or by an admin.
`StaffOtpRequiredMiddleware` then sends staff whose session is not OTP-verified to MFA setup
or the challenge before anything else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts.mfa.models import UserSession
from accounts.services.mfa import totp_device_confirmed
from accounts.services.sessions import user_session_close, user_session_start, user_session_touch
from audit.chain import normalize_ip
from telemed.middleware import client_ip

# Session keys (strings in the user's server-side session).
LOGIN_AT = "tm_login_at"
LAST_ACTIVITY = "tm_last_activity"
USER_SESSION_ID = "tm_user_session_id"
LAST_SEEN_WRITTEN = "tm_last_seen_written"

# Save the session (a write) at most this often for activity; the idle clock is this coarse.
ACTIVITY_RESOLUTION_SECONDS = 15
LAST_SEEN_RESOLUTION_SECONDS = 60

# Never redirected to MFA: signing in and out, MFA itself, health probes, static files, and
# the API, which refuses unverified staff itself (otp_required).
OTP_EXEMPT_PREFIXES = ("/static/", "/healthz", "/readyz", "/api/")
OTP_EXEMPT_URL_NAMES = (
    "accounts:login",
    "accounts:logout",
    "accounts:mfa_setup",
    "accounts:mfa_challenge",
    "accounts:session_ping",
)


def axes_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """AXES_USERNAME_CALLABLE: the typed email, trimmed and lower-cased, so case variants share a counter."""
    source = credentials if credentials else getattr(request, "data", None) or request.POST
    value = source.get("username") or source.get("email") if source else None
    return value.strip().lower() if isinstance(value, str) else None


def idle_limit_seconds(user) -> int:
    if getattr(user, "is_staff_role", False):
        return settings.SESSION_IDLE_TIMEOUT_STAFF_SECONDS
    return settings.SESSION_IDLE_TIMEOUT_PATIENT_SECONDS


def session_mark_signed_in(request: HttpRequest) -> None:
    """Call right after django.contrib.auth.login: start the idle and absolute clocks and record
    the session (audited as a sign-in)."""
    now = time.time()
    session = request.session
    session[LOGIN_AT] = now
    session[LAST_ACTIVITY] = now
    session.pop(USER_SESSION_ID, None)
    _record(request, request.user, now, signed_in_here=True)


def sign_out(request: HttpRequest, *, reason: str) -> None:
    """Close the session's row (audited), then django's logout (flushes the session data)."""
    user = request.user
    if user.is_authenticated:
        row_id = request.session.get(USER_SESSION_ID)
        user_session_close(user=user, user_session_id=row_id, reason=reason)
    logout(request)


def _expired_reason(request: HttpRequest, user, now: float) -> tuple[str, str] | None:
    session = request.session
    login_at = session.get(LOGIN_AT)
    last = session.get(LAST_ACTIVITY)
    if login_at is None or last is None:
        # A session signed in some other way (the admin, a test client): its clocks start now.
        session[LOGIN_AT] = login_at or now
        session[LAST_ACTIVITY] = now
        return None
    idle = idle_limit_seconds(user)
    if now - last > idle:
        span = f"{idle // 60} minutes" if idle >= 120 else f"{idle} seconds"
        return "idle timeout", f"You were signed out after {span} without activity. Please sign in again."
    if now - login_at > settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS:
        hours = settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS // 3600
        return "absolute limit", (
            f"You were signed out because you had been signed in for {hours} hours. Please sign in again."
        )
    row_id = session.get(USER_SESSION_ID)
    if row_id is not None:
        row = UserSession.objects.filter(pk=row_id).values("user_id", "ended_at").first()
        if row is None or row["user_id"] != user.pk or row["ended_at"] is not None:
            return "ended", "This session was ended. Please sign in again."
    return None


def _record(request: HttpRequest, user, now: float, *, signed_in_here: bool = False) -> None:
    session = request.session
    if session.session_key is None:
        session.save()
    row_id = session.get(USER_SESSION_ID)
    ip = normalize_ip(client_ip(request))
    if row_id is None:
        row = user_session_start(
            user=user,
            session_key=session.session_key,
            ip=ip,
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            signed_in_here=signed_in_here,
        )
        session[USER_SESSION_ID] = row.pk
        session[LAST_SEEN_WRITTEN] = now
    elif now - session.get(LAST_SEEN_WRITTEN, 0) > LAST_SEEN_RESOLUTION_SECONDS:
        user_session_touch(user_session_id=row_id, session_key=session.session_key, ip=ip)
        session[LAST_SEEN_WRITTEN] = now


@cache
def _ping_path() -> str:
    return reverse("accounts:session_ping")


class SessionSecurityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/static/"):
            return self.get_response(request)
        user = request.user
        if user.is_authenticated:
            now = time.time()
            expired = _expired_reason(request, user, now)
            if expired is not None:
                reason, message = expired
                if reason == "ended":
                    logout(request)
                else:
                    sign_out(request, reason=reason)
                messages.warning(request, message)
                if request.method == "GET" and not request.path.startswith("/api/"):
                    return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
            else:
                idle = idle_limit_seconds(user)
                # "Stay signed in" always counts; other requests move the clock in coarse steps.
                resolution = 0 if request.path == _ping_path() else min(ACTIVITY_RESOLUTION_SECONDS, idle // 10)
                if now - request.session.get(LAST_ACTIVITY, 0) >= resolution:
                    request.session[LAST_ACTIVITY] = now
                # Read by templates/base.html for the warning before the idle timeout.
                request.session_idle_seconds = idle  # type: ignore[attr-defined]
                request.session_warning_seconds = settings.SESSION_TIMEOUT_WARNING_SECONDS  # type: ignore[attr-defined]
        response = self.get_response(request)
        # After the view: a session signed in during this request (the login view rotated its
        # key) gets its row now, so every signed-in session is on the sessions page.
        # Only session sign-ins: an API request authenticated by a JWT also sets request.user.
        user = request.user
        # Not on a crash either: an error page must not depend on more writes.
        if (
            response.status_code < 500
            and user.is_authenticated
            and str(request.session.get(SESSION_KEY)) == str(user.pk)
        ):
            _record(request, user, time.time())
        return response


@cache
def _exempt_paths() -> frozenset[str]:
    return frozenset(reverse(name) for name in OTP_EXEMPT_URL_NAMES)


class StaffOtpRequiredMiddleware:
    """Staff roles must have an OTP-verified session (django-otp) for every page but these few."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and user.is_staff_role
            and not user.is_verified()
            and not request.path.startswith(OTP_EXEMPT_PREFIXES)
            and request.path not in _exempt_paths()
        ):
            target = "accounts:mfa_challenge" if totp_device_confirmed(user=user) else "accounts:mfa_setup"
            return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
