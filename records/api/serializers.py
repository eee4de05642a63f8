"""Shapes shared by the records endpoints: how a chart entry, a vitals set, a note, a document
and a line of the access log look in JSON, and the few input fields that parse.

No rules live here (those are the services'): a serializer says what a measurement or a time
looks like, never whether it is plausible or who may record it.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Role
from audit.models import ActorRole, AuditEvent, Outcome
from records.models import (
    AllergyStatus,
    ConditionStatus,
    DocumentCategory,
    DocumentStatus,
    ImmunizationStatus,
    MedicationStatus,
    NoteStatus,
    Route,
    ScanStatus,
    Severity,
    Source,
)
from records.selectors import describe_access_event

# --- input fields ---------------------------------------------------------------------------


def settable(choices: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The statuses a POST or PATCH may set: marking a mistake has its own endpoint, which asks why."""
    return [choice for choice in choices if choice[0] != "entered_in_error"]


# Allergies and problems share one clinical status (as FHIR's clinicalStatus); named once in
# the schema through SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].
CLINICAL_STATUS_SETTABLE = settable(AllergyStatus.choices)


class InstantField(serializers.DateTimeField):
    """An ISO 8601 instant that carries its UTC offset: a naive time would be guessed in some zone."""

    default_error_messages = {"naive": "Give the time with its UTC offset, e.g. 2026-11-23T09:00:00+01:00."}

    def to_internal_value(self, value):
        if isinstance(value, str):
            parsed = parse_datetime(value.strip())
            if parsed is not None and timezone.is_naive(parsed):
                self.fail("naive")
        return super().to_internal_value(value)


@extend_schema_field(OpenApiTypes.NUMBER)
class MeasurementField(serializers.Field):
    """A measurement as sent (a JSON number, or a string such as "36,8"), passed on unparsed:
    `records.services.chart.vitals_clean` parses it and names the plausible range when it is not."""

    default_error_messages = {"invalid": "Send a number."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        # bool is an int in Python; `true` is not a heart rate.
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            self.fail("invalid")
        if isinstance(data, str) and len(data) > 32:
            self.fail("invalid")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


# --- output ---------------------------------------------------------------------------------


class PartySerializer(serializers.Serializer):
    """A person named in the chart: who recorded, wrote, signed or acknowledged something."""

    class Meta:
        ref_name = "RecordsParty"

    id = serializers.IntegerField()
    name = serializers.CharField(source="full_name")
    role = serializers.ChoiceField(choices=Role.choices)


class ChartEntrySerializer(serializers.Serializer):
    """What every structured entry has: whose, who recorded it, when, from which source."""

    id = serializers.IntegerField()
    patient = serializers.IntegerField(source="patient_id", help_text="The patient's id.")
    source = serializers.ChoiceField(
        choices=Source.choices, help_text="`clinician`, or `patient` for what the patient reported."
    )
    recorded_by = PartySerializer()
    recorded_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AllergySerializer(ChartEntrySerializer):
    class Meta:
        ref_name = "Allergy"

    substance = serializers.CharField()
    reaction = serializers.CharField()
    severity = serializers.ChoiceField(choices=Severity.choices)
    status = serializers.ChoiceField(choices=AllergyStatus.choices)
    noted_on = serializers.DateField(allow_null=True)


class ConditionSerializer(ChartEntrySerializer):
    class Meta:
        ref_name = "Condition"

    description = serializers.CharField()
    code = serializers.CharField(help_text="An ICD-10 or SNOMED CT code, or empty.")
    onset_on = serializers.DateField(allow_null=True)
    status = serializers.ChoiceField(choices=ConditionStatus.choices)


class MedicationSerializer(ChartEntrySerializer):
    class Meta:
        ref_name = "Medication"

    name = serializers.CharField()
    dose = serializers.CharField()
    route = serializers.ChoiceField(choices=Route.choices)
    frequency = serializers.CharField()
    started_on = serializers.DateField(allow_null=True)
    stopped_on = serializers.DateField(allow_null=True)
    status = serializers.ChoiceField(choices=MedicationStatus.choices)


class ImmunizationSerializer(ChartEntrySerializer):
    class Meta:
        ref_name = "Immunization"

    vaccine = serializers.CharField()
    administered_on = serializers.DateField()
    dose_number = serializers.IntegerField(allow_null=True)
    lot_number = serializers.CharField()
    notes = serializers.CharField()
    status = serializers.ChoiceField(choices=ImmunizationStatus.choices)


def _number(max_digits: int, **kwargs: Any) -> serializers.DecimalField:
    # Numbers in JSON, not strings: a phone plots them as they come.
    return serializers.DecimalField(
        max_digits=max_digits, decimal_places=1, coerce_to_string=False, allow_null=True, **kwargs
    )


class VitalSignsSerializer(ChartEntrySerializer):
    """One set of measurements taken together; the unit is in each field's name."""

    class Meta:
        ref_name = "VitalSigns"

    measured_at = serializers.DateTimeField()
    systolic_mmhg = serializers.IntegerField(allow_null=True)
    diastolic_mmhg = serializers.IntegerField(allow_null=True)
    heart_rate_bpm = serializers.IntegerField(allow_null=True)
    temperature_c = _number(4)
    respiratory_rate = serializers.IntegerField(allow_null=True, help_text="Breaths per minute.")
    spo2_pct = serializers.IntegerField(allow_null=True)
    weight_kg = _number(5)
    height_cm = _number(4)
    bmi = _number(6, help_text="Body-mass index (kg/m²), when this set has both weight and height.")
    note = serializers.CharField()
    acknowledged_by = PartySerializer(allow_null=True)
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    needs_acknowledgement = serializers.BooleanField(
        help_text="A patient's home reading that no clinician has acknowledged yet."
    )
    entered_in_error = serializers.BooleanField()


class AmendmentSerializer(serializers.Serializer):
    class Meta:
        ref_name = "NoteAmendment"

    id = serializers.IntegerField()
    author = PartySerializer()
    created_at = serializers.DateTimeField()
    reason = serializers.CharField()
    text = serializers.CharField()


class NoteSerializer(serializers.Serializer):
    """A SOAP note. A signed note never changes; additions are its `amendments`, oldest first."""

    class Meta:
        ref_name = "ClinicalNote"

    id = serializers.IntegerField()
    patient = serializers.IntegerField(source="patient_id")
    status = serializers.ChoiceField(choices=NoteStatus.choices)
    author = PartySerializer()
    appointment = serializers.IntegerField(
        source="appointment_id", allow_null=True, help_text="The visit this note is about, if any."
    )
    subjective = serializers.CharField()
    objective = serializers.CharField()
    assessment = serializers.CharField()
    plan = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    signed_by = PartySerializer(allow_null=True)
    signed_at = serializers.DateTimeField(allow_null=True)
    content_sha256 = serializers.CharField(help_text="SHA-256 of the signed content; empty for a draft.")
    amendments = AmendmentSerializer(many=True, source="amendments.all")


class DocumentSerializer(ChartEntrySerializer):
    """A document's metadata; its bytes come from `download_url`. Context: `request`."""

    class Meta:
        ref_name = "Document"

    id = None
    public_id = serializers.UUIDField()
    title = serializers.CharField()
    filename = serializers.CharField(help_text="The name it came with, cleaned; what a download is saved as.")
    category = serializers.ChoiceField(choices=DocumentCategory.choices)
    content_type = serializers.CharField(help_text="Decided from the bytes at upload.")
    size_bytes = serializers.IntegerField()
    sha256 = serializers.CharField(help_text="SHA-256 of the file, checked on every download.")
    scan_status = serializers.ChoiceField(choices=ScanStatus.choices)
    status = serializers.ChoiceField(choices=DocumentStatus.choices)
    download_url = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, document: Any) -> str:
        path = reverse("api:records_document_download", args=[document.public_id])
        return self.context["request"].build_absolute_uri(path)


class AccessEventSerializer(serializers.Serializer):
    """One thing someone did with the patient's chart, in the patient's words."""

    class Meta:
        ref_name = "ChartAccessEvent"

    id = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    who = PartySerializer(source="actor", allow_null=True, help_text="Null for the system itself.")
    role = serializers.ChoiceField(source="actor_role", choices=ActorRole.choices)
    what = serializers.SerializerMethodField()
    outcome = serializers.ChoiceField(choices=Outcome.choices, help_text="`denied`: someone tried and was refused.")
    breakglass = serializers.BooleanField(help_text="Emergency access, outside any care relationship.")
    breakglass_reason = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.STR)
    def get_what(self, event: AuditEvent) -> str:
        return describe_access_event(event)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_breakglass_reason(self, event: AuditEvent) -> str | None:
        # The policy words a break-glass standing "break-glass: <the clinician's reason>".
        if not event.breakglass:
            return None
        _before, marker, reason = event.reason.rpartition("break-glass: ")
        return reason.strip() if marker else event.reason
