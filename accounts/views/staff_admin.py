"""Clinic admin pages: find an account, deactivate it, lift a lockout, reset its MFA.

Admins only, with an OTP-verified session (StaffOtpRequiredMiddleware sends unverified staff
to the challenge first; checked again here). Anyone else gets a 404, recorded as denied.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.mfa.forms import ReasonForm, UnlockAddressForm
from accounts.mfa.selectors import locked_addresses, staff_user_list
from accounts.models import Role
from accounts.services.mfa import mfa_reset, totp_device_confirmed
from accounts.services.staff_admin import user_deactivate, user_unlock
from audit.services import audit_record_denied
from telemed.errors import ApplicationError


def admin_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required
    @never_cache
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = request.user
        if user.role != Role.ADMIN or not user.is_verified():
            audit_record_denied(
                actor=user, action="accounts.staff_admin.open", target_type="page", target_id=request.path
            )
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapper


@admin_only
def staff_users(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    context = {
        "query": query,
        "users": staff_user_list(actor=request.user, query=query),
        "addresses": locked_addresses(actor=request.user),
        "unlock_form": UnlockAddressForm(),
    }
    return render(request, "accounts/staff_users.html", context)


def _user_page(request: HttpRequest, target, *, status: int = 200, **forms) -> HttpResponse:
    matches = [u for u in staff_user_list(actor=request.user, query=target.email) if u.pk == target.pk]
    context = {
        "target": matches[0] if matches else target,
        "has_mfa": totp_device_confirmed(user=target) is not None,
        "deactivate_form": forms.get("deactivate_form") or ReasonForm(prefix="deactivate"),
        "reset_form": forms.get("reset_form") or ReasonForm(prefix="reset"),
    }
    return render(request, "accounts/staff_user.html", context, status=status)


@admin_only
def staff_user(request: HttpRequest, user_id: int) -> HttpResponse:
    return _user_page(request, get_object_or_404(get_user_model(), pk=user_id))


@admin_only
@require_POST
def staff_deactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(get_user_model(), pk=user_id)
    form = ReasonForm(request.POST, prefix="deactivate")
    if form.is_valid():
        try:
            user_deactivate(actor=request.user, user=target, reason=form.cleaned_data["reason"])
        except ApplicationError as error:
            form.add_error("reason", error.message)
        else:
            messages.success(request, f"{target.email} is deactivated and signed out everywhere.")
            return redirect("accounts:staff_user", user_id=target.pk)
    return _user_page(request, target, status=400, deactivate_form=form)


@admin_only
@require_POST
def staff_mfa_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(get_user_model(), pk=user_id)
    form = ReasonForm(request.POST, prefix="reset")
    if form.is_valid():
        try:
            mfa_reset(actor=request.user, user=target, reason=form.cleaned_data["reason"])
        except ApplicationError as error:
            form.add_error("reason", error.message)
        else:
            messages.success(request, f"Two-step verification of {target.email} is reset; they are signed out.")
            return redirect("accounts:staff_user", user_id=target.pk)
    return _user_page(request, target, status=400, reset_form=form)


@admin_only
@require_POST
def staff_unlock(request: HttpRequest) -> HttpResponse:
    user_id = request.POST.get("user_id", "")
    if user_id:
        if not user_id.isdigit():
            raise Http404("No such account.")
        target = get_object_or_404(get_user_model(), pk=int(user_id))
        user_unlock(actor=request.user, user=target)
        messages.success(request, f"{target.email} can sign in again.")
        return redirect("accounts:staff_user", user_id=target.pk)
    form = UnlockAddressForm(request.POST)
    if form.is_valid():
        user_unlock(actor=request.user, ip=form.cleaned_data["ip"])
        messages.success(request, f"Sign-in from {form.cleaned_data['ip']} is unlocked.")
        return redirect("accounts:staff_users")
    context = {
        "query": "",
        "users": staff_user_list(actor=request.user),
        "addresses": locked_addresses(actor=request.user),
        "unlock_form": form,
    }
    return render(request, "accounts/staff_users.html", context, status=400)
