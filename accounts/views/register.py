"""Patient self-registration and email verification pages.

No account enumeration: after a valid form the page is the same "check your email" whether the
address was new or taken, and so is the answer to "send the link again".
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.services.registration import (
    REGISTRATION_DONE_MESSAGE,
    email_verification_resend,
    email_verify,
    patient_register,
)


class RegisterForm(forms.Form):
    full_name = forms.CharField(label="Full name", max_length=200)
    email = forms.EmailField(label="Email", max_length=254)
    password = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput)


class ResendForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254)


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            patient_register(**form.cleaned_data)
        except ValidationError as exc:
            # The password validators speak about the password (and the details it resembles).
            form.add_error(None, exc)
        else:
            return redirect("accounts:register_done")
    return render(request, "accounts/register.html", {"form": form})


def register_done(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/register_done.html", {"message": REGISTRATION_DONE_MESSAGE})


@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    # GET does nothing but show a button: mail scanners that fetch every link must not spend it.
    if request.method == "POST":
        user = email_verify(uidb64=uidb64, token=token)
        status = 200 if user is not None else 400
        return render(request, "accounts/verify_email_result.html", {"verified": user is not None}, status=status)
    return render(request, "accounts/verify_email.html")


@require_http_methods(["GET", "POST"])
def verify_resend(request: HttpRequest) -> HttpResponse:
    form = ResendForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email_verification_resend(email=form.cleaned_data["email"])
        return redirect("accounts:register_done")
    return render(request, "accounts/verify_resend.html", {"form": form})
