"""Care teams and break-glass: the admin's assignment page and review queue, the clinician's
emergency-access form.

Admin pages need role admin, is_staff and an OTP-verified session; the emergency-access form a
doctor or nurse with an OTP-verified session (StaffOtpRequiredMiddleware sends unverified staff
to the challenge first; checked again here). Anyone else gets a 404, recorded as denied.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.models import BREAKGLASS_REASON_MIN_LENGTH, Role
from accounts.policy import otp_verified
from accounts.selectors import (
    breakglass_get_for_clinician,
    breakglass_get_for_review,
    breakglass_review_queue,
    care_relationship_get_active,
    care_relationships_active,
    patient_find,
    provider_time_zone,
    user_find_active,
)
from accounts.services.access import breakglass_open, breakglass_review, care_relationship_end, care_team_assign
from accounts.views.profile import AccessibleForm
from audit.services import audit_record_denied
from telemed.errors import ApplicationError


def _only(roles: frozenset[str], *, admin: bool = False) -> Callable:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @never_cache
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            user = request.user
            if user.role not in roles or (admin and not user.is_staff) or not otp_verified(user):
                audit_record_denied(actor=user, action="accounts.page.open", target_type="page", target_id=request.path)
                raise Http404("No such page.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


admin_only = _only(frozenset({Role.ADMIN}), admin=True)
clinician_only = _only(frozenset({Role.DOCTOR, Role.NURSE}))


# --- Care teams (admin) ---------------------------------------------------------------------


class CareAssignForm(AccessibleForm):
    patient = forms.CharField(
        label="Patient (email or medical record number)",
        max_length=254,
        widget=forms.TextInput(attrs={"class": "input"}),
    )
    provider = forms.EmailField(
        label="Doctor or nurse (email)", widget=forms.EmailInput(attrs={"class": "input", "autocomplete": "off"})
    )


def _care_page(request: HttpRequest, form: CareAssignForm, *, status: int = 200) -> HttpResponse:
    context = {"form": form, "relationships": care_relationships_active()[:200]}
    return render(request, "accounts/care_team.html", context, status=status)


@admin_only
def care_assign(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _care_page(request, CareAssignForm())
    form = CareAssignForm(request.POST)
    if form.is_valid():
        patient = patient_find(form.cleaned_data["patient"])
        provider = user_find_active(form.cleaned_data["provider"])
        if patient is None:
            form.add_error("patient", "No active patient has that email or medical record number.")
        if provider is None or provider.role not in (Role.DOCTOR, Role.NURSE):
            form.add_error("provider", "No active doctor or nurse has that email.")
        form._mark_invalid()
        if form.is_valid():
            try:
                relationship = care_team_assign(actor=request.user, patient=patient, provider=provider)
            except ApplicationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, f"{relationship.provider} is on the care team of {relationship.patient}.")
                return redirect("accounts:care_assign")
    return _care_page(request, form, status=400)


@admin_only
@require_POST
def care_end(request: HttpRequest, relationship_id: int) -> HttpResponse:
    relationship = care_relationship_get_active(relationship_id)
    try:
        care_relationship_end(actor=request.user, relationship=relationship)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{relationship.provider} no longer cares for {relationship.patient}.")
    return redirect("accounts:care_assign")


# --- Break-glass (clinician) ----------------------------------------------------------------


class BreakGlassForm(AccessibleForm):
    patient = forms.CharField(
        label="Patient (email or medical record number)",
        max_length=254,
        widget=forms.TextInput(attrs={"class": "input", "autocomplete": "off"}),
    )
    reason = forms.CharField(
        label="Reason for emergency access",
        help_text=f"Required, at least {BREAKGLASS_REASON_MIN_LENGTH} characters. Admins review every use.",
        min_length=BREAKGLASS_REASON_MIN_LENGTH,
        max_length=2000,
        widget=forms.Textarea(attrs={"class": "input", "rows": 3}),
    )

    def clean_reason(self) -> str:
        value = self.cleaned_data["reason"].strip()
        if len(value) < BREAKGLASS_REASON_MIN_LENGTH:
            raise forms.ValidationError(f"Give a reason of at least {BREAKGLASS_REASON_MIN_LENGTH} characters.")
        return value


@clinician_only
def breakglass_open_view(request: HttpRequest) -> HttpResponse:
    form = BreakGlassForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        patient = patient_find(form.cleaned_data["patient"])
        if patient is None:
            form.add_error("patient", "No active patient has that email or medical record number.")
            form._mark_invalid()
        else:
            try:
                access = breakglass_open(actor=request.user, patient=patient, reason=form.cleaned_data["reason"])
            except ApplicationError as error:
                form.add_service_error(error)
            else:
                return redirect("accounts:breakglass_detail", access_id=access.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/breakglass_open.html", {"form": form}, status=status)


@clinician_only
def breakglass_detail(request: HttpRequest, access_id: int) -> HttpResponse:
    access = breakglass_get_for_clinician(request.user, access_id)
    context = {
        "access": access,
        "is_open": access.expires_at > timezone.now(),
        "time_zone": provider_time_zone(request.user, timezone.get_current_timezone_name()),
    }
    return render(request, "accounts/breakglass_detail.html", context)


# --- Break-glass review (admin) -------------------------------------------------------------


class ReviewForm(AccessibleForm):
    note = forms.CharField(
        label="Review note", max_length=2000, widget=forms.Textarea(attrs={"class": "input", "rows": 2})
    )


@admin_only
def breakglass_review_list(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/breakglass_review.html", {"queue": breakglass_review_queue()[:200]})


@admin_only
@require_POST
def breakglass_review_mark(request: HttpRequest, access_id: int) -> HttpResponse:
    access = breakglass_get_for_review(access_id)
    form = ReviewForm(request.POST, prefix=f"review-{access.pk}")
    if form.is_valid():
        try:
            breakglass_review(actor=request.user, access=access, note=form.cleaned_data["note"])
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Marked as reviewed.")
    else:
        messages.error(request, "Write a review note.")
    return redirect("accounts:breakglass_review")
