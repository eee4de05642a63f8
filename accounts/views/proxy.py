"""Proxy management: grants I gave, grants I hold, granting, revoking, and acting for someone.

Patients grant access to their own account; a clinic admin may grant for any patient (a minor
or a dependent) by naming the patient. The "acting for" choice lives in the session
(accounts.context_processors).
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.context_processors import ACTING_FOR_SESSION_KEY
from accounts.models import Role, Scope
from accounts.selectors import patient_find, proxy_grant_get_for_revoke, proxy_grants_for_user, proxy_grants_given
from accounts.services.access import proxy_acting_switch, proxy_grant, proxy_revoke
from accounts.views.profile import AccessibleForm
from telemed.errors import ApplicationError


class ProxyGrantForm(AccessibleForm):
    patient = forms.CharField(
        label="Patient (email or medical record number)",
        max_length=254,
        required=False,
        widget=forms.TextInput(attrs={"class": "input"}),
    )
    proxy_email = forms.EmailField(
        label="Their email address",
        help_text="They need an account of their own on this portal.",
        widget=forms.EmailInput(attrs={"class": "input", "autocomplete": "off"}),
    )
    relationship = forms.CharField(
        label="How they relate to the patient",
        help_text="For example: parent, partner, carer.",
        max_length=64,
        widget=forms.TextInput(attrs={"class": "input"}),
    )
    scopes = forms.MultipleChoiceField(
        label="What they may do", choices=Scope.choices, widget=forms.CheckboxSelectMultiple
    )
    expires_on = forms.DateField(
        label="Access ends on", widget=forms.DateInput(attrs={"class": "input", "type": "date"})
    )

    def __init__(self, *args, for_admin: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if for_admin:
            self.fields["patient"].required = True
        else:
            del self.fields["patient"]

    def clean_expires_on(self) -> dt.date:
        value = self.cleaned_data["expires_on"]
        if value <= timezone.localdate():
            raise forms.ValidationError("Choose a date after today.")
        return value

    def expires_at(self) -> dt.datetime:
        # Access lasts to the end of the chosen day (in the portal's time zone).
        day = self.cleaned_data["expires_on"] + dt.timedelta(days=1)
        return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _may_grant(user) -> bool:
    return (user.role == Role.PATIENT and user.email_verified_at is not None) or user.role == Role.ADMIN


def _page(request: HttpRequest, form: ProxyGrantForm | None, *, status: int = 200) -> HttpResponse:
    user = request.user
    context = {
        "form": form,
        "grants_given": proxy_grants_given(user) if user.role == Role.PATIENT else [],
        "grants_held": proxy_grants_for_user(user),
        "now": timezone.now(),
    }
    return render(request, "accounts/proxies.html", context, status=status)


@login_required
@never_cache
def proxies(request: HttpRequest) -> HttpResponse:
    user = request.user
    for_admin = user.role == Role.ADMIN
    if not _may_grant(user):
        return _page(request, None)
    if request.method != "POST":
        return _page(request, ProxyGrantForm(for_admin=for_admin))
    form = ProxyGrantForm(request.POST, for_admin=for_admin)
    if form.is_valid():
        patient = patient_find(form.cleaned_data["patient"]) if for_admin else user
        if patient is None:
            form.add_error("patient", "No active patient has that email or medical record number.")
            form._mark_invalid()
        else:
            try:
                grant = proxy_grant(
                    actor=user,
                    patient=patient,
                    proxy_email=form.cleaned_data["proxy_email"],
                    scopes=form.cleaned_data["scopes"],
                    expires_at=form.expires_at(),
                    relationship=form.cleaned_data["relationship"],
                )
            except ApplicationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, f"{grant.proxy} can now act for {grant.patient}.")
                return redirect("accounts:proxies")
    return _page(request, form, status=400)


@login_required
@require_POST
def proxy_revoke_view(request: HttpRequest, grant_id: int) -> HttpResponse:
    grant = proxy_grant_get_for_revoke(request.user, grant_id)
    try:
        proxy_revoke(actor=request.user, grant=grant)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{grant.proxy} can no longer act for {grant.patient}.")
    return redirect("accounts:proxies")


@login_required
@require_POST
def proxy_switch(request: HttpRequest) -> HttpResponse:
    chosen = request.POST.get("patient_id", "me")
    grant = proxy_acting_switch(actor=request.user, patient_id=chosen)
    if grant is None:
        request.session.pop(ACTING_FOR_SESSION_KEY, None)
        messages.info(request, "You are acting for yourself.")
    else:
        request.session[ACTING_FOR_SESSION_KEY] = grant.patient_id
        messages.info(request, f"You are acting for {grant.patient}.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "accounts:proxies"
    return redirect(target)
