"""Writes to the structured chart: allergies, problems, medications, immunizations, vitals.

Each public service checks the policy again (`records.selectors.chart_permission`, so a
service called from a task or a shell still enforces it), validates with `full_clean()` and
the rules below, writes, and records its audit event in the same durable transaction.
Nothing is deleted: `entry_mark_entered_in_error` keeps the row and hides it from the chart.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from accounts.models import User
from audit.services import audit_record, audit_record_denied
from records.errors import RecordsError, RecordsErrorCode, RecordsForbiddenError
from records.models import (
    VITAL_FIELDS,
    VITAL_RANGES,
    Allergy,
    AllergyStatus,
    Condition,
    ConditionStatus,
    Immunization,
    ImmunizationStatus,
    Medication,
    MedicationStatus,
    Source,
    VitalSigns,
)
from records.selectors import Need, chart_permission

# What each entry's services may set (anything else passed in is a programming error).
EDITABLE: dict[type[Model], tuple[str, ...]] = {
    Allergy: ("substance", "reaction", "severity", "status", "noted_on"),
    Condition: ("description", "code", "onset_on", "status"),
    Medication: ("name", "dose", "route", "frequency", "started_on", "stopped_on", "status"),
    Immunization: ("vaccine", "administered_on", "dose_number", "lot_number", "notes"),
}
ERROR_STATUS: dict[type[Model], str] = {
    Allergy: AllergyStatus.ENTERED_IN_ERROR,
    Condition: ConditionStatus.ENTERED_IN_ERROR,
    Medication: MedicationStatus.ENTERED_IN_ERROR,
    Immunization: ImmunizationStatus.ENTERED_IN_ERROR,
}
TEXT_MAX_LENGTH = 2000


def require(actor: User, patient: User, need: Need, *, action: str, target_type: str, target_id: object = "") -> Any:
    """The policy decision letting `actor` do `need` on `patient`'s chart; refuses (audited) otherwise.

    Call outside a transaction: the refusal's audit record commits on its own.
    """
    decision = chart_permission(actor, patient, need)
    if decision is None:
        audit_record_denied(
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=str(target_id)[:64],
            patient=patient,
            reason=f"may not {need.value} this chart",
        )
        raise RecordsForbiddenError("You may not change this chart in this way.")
    return decision


def _audit_write(actor: User, decision: Any, *, action: str, entry: Model, patient: User, detail: str = "") -> None:
    reason = decision.label or f"via {decision.via}"
    audit_record(
        actor=actor,
        action=action,
        target_type=entry._meta.label_lower,
        target_id=entry.pk,
        patient=patient,
        reason=f"{detail}; {reason}" if detail else reason,
        breakglass=decision.breakglass,
    )


def _check_lengths(values: Mapping[str, Any]) -> None:
    long = {
        name: f"At most {TEXT_MAX_LENGTH} characters."
        for name, value in values.items()
        if isinstance(value, str) and len(value) > TEXT_MAX_LENGTH
    }
    if long:
        raise ValidationError(long)


def _check_dates(model: type[Model], values: Mapping[str, Any]) -> None:
    administered_on = values.get("administered_on")
    if model is Immunization and administered_on is not None and administered_on > timezone.localdate():
        raise ValidationError({"administered_on": "An immunization cannot be given in the future."})


def _check_medication_dates(entry: Any) -> None:
    # Said per field before full_clean, whose constraint message names only the constraint.
    started, stopped = getattr(entry, "started_on", None), getattr(entry, "stopped_on", None)
    if started and stopped and stopped < started:
        raise ValidationError({"stopped_on": "The stop date must be on or after the start date."})


def _entry_create(model: type[Model], *, actor: User, patient: User, values: Mapping[str, Any]) -> Any:
    name = model._meta.model_name
    action = f"records.{name}.create"
    unknown = set(values) - set(EDITABLE[model])
    if unknown:
        raise TypeError(f"{model.__name__} has no editable fields {sorted(unknown)}")
    decision = require(actor, patient, Need.CLINICAL, action=action, target_type=model._meta.label_lower)
    _check_lengths(values)
    entry = model(patient=patient, recorded_by=actor, source=Source.CLINICIAN, **values)
    _check_medication_dates(entry)
    entry.full_clean()
    with transaction.atomic(durable=True):
        entry.save(force_insert=True)
        _audit_write(actor, decision, action=action, entry=entry, patient=patient)
    return entry


def _entry_update(entry: Any, *, actor: User, values: Mapping[str, Any]) -> Any:
    model = type(entry)
    action = f"records.{model._meta.model_name}.update"
    unknown = set(values) - set(EDITABLE[model])
    if unknown:
        raise TypeError(f"{model.__name__} has no editable fields {sorted(unknown)}")
    if values.get("status") == ERROR_STATUS.get(model):
        # Retracting an entry needs a reason and has its own audit action.
        raise TypeError("Use entry_mark_entered_in_error to mark an entry as a mistake.")
    decision = require(
        actor, entry.patient, Need.CLINICAL, action=action, target_type=model._meta.label_lower, target_id=entry.pk
    )
    # Cleaned as the create services clean them.
    values = {name: value.strip() if isinstance(value, str) else value for name, value in values.items()}
    if model is Condition and "code" in values:
        values["code"] = values["code"].upper()
    _check_dates(model, values)
    _check_lengths(values)
    with transaction.atomic(durable=True):
        # Lock the row: two clinicians editing at once must not silently overwrite each other's
        # other fields with what they loaded earlier.
        current = model._default_manager.select_for_update().get(pk=entry.pk)  # type: ignore[attr-defined]
        if getattr(current, "status", None) == ERROR_STATUS.get(model):
            raise RecordsError("This entry was marked as entered in error and cannot change.", RecordsErrorCode.INVALID)
        changed = sorted(name for name, value in values.items() if getattr(current, name) != value)
        for name, value in values.items():
            setattr(current, name, value)
        _check_medication_dates(current)
        current.full_clean()
        current.save()
        _audit_write(
            actor,
            decision,
            action=action,
            entry=current,
            patient=current.patient,
            detail=f"changed {', '.join(changed) or 'nothing'}",
        )
    return current


def allergy_record(
    *,
    actor: User,
    patient: User,
    substance: str,
    reaction: str = "",
    severity: str = "unknown",
    status: str = AllergyStatus.ACTIVE,
    noted_on: dt.date | None = None,
) -> Allergy:
    """Add an allergy to `patient`'s chart (a doctor caring for them)."""
    return _entry_create(
        Allergy,
        actor=actor,
        patient=patient,
        values={
            "substance": substance.strip(),
            "reaction": reaction.strip(),
            "severity": severity,
            "status": status,
            "noted_on": noted_on,
        },
    )


def condition_record(
    *,
    actor: User,
    patient: User,
    description: str,
    code: str = "",
    onset_on: dt.date | None = None,
    status: str = ConditionStatus.ACTIVE,
) -> Condition:
    """Add a problem to `patient`'s problem list."""
    return _entry_create(
        Condition,
        actor=actor,
        patient=patient,
        values={
            "description": description.strip(),
            "code": code.strip().upper(),
            "onset_on": onset_on,
            "status": status,
        },
    )


def medication_record(
    *,
    actor: User,
    patient: User,
    name: str,
    dose: str = "",
    route: str = "oral",
    frequency: str = "",
    started_on: dt.date | None = None,
    stopped_on: dt.date | None = None,
    status: str = MedicationStatus.ACTIVE,
) -> Medication:
    """Add a medication to `patient`'s list."""
    return _entry_create(
        Medication,
        actor=actor,
        patient=patient,
        values={
            "name": name.strip(),
            "dose": dose.strip(),
            "route": route,
            "frequency": frequency.strip(),
            "started_on": started_on,
            "stopped_on": stopped_on,
            "status": status,
        },
    )


def immunization_record(
    *,
    actor: User,
    patient: User,
    vaccine: str,
    administered_on: dt.date,
    dose_number: int | None = None,
    lot_number: str = "",
    notes: str = "",
) -> Immunization:
    """Add an immunization to `patient`'s chart."""
    _check_dates(Immunization, {"administered_on": administered_on})
    return _entry_create(
        Immunization,
        actor=actor,
        patient=patient,
        values={
            "vaccine": vaccine.strip(),
            "administered_on": administered_on,
            "dose_number": dose_number,
            "lot_number": lot_number.strip(),
            "notes": notes.strip(),
        },
    )


def entry_update(entry: Allergy | Condition | Medication | Immunization, *, actor: User, **values: Any) -> Any:
    """Change fields of an allergy, problem, medication or immunization (a doctor caring for the patient)."""
    return _entry_update(entry, actor=actor, values=values)


def entry_mark_entered_in_error(entry: Any, *, actor: User, reason: str) -> Any:
    """Mark a structured entry or a vitals set as a mistake: kept, hidden from the chart, audited."""
    model = type(entry)
    # "records.vitals.*" like the other vitals actions (not the model name, "vitalsigns").
    noun = "vitals" if model is VitalSigns else model._meta.model_name
    action = f"records.{noun}.entered_in_error"
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why this entry is a mistake."})
    need = Need.VITALS if model is VitalSigns else Need.CLINICAL
    decision = require(
        actor, entry.patient, need, action=action, target_type=model._meta.label_lower, target_id=entry.pk
    )
    # A patient corrects their own home readings, never a clinician's measurement (the source
    # of a reading never changes, so it is checked before the transaction, where the refusal
    # can be recorded).
    if model is VitalSigns and decision.via == "self" and entry.source != Source.PATIENT:
        audit_record_denied(
            actor=actor,
            action=action,
            target_type=model._meta.label_lower,
            target_id=entry.pk,
            patient=entry.patient,
            reason="a clinician's reading is corrected by a clinician",
        )
        raise RecordsForbiddenError("A reading taken by a clinician can only be corrected by a clinician.")
    with transaction.atomic(durable=True):
        current = model._default_manager.select_for_update().get(pk=entry.pk)  # type: ignore[attr-defined]
        if model is VitalSigns:
            current.entered_in_error = True
        else:
            current.status = ERROR_STATUS[model]
        current.save()
        _audit_write(
            actor, decision, action=action, entry=current, patient=current.patient, detail=reason[:TEXT_MAX_LENGTH]
        )
    return current


# --- Vitals ----------------------------------------------------------------------------------


def _number(value: Any, *, label: str, integer: bool) -> decimal.Decimal:
    try:
        number = decimal.Decimal(str(value).strip().replace(",", "."))
    except (decimal.InvalidOperation, ValueError):
        raise ValidationError(f"{label} must be a number.", code="invalid") from None
    if not number.is_finite():
        raise ValidationError(f"{label} must be a number.", code="invalid")
    if integer and number != number.to_integral_value():
        raise ValidationError(f"{label} must be a whole number.", code="invalid")
    return number


def vitals_clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """Parse and check a set of measurements; ValidationError per field with the plausible range.

    Empty values are left out. Blood pressure needs both numbers with systolic above
    diastolic; at least one measurement is needed.
    """
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[ValidationError]] = {}
    for name, label, unit, low, high in VITAL_RANGES:
        raw = values.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        integer = name not in ("temperature_c", "weight_kg", "height_cm")
        try:
            number = _number(raw, label=label, integer=integer)
        except ValidationError as exc:
            errors[name] = [exc]
            continue
        if not low <= number <= high:
            hint = ""
            if name == "temperature_c" and decimal.Decimal(86) <= number <= decimal.Decimal(113):
                hint = " That looks like °F; enter °C."
            elif name == "weight_kg" and number > high:
                hint = " Is that in pounds? Enter kilograms."
            elif name == "height_cm" and number < low:
                hint = " Is that in metres or feet? Enter centimetres."
            errors[name] = [
                ValidationError(
                    f"{label} must be between {low} and {high} {unit}; {number} is not a possible value.{hint}",
                    code=RecordsErrorCode.VITAL_OUT_OF_RANGE,
                )
            ]
            continue
        cleaned[name] = int(number) if integer else number.quantize(decimal.Decimal("0.1"))
    if not errors:
        if ("systolic_mmhg" in cleaned) != ("diastolic_mmhg" in cleaned):
            missing = "diastolic_mmhg" if "systolic_mmhg" in cleaned else "systolic_mmhg"
            errors[missing] = [
                ValidationError("Enter both blood pressure numbers.", code=RecordsErrorCode.BLOOD_PRESSURE_INCOMPLETE)
            ]
        elif "systolic_mmhg" in cleaned and cleaned["systolic_mmhg"] <= cleaned["diastolic_mmhg"]:
            errors["systolic_mmhg"] = [
                ValidationError(
                    "The systolic (upper) number must be higher than the diastolic (lower) one.",
                    code=RecordsErrorCode.VITAL_OUT_OF_RANGE,
                )
            ]
        elif not cleaned:
            errors["__all__"] = [ValidationError("Enter at least one measurement.", code=RecordsErrorCode.VITALS_EMPTY)]
    if errors:
        raise ValidationError(errors)
    return cleaned


def vitals_record(
    *,
    actor: User,
    patient: User,
    measurements: Mapping[str, Any],
    measured_at: dt.datetime | None = None,
    note: str = "",
) -> VitalSigns:
    """Record a set of vital signs: by a clinician, or a home reading by the patient.

    A patient's reading is marked patient-reported and waits for a clinician's
    acknowledgement; a clinician's is not. `measured_at` may not be in the future.
    """
    action = "records.vitals.create"
    decision = require(actor, patient, Need.VITALS, action=action, target_type="records.vitalsigns")
    now = timezone.now()
    measured_at = measured_at or now
    if measured_at > now + dt.timedelta(minutes=5):
        raise ValidationError({"measured_at": "A measurement cannot be taken in the future."})
    if measured_at < now - dt.timedelta(days=365 * 120):
        raise ValidationError({"measured_at": "That date is too far in the past."})
    cleaned = vitals_clean(measurements)
    _check_lengths({"note": note})
    source = Source.PATIENT if decision.via == "self" else Source.CLINICIAN
    vitals = VitalSigns(
        patient=patient, recorded_by=actor, source=source, measured_at=measured_at, note=note.strip(), **cleaned
    )
    vitals.full_clean()
    with transaction.atomic(durable=True):
        vitals.save(force_insert=True)
        _audit_write(actor, decision, action=action, entry=vitals, patient=patient, detail=", ".join(sorted(cleaned)))
    return vitals


def vitals_acknowledge(vitals: VitalSigns, *, actor: User) -> VitalSigns:
    """A clinician acknowledges a patient's home reading (once; a second time is refused)."""
    action = "records.vitals.acknowledge"
    decision = require(
        actor, vitals.patient, Need.ACKNOWLEDGE, action=action, target_type="records.vitalsigns", target_id=vitals.pk
    )
    with transaction.atomic(durable=True):
        # The lock makes two clinicians acknowledging at once record one acknowledgement.
        current = VitalSigns.objects.select_for_update().get(pk=vitals.pk)
        if current.source != Source.PATIENT:
            raise RecordsError(
                "Only patient-reported readings are acknowledged.", RecordsErrorCode.NOT_PATIENT_REPORTED
            )
        if current.acknowledged_at is not None:
            raise RecordsError(
                "This reading has already been acknowledged.", RecordsErrorCode.ALREADY_ACKNOWLEDGED, status_code=409
            )
        current.acknowledged_by = actor
        current.acknowledged_at = timezone.now()
        current.save(update_fields=["acknowledged_by", "acknowledged_at", "updated_at"])
        _audit_write(actor, decision, action=action, entry=current, patient=current.patient)
    return current


__all__ = [
    "VITAL_FIELDS",
    "allergy_record",
    "condition_record",
    "entry_mark_entered_in_error",
    "entry_update",
    "immunization_record",
    "medication_record",
    "require",
    "vitals_acknowledge",
    "vitals_clean",
    "vitals_record",
]
