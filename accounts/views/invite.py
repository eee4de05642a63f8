"""Staff invitations: an admin invites by email; the invitee sets a password from the link.

The next step, setting up two-step verification, is asked by StaffOtpRequiredMiddleware at
the invitee's first sign-in.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.models import STAFF_ROLES, Role
from accounts.services.registration import invitation_accept, invitation_user, staff_invite
from accounts.views.staff_admin import admin_only
from telemed.errors import ApplicationError

STAFF_ROLE_CHOICES = [(value, label) for value, label in Role.choices if value in STAFF_ROLES]


class InviteForm(forms.Form):
    full_name = forms.CharField(label="Full name", max_length=200)
    email = forms.EmailField(label="Email", max_length=254)
    role = forms.ChoiceField(label="Role", choices=STAFF_ROLE_CHOICES)


class InviteAcceptForm(forms.Form):
    password = forms.CharField(label="New password", strip=False, widget=forms.PasswordInput)
    password_again = forms.CharField(label="New password again", strip=False, widget=forms.PasswordInput)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password") and cleaned.get("password") != cleaned.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return cleaned


@admin_only
@require_http_methods(["GET", "POST"])
def staff_invite_view(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invited = staff_invite(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        except ApplicationError as exc:
            form.add_error("email", exc.message)
        else:
            messages.success(request, f"Invitation sent to {invited.email}. The link works once, for 72 hours.")
            return redirect("accounts:staff_invite")
    return render(request, "accounts/invite.html", {"form": form})


@never_cache
@require_http_methods(["GET", "POST"])
def invite_accept(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    invited = invitation_user(uidb64=uidb64, token=token)
    if invited is None:
        return render(request, "accounts/invite_invalid.html", status=400)
    form = InviteAcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation_accept(uidb64=uidb64, token=token, password=form.cleaned_data["password"])
        except ValidationError as exc:
            form.add_error(None, exc)
        except ApplicationError:
            return render(request, "accounts/invite_invalid.html", status=400)
        else:
            messages.success(request, "Your password is set. Sign in to set up two-step verification.")
            return redirect("accounts:login")
    return render(request, "accounts/invite_accept.html", {"form": form, "invited": invited})
