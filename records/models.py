"""The chart: allergies, problems, medications, immunizations, vitals, clinical notes, documents.

Every entry names its patient, who recorded it and when, and its source (a clinician, or the
patient reporting it). Free text is an `EncryptedTextField` (AES-256-GCM, see
telemed.crypto); document bytes are encrypted by `records.services.documents` before they
reach the storage backend, under a generated key that holds no user-supplied text.

Entries are never deleted: a mistake is marked "entered in error" (kept, hidden from the
summary), a signed note is only amended. Reads and writes go through `records.selectors` and
`records.services`, which check `accounts.policy` and write the audit trail.
"""

from __future__ import annotations

import decimal
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from telemed.crypto.fields import EncryptedTextField


class Source(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    PATIENT = "patient", "Patient-reported"


class ChartEntry(models.Model):
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.CLINICIAN)

    class Meta:
        abstract = True


# --- Allergies -------------------------------------------------------------------------------


class Severity(models.TextChoices):
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"
    UNKNOWN = "unknown", "Unknown"


class AllergyStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    RESOLVED = "resolved", "Resolved"
    ENTERED_IN_ERROR = "entered_in_error", "Entered in error"


class Allergy(ChartEntry):
    substance = EncryptedTextField()
    reaction = EncryptedTextField(blank=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.UNKNOWN)
    status = models.CharField(max_length=20, choices=AllergyStatus.choices, default=AllergyStatus.ACTIVE)
    noted_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        indexes = [models.Index(fields=["patient", "status"], name="records_allergy_patient")]
        verbose_name_plural = "allergies"

    def __str__(self) -> str:
        return f"Allergy #{self.pk}"


# --- Problem list ----------------------------------------------------------------------------


class ConditionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    RESOLVED = "resolved", "Resolved"
    ENTERED_IN_ERROR = "entered_in_error", "Entered in error"


class Condition(ChartEntry):
    description = EncryptedTextField()
    # An optional ICD-10 or SNOMED CT code; encrypted too, a code names the diagnosis.
    code = EncryptedTextField(blank=True)
    onset_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=ConditionStatus.choices, default=ConditionStatus.ACTIVE)

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        indexes = [models.Index(fields=["patient", "status"], name="records_condition_patient")]

    def __str__(self) -> str:
        return f"Condition #{self.pk}"


# --- Medications -----------------------------------------------------------------------------


class Route(models.TextChoices):
    ORAL = "oral", "By mouth"
    SUBLINGUAL = "sublingual", "Under the tongue"
    TOPICAL = "topical", "On the skin"
    INHALED = "inhaled", "Inhaled"
    NASAL = "nasal", "In the nose"
    EYE = "eye", "In the eye"
    INJECTION = "injection", "Injection"
    INTRAVENOUS = "intravenous", "Intravenous"
    RECTAL = "rectal", "Rectal"
    OTHER = "other", "Other"


class MedicationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    STOPPED = "stopped", "Stopped"
    COMPLETED = "completed", "Completed"
    ENTERED_IN_ERROR = "entered_in_error", "Entered in error"


class Medication(ChartEntry):
    name = EncryptedTextField()
    dose = EncryptedTextField(blank=True)
    route = models.CharField(max_length=16, choices=Route.choices, default=Route.ORAL)
    frequency = EncryptedTextField(blank=True)
    started_on = models.DateField(null=True, blank=True)
    stopped_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=MedicationStatus.choices, default=MedicationStatus.ACTIVE)

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        indexes = [models.Index(fields=["patient", "status"], name="records_medication_patient")]
        constraints = [
            models.CheckConstraint(
                condition=Q(stopped_on__isnull=True)
                | Q(started_on__isnull=True)
                | Q(stopped_on__gte=models.F("started_on")),
                name="records_medication_dates",
            )
        ]

    def __str__(self) -> str:
        return f"Medication #{self.pk}"


# --- Immunizations ---------------------------------------------------------------------------


class ImmunizationStatus(models.TextChoices):
    COMPLETED = "completed", "Completed"
    ENTERED_IN_ERROR = "entered_in_error", "Entered in error"


class Immunization(ChartEntry):
    vaccine = EncryptedTextField()
    administered_on = models.DateField()
    dose_number = models.PositiveSmallIntegerField(null=True, blank=True)
    lot_number = EncryptedTextField(blank=True)
    notes = EncryptedTextField(blank=True)
    status = models.CharField(max_length=20, choices=ImmunizationStatus.choices, default=ImmunizationStatus.COMPLETED)

    class Meta:
        ordering = ["-administered_on", "-pk"]
        indexes = [models.Index(fields=["patient", "status"], name="records_immunization_patient")]

    def __str__(self) -> str:
        return f"Immunization #{self.pk}"


# --- Vitals ----------------------------------------------------------------------------------

# What a human body can show and a device can measure: outside these a value is a typo or a
# unit mix-up (pounds for kilograms, Fahrenheit for Celsius), refused with a clear message.
# (field, label, unit, low, high). The check constraints below repeat them for the database.
VITAL_RANGES: tuple[tuple[str, str, str, decimal.Decimal, decimal.Decimal], ...] = (
    ("systolic_mmhg", "Systolic blood pressure", "mmHg", decimal.Decimal(50), decimal.Decimal(300)),
    ("diastolic_mmhg", "Diastolic blood pressure", "mmHg", decimal.Decimal(20), decimal.Decimal(200)),
    ("heart_rate_bpm", "Heart rate", "beats/min", decimal.Decimal(20), decimal.Decimal(250)),
    ("temperature_c", "Temperature", "°C", decimal.Decimal(30), decimal.Decimal(45)),
    ("respiratory_rate", "Respiratory rate", "breaths/min", decimal.Decimal(4), decimal.Decimal(80)),
    ("spo2_pct", "Oxygen saturation (SpO2)", "%", decimal.Decimal(50), decimal.Decimal(100)),
    ("weight_kg", "Weight", "kg", decimal.Decimal("0.5"), decimal.Decimal(500)),
    ("height_cm", "Height", "cm", decimal.Decimal(30), decimal.Decimal(250)),
)
VITAL_FIELDS = tuple(name for name, *_ in VITAL_RANGES)


def _vital_range_constraints() -> list[models.CheckConstraint]:
    return [
        models.CheckConstraint(
            condition=Q(**{f"{name}__isnull": True}) | Q(**{f"{name}__gte": low, f"{name}__lte": high}),
            name=f"records_vitals_{name}_range",
        )
        for name, _label, _unit, low, high in VITAL_RANGES
    ]


class VitalSigns(ChartEntry):
    """One set of measurements taken together (a visit's vitals, or a home reading)."""

    measured_at = models.DateTimeField()
    systolic_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    diastolic_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    heart_rate_bpm = models.PositiveSmallIntegerField(null=True, blank=True)
    temperature_c = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    respiratory_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    spo2_pct = models.PositiveSmallIntegerField(null=True, blank=True)
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    height_cm = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    note = EncryptedTextField(blank=True)
    # A patient's home reading waits for a clinician to acknowledge it.
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    entered_in_error = models.BooleanField(default=False)

    class Meta:
        ordering = ["-measured_at", "-pk"]
        verbose_name = "vital signs"
        verbose_name_plural = "vital signs"
        indexes = [models.Index(fields=["patient", "measured_at"], name="records_vitals_patient")]
        constraints = [
            *_vital_range_constraints(),
            models.CheckConstraint(
                condition=Q(systolic_mmhg__isnull=True, diastolic_mmhg__isnull=True)
                | Q(
                    systolic_mmhg__isnull=False,
                    diastolic_mmhg__isnull=False,
                    systolic_mmhg__gt=models.F("diastolic_mmhg"),
                ),
                name="records_vitals_blood_pressure_pair",
            ),
            models.CheckConstraint(
                condition=~Q(
                    systolic_mmhg__isnull=True,
                    heart_rate_bpm__isnull=True,
                    temperature_c__isnull=True,
                    respiratory_rate__isnull=True,
                    spo2_pct__isnull=True,
                    weight_kg__isnull=True,
                    height_cm__isnull=True,
                ),
                name="records_vitals_not_empty",
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True, acknowledged_by__isnull=True)
                | Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False),
                name="records_vitals_acknowledged_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"Vital signs #{self.pk}"

    @property
    def bmi(self) -> decimal.Decimal | None:
        """Body-mass index (kg/m²) to one decimal, when weight and height are both in this set."""
        if self.weight_kg is None or self.height_cm is None:
            return None
        metres = decimal.Decimal(self.height_cm) / 100
        return (decimal.Decimal(self.weight_kg) / (metres * metres)).quantize(decimal.Decimal("0.1"))

    @property
    def needs_acknowledgement(self) -> bool:
        return self.source == Source.PATIENT and self.acknowledged_at is None and not self.entered_in_error


# --- Clinical notes --------------------------------------------------------------------------


class NoteStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SIGNED = "signed", "Signed"


class ClinicalNote(models.Model):
    """A SOAP note: written as a draft, then signed — locked, attributed, timestamped.

    After signing only amendments (NoteAmendment) are added; the signed text never changes
    (the services refuse it, and `content_sha256` taken at signing shows any change made
    behind their back).
    """

    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(
        "appointments.Appointment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status = models.CharField(max_length=8, choices=NoteStatus.choices, default=NoteStatus.DRAFT)
    subjective = EncryptedTextField(blank=True)
    objective = EncryptedTextField(blank=True)
    assessment = EncryptedTextField(blank=True)
    plan = EncryptedTextField(blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    content_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["patient", "status", "signed_at"], name="records_note_patient")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="draft", signed_at__isnull=True, signed_by__isnull=True)
                | Q(status="signed", signed_at__isnull=False, signed_by__isnull=False),
                name="records_note_signature_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"Note #{self.pk}"

    @property
    def is_signed(self) -> bool:
        return self.status == NoteStatus.SIGNED


class NoteAmendment(models.Model):
    """An addition to a signed note, itself signed by its author when written; never changed."""

    note = models.ForeignKey(ClinicalNote, on_delete=models.PROTECT, related_name="amendments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    reason = EncryptedTextField()
    text = EncryptedTextField()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Amendment #{self.pk} of note #{self.note_id}"


# --- Documents -------------------------------------------------------------------------------


class DocumentCategory(models.TextChoices):
    LAB_RESULT = "lab_result", "Lab result"
    IMAGING = "imaging", "Imaging"
    LETTER = "letter", "Letter"
    REFERRAL = "referral", "Referral"
    PHOTO = "photo", "Photo"
    OTHER = "other", "Other"


class ScanStatus(models.TextChoices):
    NOT_SCANNED = "not_scanned", "Not scanned"
    CLEAN = "clean", "No threat found"


class DocumentStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    # The stored bytes no longer match the SHA-256 taken at upload: downloads refused.
    INTEGRITY_FAILED = "integrity_failed", "Integrity check failed"
    ENTERED_IN_ERROR = "entered_in_error", "Entered in error"


class Document(ChartEntry):
    """A file in the chart. The object at `storage_key` holds the encrypted bytes.

    The row is created only after the object is completely written (see
    `records.services.documents.document_upload`); an object without a row is an orphan
    that `documents_sweep_orphans` removes.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = EncryptedTextField()
    # The name the file came with, cleaned of any path; shown and used for downloads only.
    filename = EncryptedTextField()
    category = models.CharField(max_length=16, choices=DocumentCategory.choices, default=DocumentCategory.OTHER)
    content_type = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    storage_key = models.CharField(max_length=200, unique=True)
    key_id = models.CharField(max_length=16)
    scan_status = models.CharField(max_length=16, choices=ScanStatus.choices, default=ScanStatus.NOT_SCANNED)
    scanned_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=DocumentStatus.choices, default=DocumentStatus.AVAILABLE)
    integrity_failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        indexes = [models.Index(fields=["patient", "status"], name="records_document_patient")]

    def __str__(self) -> str:
        return f"Document {self.public_id}"
