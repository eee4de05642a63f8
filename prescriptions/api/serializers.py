"""Shapes shared by the prescriptions endpoints: a prescription with the state of each item, a
refill request, a prescriber's public key, a safety warning, and what the public verify
endpoint tells a pharmacist.

No rules live here (those are the services'). One read does: `prescription_states` sums a
page's dispenses in one query, so a list costs the same number of queries whatever its length
(`prescriptions.verification.verdict_for` asks once per prescription, and checks the signature,
which reads the patient's profile once per prescription too).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from prescriptions.models import (
    DosageForm,
    Prescription,
    PrescriptionStatus,
    RefillRequest,
    RefillStatus,
    Route,
    WarningKind,
    WarningSeverity,
)
from prescriptions.signing import fingerprint_for_display
from prescriptions.verification import ItemState, Verdict, item_states, listed_states
from telemed.api.schema import ErrorSerializer

# --- the state of a prescription, for its patient and its clinicians ------------------------


class State(StrEnum):
    """Where a prescription stands: its status, and for a signed one how much was dispensed."""

    DRAFT = "draft"
    VALID = "valid"
    PARTLY_DISPENSED = "partly_dispensed"
    DISPENSED = "dispensed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"


STATE_HELP = (
    "`draft`; `valid` (nothing dispensed yet), `partly_dispensed`, `dispensed` (in full, refills "
    "included), `expired`, `cancelled`, `superseded` (replaced by a newer one). From the status, "
    "the dates and the dispenses; whether the paper still matches its signature is the verify "
    "endpoint's verdict."
)


@dataclass(frozen=True)
class PrescriptionState:
    state: State
    items: list[ItemState]

    @property
    def refills_left(self) -> int:
        return max((item.refills_left for item in self.items), default=0)


def prescription_states(prescriptions: Iterable[Prescription]) -> dict[int, PrescriptionState]:
    """The state of each prescription (items prefetched), with one query for all their dispenses
    (`prescriptions.verification.listed_states`), and what a patient or a clinician wants to
    tell apart besides: a draft, and a prescription partly dispensed."""
    rows = list(prescriptions)
    listed = listed_states(rows)
    states = {}
    for row in rows:
        verification = listed.get(row.pk)
        if verification is None:
            # A draft, or a draft cancelled before it was ever signed.
            state = State.DRAFT if row.status == PrescriptionStatus.DRAFT else State.CANCELLED
            states[row.pk] = PrescriptionState(state, item_states(row, list(row.items.all()), {}))
            continue
        state = State(verification.verdict.value)
        if state == State.VALID and any(item.dispensed for item in verification.items):
            state = State.PARTLY_DISPENSED
        states[row.pk] = PrescriptionState(state, verification.items)
    return states


# --- items ----------------------------------------------------------------------------------


class PartySerializer(serializers.Serializer):
    class Meta:
        ref_name = "PrescriptionParty"

    id = serializers.IntegerField()
    name = serializers.CharField(source="full_name")


class ItemSerializer(serializers.Serializer):
    """One medicine as prescribed."""

    class Meta:
        ref_name = "PrescriptionItem"

    position = serializers.IntegerField(help_text="1, 2, ... in the order written.")
    medication = serializers.CharField()
    strength = serializers.CharField()
    form = serializers.ChoiceField(choices=DosageForm.choices)
    dose = serializers.CharField()
    route = serializers.ChoiceField(choices=Route.choices)
    frequency = serializers.CharField()
    duration = serializers.CharField()
    quantity = serializers.IntegerField(help_text="What one fill hands over, in `quantity_unit`.")
    quantity_unit = serializers.CharField()
    refills = serializers.IntegerField(help_text="Fills allowed after the first.")
    substitution_allowed = serializers.BooleanField()
    instructions = serializers.CharField(help_text="For the patient.")


class ItemStateSerializer(ItemSerializer):
    """An item with what was dispensed of it (serializes a `verification.ItemState`)."""

    class Meta:
        ref_name = "PrescriptionItemState"

    dispensed = serializers.IntegerField(help_text="Dispensed so far, in `quantity_unit`.")
    remaining = serializers.IntegerField(help_text="Left to dispense, refills included.")
    refills_left = serializers.IntegerField(help_text="Refills not yet started.")

    def to_representation(self, state: ItemState) -> dict[str, Any]:
        return {
            **ItemSerializer(state.item).data,
            "dispensed": state.dispensed,
            "remaining": state.remaining,
            "refills_left": state.refills_left,
        }


class ItemInputSerializer(serializers.Serializer):
    """One medicine of a draft (its position is its place in `items`)."""

    class Meta:
        ref_name = "PrescriptionItemInput"

    medication = serializers.CharField(max_length=200)
    strength = serializers.CharField(max_length=100, required=False, allow_blank=True)
    form = serializers.ChoiceField(choices=DosageForm.choices, required=False, help_text="`tablet` if absent.")
    dose = serializers.CharField(max_length=200)
    route = serializers.ChoiceField(choices=Route.choices, required=False, help_text="`oral` if absent.")
    frequency = serializers.CharField(max_length=200)
    duration = serializers.CharField(max_length=200, required=False, allow_blank=True)
    quantity = serializers.IntegerField(min_value=1, max_value=10000)
    quantity_unit = serializers.CharField(max_length=32, required=False, help_text="`tablets` if absent.")
    refills = serializers.IntegerField(min_value=0, max_value=12, required=False, help_text="0 if absent.")
    substitution_allowed = serializers.BooleanField(required=False, help_text="true if absent.")
    instructions = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class SafetyWarningSerializer(serializers.Serializer):
    """A safety warning of the prescribing check (an allergy, an interaction, a duplicate)."""

    class Meta:
        ref_name = "PrescriptionSafetyWarning"

    item_position = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=WarningKind.choices)
    severity = serializers.ChoiceField(choices=WarningSeverity.choices)
    message = serializers.CharField()


class OverriddenWarningSerializer(SafetyWarningSerializer):
    """A warning the prescriber saw at signing and overrode."""

    class Meta:
        ref_name = "PrescriptionOverriddenWarning"

    override_reason = serializers.CharField()
    overridden_at = serializers.DateTimeField()


class WarningsConflictSerializer(ErrorSerializer):
    """409 `prescription_warnings_unacknowledged`: the error, and the warnings to show."""

    class Meta:
        ref_name = "PrescriptionWarningsConflict"

    warnings = SafetyWarningSerializer(
        many=True,
        required=False,
        help_text="Only with code `prescription_warnings_unacknowledged`: what to review before signing again "
        "with an `override_reason`.",
    )


# --- a prescription -------------------------------------------------------------------------


class OpenRefillSerializer(serializers.Serializer):
    class Meta:
        ref_name = "PrescriptionOpenRefillRequest"

    id = serializers.IntegerField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class PrescriptionSerializer(serializers.Serializer):
    """A prescription. Context: `request`, and `states` from `prescription_states`."""

    class Meta:
        ref_name = "Prescription"

    id = serializers.IntegerField()
    public_id = serializers.CharField(help_text="The id printed on the paper.")
    status = serializers.ChoiceField(choices=PrescriptionStatus.choices)
    state = serializers.SerializerMethodField(help_text=STATE_HELP)
    patient = PartySerializer()
    prescriber = PartySerializer()
    appointment = serializers.IntegerField(source="appointment_id", allow_null=True)
    supersedes = serializers.IntegerField(
        source="supersedes_id", allow_null=True, help_text="The prescription this one replaces."
    )
    superseded_by = serializers.SerializerMethodField(help_text="The prescription that replaced this one.")
    valid_days = serializers.IntegerField(help_text="Days it may be dispensed, from signing.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    signed_at = serializers.DateTimeField(allow_null=True)
    valid_until = serializers.DateField(allow_null=True)
    prescriber_licence = serializers.CharField(help_text="As signed; empty for a draft.")
    prescriber_jurisdiction = serializers.CharField()
    key_fingerprint = serializers.SerializerMethodField(help_text="The signing key's fingerprint; empty for a draft.")
    cancelled_at = serializers.DateTimeField(allow_null=True)
    cancel_reason = serializers.CharField()
    items = serializers.SerializerMethodField()
    refills_left = serializers.SerializerMethodField(help_text="The most refills left on any item.")
    open_refill_request = serializers.SerializerMethodField(help_text="The refill request waiting for the prescriber.")
    overridden_warnings = OverriddenWarningSerializer(many=True, source="warnings.all")
    pdf_url = serializers.SerializerMethodField(help_text="The paper (PDF); null for a draft.")

    def _state(self, prescription: Prescription) -> PrescriptionState:
        return self.context["states"][prescription.pk]

    @extend_schema_field(serializers.ChoiceField(choices=[(state.value, state.value) for state in State]))
    def get_state(self, prescription: Prescription) -> str:
        return self._state(prescription).state.value

    @extend_schema_field(ItemStateSerializer(many=True))
    def get_items(self, prescription: Prescription) -> Any:
        return ItemStateSerializer(self._state(prescription).items, many=True).data

    @extend_schema_field(OpenApiTypes.INT)
    def get_refills_left(self, prescription: Prescription) -> int:
        return self._state(prescription).refills_left

    @extend_schema_field({"type": "integer", "nullable": True})
    def get_superseded_by(self, prescription: Prescription) -> int | None:
        try:
            return prescription.superseded_by.pk
        except Prescription.DoesNotExist:
            return None

    @extend_schema_field(OpenApiTypes.STR)
    def get_key_fingerprint(self, prescription: Prescription) -> str:
        key = prescription.signing_key
        return key.fingerprint if key is not None else ""

    @extend_schema_field(OpenRefillSerializer(allow_null=True))
    def get_open_refill_request(self, prescription: Prescription) -> dict | None:
        refill = next((row for row in prescription.refill_requests.all() if row.status == RefillStatus.OPEN), None)
        return OpenRefillSerializer(refill).data if refill else None

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_pdf_url(self, prescription: Prescription) -> str | None:
        if prescription.signed_at is None:
            return None
        path = reverse("api:prescriptions_pdf", args=[prescription.pk])
        return self.context["request"].build_absolute_uri(path)


def prescriptions_data(prescriptions: Iterable[Prescription], request: Any) -> Any:
    """Serialized prescriptions (items, warnings and refill requests prefetched)."""
    rows = list(prescriptions)
    context = {"request": request, "states": prescription_states(rows)}
    return PrescriptionSerializer(rows, many=True, context=context).data


def prescription_data(prescription: Prescription, request: Any) -> Any:
    return prescriptions_data([prescription], request)[0]


# --- refill requests ------------------------------------------------------------------------


class PrescriptionBriefSerializer(serializers.Serializer):
    class Meta:
        ref_name = "PrescriptionBrief"

    id = serializers.IntegerField()
    public_id = serializers.CharField()
    status = serializers.ChoiceField(choices=PrescriptionStatus.choices)
    items = ItemSerializer(many=True, source="items.all")


class RefillRequestSerializer(serializers.Serializer):
    class Meta:
        ref_name = "RefillRequest"

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=RefillStatus.choices)
    patient = PartySerializer(source="prescription.patient")
    requested_by = PartySerializer(help_text="The patient, or their proxy.")
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    decline_reason = serializers.CharField(help_text="Why the prescriber declined; empty otherwise.")
    prescription = PrescriptionBriefSerializer()
    new_prescription = serializers.IntegerField(
        source="new_prescription_id", allow_null=True, help_text="The prescription the approval issued."
    )


def refill_requests_data(refills: Iterable[RefillRequest]) -> Any:
    return RefillRequestSerializer(list(refills), many=True).data


# --- prescribers' keys ----------------------------------------------------------------------


class PrescriberKeySerializer(serializers.Serializer):
    """The public part of a signing key (the private key never leaves the server)."""

    class Meta:
        ref_name = "PrescriberKey"

    fingerprint = serializers.CharField(help_text="SHA-256 of the public key, first 32 hex digits.")
    fingerprint_display = serializers.SerializerMethodField(help_text="As printed on the paper: `A1B2 C3D4 …`.")
    public_key = serializers.CharField(help_text="Raw Ed25519 public key, hex.")
    created_at = serializers.DateTimeField()
    retired_at = serializers.DateTimeField(allow_null=True)
    active = serializers.BooleanField(help_text="Signs new prescriptions; a retired key still verifies old ones.")

    @extend_schema_field(OpenApiTypes.STR)
    def get_fingerprint_display(self, key: Any) -> str:
        return fingerprint_for_display(key.fingerprint)


# --- what the public verify endpoint tells ---------------------------------------------------


class PaperPrescriberSerializer(serializers.Serializer):
    class Meta:
        ref_name = "VerifiedPrescriber"

    name = serializers.CharField(source="prescriber_name")
    licence = serializers.CharField(source="prescriber_licence")
    jurisdiction = serializers.CharField(source="prescriber_jurisdiction")
    key_fingerprint = serializers.SerializerMethodField(help_text="As printed on the paper.")

    @extend_schema_field(OpenApiTypes.STR)
    def get_key_fingerprint(self, prescription: Prescription) -> str:
        key = prescription.signing_key
        return fingerprint_for_display(key.fingerprint) if key is not None else ""


class VerifiedPrescriptionSerializer(serializers.Serializer):
    """What a pharmacist needs, and no more (serializes a `verification.Verification`)."""

    class Meta:
        ref_name = "VerifiedPrescription"

    public_id = serializers.CharField(source="prescription.public_id")
    clinic = serializers.CharField(source="prescription.clinic_name")
    signed_at = serializers.DateTimeField(source="prescription.signed_at")
    valid_until = serializers.DateField(source="prescription.valid_until")
    prescriber = PaperPrescriberSerializer(source="prescription")
    patient_initials = serializers.CharField(help_text="e.g. `P.P.`")
    patient_birth_year = serializers.IntegerField(allow_null=True)
    items = ItemStateSerializer(many=True)


class VerificationSerializer(serializers.Serializer):
    class Meta:
        ref_name = "PrescriptionVerification"

    verdict = serializers.ChoiceField(
        choices=[(verdict.value, verdict.value) for verdict in Verdict if verdict != Verdict.NOT_FOUND],
        help_text="`valid`: may be dispensed (`items` say what is left). `invalid`: does not match its "
        "signature, do not dispense. `cancelled`, `superseded`, `expired`, `dispensed`: do not dispense.",
    )
    text = serializers.CharField(help_text="The verdict in a sentence, to show as it is.")
    dispensable = serializers.BooleanField()
    prescription = serializers.SerializerMethodField(help_text="Null when the verdict is `invalid`.")

    @extend_schema_field(VerifiedPrescriptionSerializer(allow_null=True))
    def get_prescription(self, verification: Any) -> dict | None:
        # What an altered prescription says cannot be trusted: show none of it.
        if verification.verdict == Verdict.INVALID:
            return None
        return VerifiedPrescriptionSerializer(verification).data
