"""Forms of the prescription pages: they parse what a person typed; the services decide the rules.

The editor is a header (visit, validity) and a fixed number of item rows, each its own form
with the prefix ``item-<n>`` (no JavaScript needed: "Add more rows" posts back for more). A
row whose text fields are all empty is left out, whatever its selects say. Errors a service
raises go back on a form with `add_service_error` (AccessibleForm links errors to fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms

from accounts.views.profile import AccessibleForm
from prescriptions.models import DosageForm, Route

# Limits the database holds (prescriptions.models); the form says so before the service does.
MAX_QUANTITY = 10000
MAX_REFILLS = 12
MAX_VALID_DAYS = 366
NEW_ROWS = 3
MORE_ROWS = 3
# prescriptions.services.prescribing.MAX_ITEMS
MAX_ROWS = 10
TEXT_FIELDS = ("medication", "strength", "dose", "frequency", "duration", "quantity", "instructions")


def _text(label: str, *, required: bool = False, max_length: int = 200, **attrs: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=max_length,
        widget=forms.TextInput(attrs={"class": "input", "autocomplete": "off", **attrs}),
    )


def _number(label: str, *, low: int, high: int, required: bool = True, initial: int | None = None):
    return forms.IntegerField(
        label=label,
        required=required,
        min_value=low,
        max_value=high,
        initial=initial,
        widget=forms.NumberInput(attrs={"class": "input", "inputmode": "numeric"}),
    )


def _reason(label: str, *, required: bool, message: str = "", help_text: str = "") -> forms.CharField:
    errors = {"required": message} if message else {}
    return forms.CharField(
        label=label,
        required=required,
        max_length=2000,
        help_text=help_text,
        error_messages=errors,
        widget=forms.Textarea(attrs={"class": "input", "rows": 2}),
    )


class ItemForm(AccessibleForm):
    """One medicine of the prescription."""

    medication = _text("Medicine", required=True)
    strength = _text("Strength", max_length=100, placeholder="e.g. 500 mg")
    form = forms.ChoiceField(
        label="Form",
        choices=DosageForm.choices,
        initial=DosageForm.TABLET,
        widget=forms.Select(attrs={"class": "input"}),
    )
    dose = _text("Dose", required=True, placeholder="e.g. 1 tablet")
    route = forms.ChoiceField(
        label="Route", choices=Route.choices, initial=Route.ORAL, widget=forms.Select(attrs={"class": "input"})
    )
    frequency = _text("How often", required=True, placeholder="e.g. twice a day")
    duration = _text("For how long", max_length=100, placeholder="e.g. 7 days")
    quantity = _number("Quantity", low=1, high=MAX_QUANTITY)
    quantity_unit = _text("Unit", required=True, max_length=32)
    refills = _number("Refills", low=0, high=MAX_REFILLS, initial=0)
    substitution_allowed = forms.BooleanField(
        label="Substitution allowed (the pharmacy may give an equivalent generic)", required=False, initial=True
    )
    instructions = forms.CharField(
        label="Instructions for the patient",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"class": "input", "rows": 2}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["quantity_unit"].initial = "tablets"

    def is_blank(self) -> bool:
        """A posted row with no text at all: left out (the editor always offers empty rows)."""
        if not self.is_bound:
            return True
        return not any(str(self.data.get(self.add_prefix(name), "")).strip() for name in TEXT_FIELDS)


class ItemRows:
    """The editor's item rows: `count` ItemForms prefixed item-0 … item-<count-1>."""

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        initial: list[dict[str, Any]] | None = None,
        count: int | None = None,
    ) -> None:
        self.data = data
        if data is not None:
            count = count or _row_count(data.get("rows"))
            self.forms = [_bound_row(data, index) for index in range(count)]
        else:
            initial = initial or []
            count = max(count or 0, len(initial))
            self.forms = [
                ItemForm(initial=initial[index] if index < len(initial) else None, prefix=f"item-{index}")
                for index in range(count)
            ]
        self.non_form_errors: list[str] = []

    def __iter__(self):
        return iter(self.forms)

    def __len__(self) -> int:
        return len(self.forms)

    @property
    def may_add(self) -> bool:
        return len(self.forms) < MAX_ROWS

    def filled(self) -> list[ItemForm]:
        return [form for form in self.forms if not form.is_blank()]

    def is_valid(self) -> bool:
        filled = self.filled()
        if not filled:
            self.non_form_errors = ["Add at least one medicine."]
            return False
        # Every filled row is validated, so each shows its own errors at once.
        results = [form.is_valid() for form in filled]
        return all(results)

    def items(self) -> list[dict[str, Any]]:
        """The filled rows as the service takes them (is_valid() first)."""
        return [dict(form.cleaned_data) for form in self.filled()]

    @property
    def has_row_errors(self) -> bool:
        return any(form.errors for form in self.filled()) if self.data is not None else False

    @property
    def has_errors(self) -> bool:
        return bool(self.non_form_errors) or self.has_row_errors

    def with_more_rows(self) -> ItemRows:
        """The same rows as typed, unvalidated, and up to MORE_ROWS empty ones (at most MAX_ROWS)."""
        assert self.data is not None
        rows = [_raw_row(self.data, form) for form in self.filled()]
        return ItemRows(initial=rows, count=min(MAX_ROWS, len(rows) + MORE_ROWS))


def _bound_row(data: Mapping[str, Any], index: int) -> ItemForm:
    """A posted row; an empty one comes back unbound (as posted, but never "required" errors)."""
    form = ItemForm(data, prefix=f"item-{index}")
    if not form.is_blank():
        return form
    posted = any(key.startswith(f"{form.prefix}-") for key in data)
    return ItemForm(initial=_raw_row(data, form) if posted else None, prefix=form.prefix)


def _raw_row(data: Mapping[str, Any], form: ItemForm) -> dict[str, Any]:
    row = {name: data.get(form.add_prefix(name), "") for name in ItemForm.base_fields}
    row["substitution_allowed"] = form.add_prefix("substitution_allowed") in data
    return row


def _row_count(value: object) -> int:
    try:
        count = int(str(value))
    except ValueError:
        count = NEW_ROWS
    return max(1, min(MAX_ROWS, count))


def rows_for(items: list[Any], *, spare: int = 2) -> ItemRows:
    """The rows of a draft being edited: its items, then `spare` empty rows (at most MAX_ROWS)."""
    initial = [{name: getattr(item, name) for name in ItemForm.base_fields} for item in items]
    return ItemRows(initial=initial, count=min(MAX_ROWS, max(len(initial) + spare, NEW_ROWS)))


class PrescriptionForm(AccessibleForm):
    """The prescription's own fields (the items are ItemRows)."""

    appointment = forms.ChoiceField(
        label="Visit (optional)", required=False, widget=forms.Select(attrs={"class": "input"})
    )
    valid_days = _number("Valid for (days)", low=1, high=MAX_VALID_DAYS, initial=180)

    def __init__(self, *args: Any, appointments: list[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["appointment"].choices = [("", "Not linked to a visit"), *appointments]
        self.fields["valid_days"].help_text = "From the day it is signed; a pharmacy will not dispense it after that."

    @property
    def has_field_errors(self) -> bool:
        return any(name in self.fields for name in self.errors)


class SignForm(AccessibleForm):
    """The author signs with a fresh code; a reason is needed when the safety check warns."""

    otp_code = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=32,
        help_text="The 6-digit code your authenticator app shows now. Each code signs once.",
        widget=forms.TextInput(
            attrs={
                "class": "input",
                "inputmode": "numeric",
                "autocomplete": "one-time-code",
                "autocapitalize": "none",
                "spellcheck": "false",
            }
        ),
    )
    override_reason = _reason(
        "Reason to override",
        required=False,
        help_text="Why this prescription is right despite the warnings. Stored with it and recorded.",
    )

    def __init__(self, *args: Any, warns: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not warns:
            del self.fields["override_reason"]


class CancelForm(AccessibleForm):
    reason = _reason(
        "Reason for cancelling",
        required=True,
        message="Say why the prescription is cancelled.",
        help_text="The patient reads it; a pharmacy checking the paper sees only that it is cancelled.",
    )


class RefillRequestForm(AccessibleForm):
    note = _reason(
        "Note for your doctor (optional)",
        required=False,
        help_text="For example: how many are left, or a pharmacy you prefer.",
    )


class DeclineForm(AccessibleForm):
    reason = _reason(
        "Reason to decline",
        required=True,
        message="Tell the patient why the refill is declined.",
        help_text="The patient reads it.",
    )
