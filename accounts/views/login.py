"""Sign in (password, then the OTP challenge when the user has an authenticator), sign out, lockout page.

No account enumeration: an unknown email and a wrong password get the same message, and
ModelBackend runs the password hasher for an unknown email too, so both take about as long.
Django's login() rotates the session id; the OTP step keeps the user signed out until it passes.
"""

from __future__ import annotations

import math
import time

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import login as auth_login
from django.contrib.auth.views import LoginView
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from accounts.middleware import axes_username, session_mark_signed_in, sign_out
from accounts.services.mfa import totp_device_confirmed
from telemed.middleware import client_ip

# The password-checked user waiting for the OTP step: {"user_id", "backend", "at", "next", "failures"}.
MFA_PENDING = "tm_mfa_pending"


class PortalLoginView(LoginView):
    template_name = "accounts/login.html"

    def form_valid(self, form) -> HttpResponse:
        user = form.get_user()
        next_url = self.get_success_url()
        if totp_device_confirmed(user=user):
            # Not signed in yet: the session only remembers who passed the password step.
            self.request.session[MFA_PENDING] = {
                "user_id": user.pk,
                "backend": user.backend,
                "at": time.time(),
                "next": next_url,
                "failures": 0,
            }
            return redirect("accounts:mfa_challenge")
        auth_login(self.request, user)
        session_mark_signed_in(self.request)
        if user.is_staff_role:
            return redirect(f"{reverse('accounts:mfa_setup')}?{urlencode({'next': next_url})}")
        return HttpResponseRedirect(next_url)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    sign_out(request, reason="signed out")
    return redirect(settings.LOGOUT_REDIRECT_URL)


def _lockout_wait_seconds(request: HttpRequest) -> int:
    cooloff = settings.AXES_COOLOFF_TIME
    username = axes_username(request)
    latest = AccessAttempt.objects.filter(Q(username=username) | Q(ip_address=client_ip(request))).aggregate(
        latest=Max("attempt_time")
    )["latest"]
    if latest is None:
        return int(cooloff.total_seconds())
    return max(0, math.ceil((latest + cooloff - timezone.now()).total_seconds()))


def lockout_response(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the lockout page, with how long to wait (HTTP 429).

    Accepts any extra arguments: axes calls it with (request, response, credentials) or,
    on its async path, (request, credentials).
    """
    seconds = _lockout_wait_seconds(request)
    minutes = max(1, math.ceil(seconds / 60))
    if request.path.startswith("/api/"):
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
        detail = f"Too many failed sign-in attempts. Try again in {wait}."
        response = JsonResponse({"detail": detail, "code": "locked_out"}, status=429)
        response["Retry-After"] = str(max(seconds, 1))
        return response
    response = render(
        request,
        "accounts/lockout.html",
        {"wait_minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
    response["Retry-After"] = str(max(seconds, 1))
    return response
