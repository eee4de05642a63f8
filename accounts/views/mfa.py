"""MFA pages: the challenge after the password, setup with a QR code, the security page."""

from __future__ import annotations

import base64
import time

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from accounts.mfa.forms import CodeForm
from accounts.middleware import session_mark_signed_in
from accounts.services.mfa import (
    backup_codes_generate,
    backup_codes_remaining,
    mfa_code_verify,
    mfa_disable,
    totp_device_confirmed,
    totp_enrol_confirm,
    totp_enrol_start,
)
from accounts.views.login import MFA_PENDING
from telemed.errors import ApplicationError

# A pending sign-in is dropped after this many wrong codes: back to the password step.
CHALLENGE_MAX_FAILURES = 5


def _safe_next(request: HttpRequest, candidate: str | None, default: str = "home") -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(default)


def _pending_user(request: HttpRequest):
    pending = request.session.get(MFA_PENDING)
    if not pending:
        return None, None
    if time.time() - pending["at"] > settings.MFA_CHALLENGE_TIMEOUT_SECONDS:
        del request.session[MFA_PENDING]
        return None, None
    user = get_user_model().objects.filter(pk=pending["user_id"], is_active=True).first()
    return (user, pending) if user is not None else (None, None)


@never_cache
@require_http_methods(["GET", "POST"])
def mfa_challenge(request: HttpRequest) -> HttpResponse:
    """Step two of sign-in (a pending user), or re-verification of a signed-in, unverified user."""
    user, pending = _pending_user(request)
    if user is None and request.user.is_authenticated:
        user, pending = request.user, None
        if user.is_verified():
            return redirect(_safe_next(request, request.GET.get("next")))
    if user is None:
        messages.info(request, "Please sign in again.")
        return redirect("accounts:login")
    if totp_device_confirmed(user=user) is None:
        return redirect("accounts:mfa_setup")

    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = mfa_code_verify(user=user, code=form.cleaned_data["code"])
        if device is not None:
            next_url = pending["next"] if pending else request.GET.get("next")
            if pending is not None:
                del request.session[MFA_PENDING]
                auth_login(request, user, backend=pending["backend"])
                session_mark_signed_in(request)
            otp_login(request, device)
            return HttpResponseRedirect(_safe_next(request, next_url))
        form.add_error("code", "That code is not right. Try the current code from your app, or a backup code.")
        if pending is not None:
            pending["failures"] += 1
            if pending["failures"] >= CHALLENGE_MAX_FAILURES:
                del request.session[MFA_PENDING]
                messages.error(request, "Too many wrong codes. Please sign in again.")
                return redirect("accounts:login")
            request.session[MFA_PENDING] = pending
    return render(request, "accounts/mfa_challenge.html", {"form": form}, status=400 if form.errors else 200)


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=4)
    svg = image.to_string(encoding="unicode")
    # Sized by CSS (account-security.css) and announced as one image with a name.
    svg = svg.replace("<svg ", '<svg class="qr-code__image" role="img" aria-labelledby="qr-title" ', 1)
    svg = svg.replace('width="', 'data-width="', 1).replace('height="', 'data-height="', 1)
    return svg.replace(">", '><title id="qr-title">QR code for your authenticator app</title>', 1)


def _secret_for_humans(device) -> str:
    secret = base64.b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def mfa_setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: QR code + secret, confirm with a code, then backup codes once."""
    user = request.user
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if totp_device_confirmed(user=user) is not None:
        if user.is_verified():
            return redirect("accounts:security")
        return redirect("accounts:mfa_challenge")
    device, uri = totp_enrol_start(user=user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = totp_enrol_confirm(user=user, device=device, code=form.cleaned_data["code"])
        except ApplicationError as error:
            form.add_error("code", error.message)
        else:
            otp_login(request, device)
            codes = backup_codes_generate(user=user)
            return render(
                request,
                "accounts/mfa_backup_codes.html",
                {"codes": codes, "next_url": _safe_next(request, next_url), "just_enrolled": True},
            )
    context = {
        "form": form,
        # Safe: the SVG is drawn here by the qrcode library from our own otpauth URI; it holds
        # only rectangles (the URI's characters are encoded as modules, never written as text).
        "qr_svg": mark_safe(_qr_svg(uri)),  # noqa: S308
        "secret": _secret_for_humans(device),
        "next": next_url,
    }
    return render(request, "accounts/mfa_setup.html", context, status=400 if form.errors else 200)


@never_cache
@login_required
def security(request: HttpRequest) -> HttpResponse:
    user = request.user
    device = totp_device_confirmed(user=user)
    context = {
        "device": device,
        "backup_codes_left": backup_codes_remaining(user=user) if device else 0,
        "can_disable": device is not None and not user.is_staff_role,
        "disable_form": CodeForm(),
    }
    return render(request, "accounts/security.html", context)


@never_cache
@login_required
@require_POST
def backup_codes_regenerate(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_verified():
        messages.error(request, "Confirm with a code from your app first.")
        return redirect("accounts:mfa_challenge")
    try:
        codes = backup_codes_generate(user=user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("accounts:security")
    return render(request, "accounts/mfa_backup_codes.html", {"codes": codes, "next_url": None})


@never_cache
@login_required
@require_POST
def mfa_disable_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            mfa_disable(user=user, code=form.cleaned_data["code"])
        except ApplicationError as error:
            form.add_error("code", error.message)
        else:
            messages.success(request, "Two-step verification is off.")
            return redirect("accounts:security")
    device = totp_device_confirmed(user=user)
    context = {
        "device": device,
        "backup_codes_left": backup_codes_remaining(user=user) if device else 0,
        "can_disable": device is not None and not user.is_staff_role,
        "disable_form": form,
    }
    return render(request, "accounts/security.html", context, status=400)
