"""Forms of the chart pages: they parse what a person typed; the services decide the rules.

Vitals are taken as text so that `records.services.chart.vitals_clean` gives the message a
person needs ("98.6 is not a possible value. That looks like °F; enter °C.") rather than a
generic "Enter a number". Errors a service raises are put back on the form with
`add_service_error` (AccessibleForm links every error to its field for screen readers).
"""

from __future__ import annotations

import zoneinfo

from django import forms
from django.utils import timezone

from accounts.views.profile import AccessibleForm
from records.models import (
    AllergyStatus,
    ConditionStatus,
    DocumentCategory,
    MedicationStatus,
    Route,
    Severity,
)

TEXT_MAX = 2000
NOTE_MAX = 20000


def _text(label: str, *, required: bool = False, max_length: int = TEXT_MAX, **attrs: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=max_length,
        widget=forms.TextInput(attrs={"class": "input", **attrs}),
    )


def _area(label: str, *, required: bool = False, max_length: int = TEXT_MAX, rows: int = 3, help_text: str = ""):
    return forms.CharField(
        label=label,
        required=required,
        max_length=max_length,
        help_text=help_text,
        strip=True,
        widget=forms.Textarea(attrs={"class": "input", "rows": rows}),
    )


def _date(label: str, *, required: bool = False) -> forms.DateField:
    return forms.DateField(
        label=label, required=required, widget=forms.DateInput(attrs={"class": "input", "type": "date"})
    )


def _choice(label: str, choices, *, initial: str | None = None) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=label, choices=choices, initial=initial, widget=forms.Select(attrs={"class": "input"})
    )


def _without_error(choices) -> list[tuple[str, str]]:
    # "Entered in error" has its own form, with a reason.
    return [(value, label) for value, label in choices if value != "entered_in_error"]


class AllergyForm(AccessibleForm):
    substance = _text("Substance", required=True, autocomplete="off")
    reaction = _text("Reaction", autocomplete="off")
    severity = _choice("Severity", Severity.choices, initial=Severity.UNKNOWN)
    status = _choice("Status", _without_error(AllergyStatus.choices), initial=AllergyStatus.ACTIVE)
    noted_on = _date("Noted on")


class ConditionForm(AccessibleForm):
    description = _text("Problem", required=True, autocomplete="off")
    code = _text("Code (ICD-10 or SNOMED CT, optional)", max_length=32, autocomplete="off")
    onset_on = _date("Onset")
    status = _choice("Status", _without_error(ConditionStatus.choices), initial=ConditionStatus.ACTIVE)


class MedicationForm(AccessibleForm):
    name = _text("Medication", required=True, autocomplete="off")
    dose = _text("Dose", autocomplete="off")
    route = _choice("Route", Route.choices, initial=Route.ORAL)
    frequency = _text("Frequency", autocomplete="off")
    started_on = _date("Started on")
    stopped_on = _date("Stopped on")
    status = _choice("Status", _without_error(MedicationStatus.choices), initial=MedicationStatus.ACTIVE)


class ImmunizationForm(AccessibleForm):
    vaccine = _text("Vaccine", required=True, autocomplete="off")
    administered_on = _date("Given on", required=True)
    dose_number = forms.IntegerField(
        label="Dose number",
        required=False,
        min_value=1,
        max_value=20,
        widget=forms.NumberInput(attrs={"class": "input", "inputmode": "numeric"}),
    )
    lot_number = _text("Lot number", max_length=64, autocomplete="off")
    notes = _area("Notes", rows=2)


ENTRY_FORMS: dict[str, type[AccessibleForm]] = {
    "allergy": AllergyForm,
    "condition": ConditionForm,
    "medication": MedicationForm,
    "immunization": ImmunizationForm,
}


class EnteredInErrorForm(AccessibleForm):
    reason = _area(
        "Why is this entry a mistake?",
        required=True,
        rows=2,
        help_text="Kept in the record with your reason, and hidden from the chart.",
    )


# --- Vitals ------------------------------------------------------------------------------


def _measure(label: str, *, decimal: bool = False) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=12,
        widget=forms.TextInput(
            attrs={"class": "input", "inputmode": "decimal" if decimal else "numeric", "autocomplete": "off"}
        ),
    )


class VitalsForm(AccessibleForm):
    """A set of measurements; each is optional, at least one is needed (the service says so)."""

    systolic_mmhg = _measure("Systolic (upper) blood pressure, mmHg")
    diastolic_mmhg = _measure("Diastolic (lower) blood pressure, mmHg")
    heart_rate_bpm = _measure("Heart rate, beats/min")
    temperature_c = _measure("Temperature, °C", decimal=True)
    respiratory_rate = _measure("Respiratory rate, breaths/min")
    spo2_pct = _measure("Oxygen saturation (SpO2), %")
    weight_kg = _measure("Weight, kg", decimal=True)
    height_cm = _measure("Height, cm", decimal=True)
    measured_at = forms.DateTimeField(
        label="Measured at",
        required=False,
        help_text="Leave empty for now.",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"class": "input", "type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    note = _area("Note (optional)", rows=2)

    MEASUREMENTS = (
        "systolic_mmhg",
        "diastolic_mmhg",
        "heart_rate_bpm",
        "temperature_c",
        "respiratory_rate",
        "spo2_pct",
        "weight_kg",
        "height_cm",
    )

    def __init__(self, *args, zone: zoneinfo.ZoneInfo | None = None, **kwargs) -> None:
        self.zone = zone or zoneinfo.ZoneInfo("UTC")
        super().__init__(*args, **kwargs)

    def full_clean(self) -> None:
        # The person typed a wall-clock time in their own zone, not the server's: Django's
        # DateTimeField reads a naive time in the current zone (and refuses one that a DST
        # change skips or repeats).
        with timezone.override(self.zone):
            super().full_clean()

    def measurements(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name) or "" for name in self.MEASUREMENTS}


# --- Documents ---------------------------------------------------------------------------


class DocumentUploadForm(AccessibleForm):
    file = forms.FileField(
        label="File",
        help_text="PDF, PNG, JPEG or plain text.",
        widget=forms.ClearableFileInput(
            attrs={
                "class": "input",
                "accept": ".pdf,.png,.jpg,.jpeg,.txt,application/pdf,image/png,image/jpeg,text/plain",
            }
        ),
    )
    title = _text("Title (optional)", max_length=200)
    category = _choice("Category", DocumentCategory.choices, initial=DocumentCategory.OTHER)


# --- Notes -------------------------------------------------------------------------------


class NoteForm(AccessibleForm):
    appointment = forms.ChoiceField(
        label="Visit (optional)", required=False, widget=forms.Select(attrs={"class": "input"})
    )
    subjective = _area("Subjective", max_length=NOTE_MAX, rows=4, help_text="What the patient reports.")
    objective = _area("Objective", max_length=NOTE_MAX, rows=4, help_text="Examination, measurements, results.")
    assessment = _area("Assessment", max_length=NOTE_MAX, rows=3, help_text="Diagnosis or impression.")
    plan = _area("Plan", max_length=NOTE_MAX, rows=3, help_text="Treatment, follow-up, advice given.")

    SOAP = ("subjective", "objective", "assessment", "plan")

    def __init__(self, *args, appointments: list[tuple[str, str]] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["appointment"].choices = [("", "Not linked to a visit"), *appointments]

    def soap(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name, "") for name in self.SOAP}


class AmendmentForm(AccessibleForm):
    reason = _text("Reason for the amendment", required=True)
    text = _area("Amendment", required=True, max_length=NOTE_MAX, rows=4)
