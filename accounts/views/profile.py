"""Profile and settings: contact details, preferred language, notification preferences.

Patients edit their PatientProfile (the MRN is shown, never edited); doctors and nurses their
ProviderProfile; everyone their notification channels (booleans on User, see
accounts.services.profiles).
"""

from __future__ import annotations

import zoneinfo
from functools import cache

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from accounts.models import Role, Sex
from accounts.selectors import own_profile
from accounts.services.profiles import notifications_update, patient_profile_update, provider_profile_update
from telemed.errors import ApplicationError

LANGUAGE_CHOICES = [
    ("en", "English"),
    ("fr", "Français"),
    ("de", "Deutsch"),
    ("es", "Español"),
    ("it", "Italiano"),
    ("pt", "Português"),
    ("nl", "Nederlands"),
    ("ar", "العربية"),
    ("tr", "Türkçe"),
    ("uk", "Українська"),
]


class AccessibleForm(forms.Form):
    """Marks invalid fields with aria-invalid and links each to its error (id "<field id>-error")."""

    def full_clean(self) -> None:
        super().full_clean()
        self._mark_invalid()

    def add_service_error(self, error: ValidationError | ApplicationError) -> None:
        if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
            for field, problems in error.error_dict.items():
                self.add_error(field if field in self.fields else None, problems)
        elif isinstance(error, ValidationError):
            self.add_error(None, error.messages)
        else:
            self.add_error(None, error.message)
        self._mark_invalid()

    def _mark_invalid(self) -> None:
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["aria-invalid"] = "true"
                self.fields[name].widget.attrs["aria-describedby"] = f"{self[name].id_for_label}-error"


def _text(max_length: int, *, label: str, required: bool = False, **attrs) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=required,
        widget=forms.TextInput(attrs={"class": "input", **attrs}),
    )


class NotificationsForm(AccessibleForm):
    notify_email = forms.BooleanField(label="Email", required=False)
    notify_sms = forms.BooleanField(label="Text message (SMS)", required=False)
    notify_in_app = forms.BooleanField(label="In the portal", required=False)

    def notifications(self) -> dict[str, bool]:
        return {name: self.cleaned_data[name] for name in ("notify_email", "notify_sms", "notify_in_app")}


class PatientSettingsForm(NotificationsForm):
    legal_name = _text(200, label="Legal name", autocomplete="name")
    date_of_birth = forms.DateField(
        label="Date of birth", required=False, widget=forms.DateInput(attrs={"class": "input", "type": "date"})
    )
    sex = forms.ChoiceField(label="Sex", choices=Sex.choices, widget=forms.Select(attrs={"class": "input"}))
    phone = _text(32, label="Phone", autocomplete="tel", type="tel")
    address = forms.CharField(
        label="Address",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"class": "input", "rows": 3, "autocomplete": "street-address"}),
    )
    emergency_contact_name = _text(200, label="Emergency contact name")
    emergency_contact_phone = _text(32, label="Emergency contact phone", type="tel")
    preferred_language = forms.ChoiceField(
        label="Preferred language", choices=LANGUAGE_CHOICES, widget=forms.Select(attrs={"class": "input"})
    )

    field_order = [
        "legal_name",
        "date_of_birth",
        "sex",
        "phone",
        "address",
        "emergency_contact_name",
        "emergency_contact_phone",
        "preferred_language",
    ]

    def profile_fields(self) -> dict:
        notifications = set(self.notifications())
        return {name: value for name, value in self.cleaned_data.items() if name not in notifications}


@cache
def _time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class ProviderSettingsForm(NotificationsForm):
    specialty = _text(120, label="Specialty")
    licence_number = _text(64, label="Licence number")
    licence_jurisdiction = _text(120, label="Licence jurisdiction")
    bio = forms.CharField(
        label="Short biography",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"class": "input", "rows": 4}),
    )
    time_zone = forms.ChoiceField(label="Time zone", widget=forms.Select(attrs={"class": "input"}))
    accepting_new_patients = forms.BooleanField(label="Accepting new patients", required=False)

    field_order = ["specialty", "licence_number", "licence_jurisdiction", "bio", "time_zone", "accepting_new_patients"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = _time_zone_choices()

    def profile_fields(self) -> dict:
        notifications = set(self.notifications())
        return {name: value for name, value in self.cleaned_data.items() if name not in notifications}


def _initial(user, profile) -> dict:
    initial = {"notify_email": user.notify_email, "notify_sms": user.notify_sms, "notify_in_app": user.notify_in_app}
    if profile is not None:
        names = [name for name in _form_class(user).base_fields if hasattr(profile, name)]
        initial.update({name: getattr(profile, name) for name in names})
    elif user.role == Role.PATIENT:
        initial["legal_name"] = user.full_name
    elif user.role in (Role.DOCTOR, Role.NURSE):
        initial["time_zone"] = settings.TIME_ZONE
    return initial


def _form_class(user) -> type[NotificationsForm]:
    if user.role == Role.PATIENT:
        return PatientSettingsForm
    if user.role in (Role.DOCTOR, Role.NURSE):
        return ProviderSettingsForm
    return NotificationsForm


def _save(user, form: NotificationsForm) -> None:
    notifications = form.notifications()
    if isinstance(form, PatientSettingsForm):
        patient_profile_update(actor=user, user=user, notifications=notifications, **form.profile_fields())
    elif isinstance(form, ProviderSettingsForm):
        provider_profile_update(actor=user, user=user, notifications=notifications, **form.profile_fields())
    else:
        notifications_update(actor=user, user=user, notifications=notifications)


@login_required
@never_cache
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    profile_row = own_profile(user)
    form_class = _form_class(user)
    status = 200
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            try:
                _save(user, form)
            except (ValidationError, ApplicationError) as error:
                form.add_service_error(error)
            else:
                messages.success(request, "Your settings are saved.")
                return redirect("accounts:profile")
        status = 400
    else:
        form = form_class(initial=_initial(user, profile_row))
    context = {
        "form": form,
        "profile_row": profile_row,
        "notification_fields": [form[name] for name in ("notify_email", "notify_sms", "notify_in_app")],
        "detail_fields": [field for field in form if not field.name.startswith("notify_")],
    }
    return render(request, "accounts/profile.html", context, status=status)
