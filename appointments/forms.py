"""Forms of the appointments pages: parsing and field errors only, no business rules (those
live in the services, whose ApplicationErrors the views add as form errors)."""

from __future__ import annotations

import datetime as dt

from django import forms

from accounts.views.profile import AccessibleForm
from appointments.selectors import appointment_types_active, providers_bookable

REASON_MAX_LENGTH = 1000


def parse_instant(value: object) -> dt.datetime | None:
    """An aware datetime from the ISO text a slot button carries, or None."""
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


def parse_date(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None


class InstantField(forms.CharField):
    """A slot's start, as the ISO 8601 text with its offset that the slot buttons post."""

    widget = forms.HiddenInput

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        moment = parse_instant(value)
        if moment is None:
            raise forms.ValidationError("Choose one of the times shown.", code="invalid")
        return moment


class ReasonForm(AccessibleForm):
    starts_at = InstantField()
    reason = forms.CharField(
        label="Reason for the visit (optional)",
        help_text="Only your care team sees it. Up to 1000 characters.",
        required=False,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"class": "input", "rows": 4, "maxlength": REASON_MAX_LENGTH}),
    )


class PatientFindForm(AccessibleForm):
    """The staff pages' "Book for a patient": who, by email or MRN (the view looks them up)."""

    identifier = forms.CharField(
        label="Patient's email or MRN",
        max_length=254,
        widget=forms.TextInput(attrs={"class": "input", "autocomplete": "off", "spellcheck": "false"}),
    )


class CancelForm(AccessibleForm):
    reason = forms.CharField(
        label="Why are you cancelling? (optional)",
        required=False,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"class": "input", "rows": 3, "maxlength": REASON_MAX_LENGTH}),
    )


class RescheduleForm(AccessibleForm):
    starts_at = InstantField()


class WaitlistJoinForm(AccessibleForm):
    provider = forms.ModelChoiceField(
        label="Doctor",
        queryset=providers_bookable(),
        empty_label="Choose a doctor",
        widget=forms.Select(attrs={"class": "input"}),
    )
    appointment_type = forms.ModelChoiceField(
        label="Type of appointment",
        queryset=appointment_types_active(),
        empty_label="Choose a type",
        widget=forms.Select(attrs={"class": "input"}),
    )
    earliest_date = forms.DateField(
        label="From", widget=forms.DateInput(attrs={"class": "input", "type": "date"}, format="%Y-%m-%d")
    )
    latest_date = forms.DateField(
        label="Until", widget=forms.DateInput(attrs={"class": "input", "type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        provider_field = self.fields["provider"]
        provider_field.label_from_instance = _provider_label  # type: ignore[attr-defined]

    def clean(self):
        cleaned = super().clean()
        earliest, latest = cleaned.get("earliest_date"), cleaned.get("latest_date")
        if earliest and latest and latest < earliest:
            self.add_error("latest_date", "Choose a date on or after the first date.")
        return cleaned


def _provider_label(user) -> str:
    name = user.full_name or user.email
    specialty = getattr(getattr(user, "provider_profile", None), "specialty", "")
    return f"{name} — {specialty}" if specialty else name
