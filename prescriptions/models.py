"""Models of the prescriptions app.

`PrescriberKey`: a doctor's Ed25519 signing key. The private key is encrypted at rest
(EncryptedTextField, telemed.crypto); the public key and its fingerprint are public (shown on
the prescriber's profile, used by anyone verifying a prescription). Rotation retires the
active key and makes a new one; retired keys are kept for ever, so prescriptions signed with
them still verify. At most one active key per prescriber (a partial unique constraint).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from telemed.crypto.fields import EncryptedTextField


class PrescriberKey(models.Model):
    prescriber = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Raw 32-byte Ed25519 public key, hex.
    public_key = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=32, unique=True)
    # Raw 32-byte private key, base64, encrypted before it reaches the database.
    private_key = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["prescriber"], condition=Q(retired_at__isnull=True), name="prescriptions_one_active_key"
            ),
        ]

    def __str__(self) -> str:
        return f"Key {self.fingerprint} of user #{self.prescriber_id}"

    @property
    def active(self) -> bool:
        return self.retired_at is None


# --- Prescriptions ---------------------------------------------------------------------------

# Crockford's base32 without I, L, O, U: nothing to misread on paper or over the phone.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _code(length: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def new_public_id() -> str:
    """12 characters (60 bits): the id printed on the paper and in the verify URL."""
    return _code(12)


def new_check_code() -> str:
    """10 characters (50 bits) in the QR code's URL: without it the verify page tells nothing."""
    return _code(10)


def new_dispense_code() -> str:
    """8 characters printed on the paper (not in the QR code): records a dispense."""
    return _code(8)


class PrescriptionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SIGNED = "signed", "Signed"
    CANCELLED = "cancelled", "Cancelled"
    SUPERSEDED = "superseded", "Superseded"


class Route(models.TextChoices):
    # What a community pharmacy dispenses for (no intravenous: that is given in a clinic).
    ORAL = "oral", "By mouth"
    SUBLINGUAL = "sublingual", "Under the tongue"
    TOPICAL = "topical", "On the skin"
    INHALED = "inhaled", "Inhaled"
    NASAL = "nasal", "In the nose"
    EYE = "eye", "In the eye"
    EAR = "ear", "In the ear"
    INJECTION = "injection", "Injection"
    RECTAL = "rectal", "Rectal"
    VAGINAL = "vaginal", "Vaginal"


class DosageForm(models.TextChoices):
    TABLET = "tablet", "Tablet"
    CAPSULE = "capsule", "Capsule"
    ORAL_SOLUTION = "oral_solution", "Oral solution"
    SUSPENSION = "suspension", "Suspension"
    INHALER = "inhaler", "Inhaler"
    CREAM = "cream", "Cream"
    OINTMENT = "ointment", "Ointment"
    DROPS = "drops", "Drops"
    PATCH = "patch", "Patch"
    INJECTION = "injection", "Injection"
    SUPPOSITORY = "suppository", "Suppository"
    OTHER = "other", "Other"


class Prescription(models.Model):
    """A prescription: a draft its author edits, then signed content that never changes.

    What is signed (prescriptions.document.signed_document) comes from the columns below and
    the items: identity snapshots taken at signing (so a later change of name or licence does
    not break old signatures), dates, the items. Lifecycle columns (status, cancellation,
    supersession) are outside the signature; on PostgreSQL a trigger refuses any UPDATE of
    signed content and any change to a signed prescription's items (migration 0002).
    """

    public_id = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    prescriber = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(
        "appointments.Appointment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    status = models.CharField(max_length=16, choices=PrescriptionStatus.choices, default=PrescriptionStatus.DRAFT)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # How long the signed prescription may be dispensed, in days from signing.
    valid_days = models.PositiveSmallIntegerField(default=180)

    # --- signed content (set once, at signing) ---
    signed_at = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)
    clinic_name = models.CharField(max_length=200, blank=True)
    patient_name = models.CharField(max_length=200, blank=True)
    patient_birth_date = models.DateField(null=True, blank=True)
    patient_mrn = models.CharField(max_length=16, blank=True)
    prescriber_name = models.CharField(max_length=200, blank=True)
    prescriber_licence = models.CharField(max_length=64, blank=True)
    prescriber_jurisdiction = models.CharField(max_length=120, blank=True)
    signing_key = models.ForeignKey(PrescriberKey, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Ed25519 signature over the canonical document, hex (128 digits).
    signature = models.CharField(max_length=128, blank=True)

    # --- codes on the paper (encrypted: they open the verify page and record dispenses) ---
    check_code = EncryptedTextField(default=new_check_code)
    dispense_code = EncryptedTextField(default=new_dispense_code)

    # --- lifecycle after signing ---
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancel_reason = EncryptedTextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["patient", "status"], name="rx_patient_status"),
            models.Index(fields=["prescriber", "status"], name="rx_prescriber_status"),
        ]
        constraints = [
            # Signed content has its dates; a draft, or a draft cancelled before it was ever
            # signed, has none.
            models.CheckConstraint(
                condition=Q(status="draft")
                | Q(status="cancelled", signed_at__isnull=True)
                | Q(signed_at__isnull=False, valid_until__isnull=False),
                name="rx_signed_has_dates",
            ),
            models.CheckConstraint(condition=Q(valid_days__gte=1, valid_days__lte=366), name="rx_valid_days_range"),
        ]

    def __str__(self) -> str:
        return f"Prescription {self.public_id}"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class PrescriptionItem(models.Model):
    prescription = models.ForeignKey(Prescription, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField()
    medication = EncryptedTextField()
    strength = EncryptedTextField(blank=True)
    form = models.CharField(max_length=16, choices=DosageForm.choices, default=DosageForm.TABLET)
    dose = EncryptedTextField()
    route = models.CharField(max_length=16, choices=Route.choices, default=Route.ORAL)
    frequency = EncryptedTextField()
    duration = EncryptedTextField(blank=True)
    quantity = models.PositiveIntegerField()
    quantity_unit = models.CharField(max_length=32, default="tablets")
    refills = models.PositiveSmallIntegerField(default=0)
    substitution_allowed = models.BooleanField(default=True)
    instructions = EncryptedTextField(blank=True)

    class Meta:
        ordering = ["prescription", "position"]
        constraints = [
            models.UniqueConstraint(fields=["prescription", "position"], name="rx_item_position_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=1, quantity__lte=10000), name="rx_item_quantity_range"),
            models.CheckConstraint(condition=Q(refills__lte=12), name="rx_item_refills_max"),
        ]

    def __str__(self) -> str:
        return f"Item {self.position} of prescription #{self.prescription_id}"

    @property
    def total_allowed(self) -> int:
        """What may be dispensed in all: the quantity, once plus once per refill."""
        return self.quantity * (self.refills + 1)


class WarningKind(models.TextChoices):
    ALLERGY = "allergy", "Allergy"
    INTERACTION = "interaction", "Interaction"
    DUPLICATE = "duplicate", "Duplicate therapy"


class WarningSeverity(models.TextChoices):
    CAUTION = "caution", "Caution"
    SERIOUS = "serious", "Serious"
    CONTRAINDICATED = "contraindicated", "Contraindicated"


class PrescriptionWarning(models.Model):
    """A safety warning the prescriber saw at signing and overrode, with their reason."""

    prescription = models.ForeignKey(Prescription, on_delete=models.CASCADE, related_name="warnings")
    item_position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=16, choices=WarningKind.choices)
    severity = models.CharField(max_length=16, choices=WarningSeverity.choices)
    message = EncryptedTextField()
    override_reason = EncryptedTextField()
    overridden_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    overridden_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["prescription", "item_position", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} warning on prescription #{self.prescription_id}"


class Dispense(models.Model):
    """A pharmacy handing over some of an item: never edited, never deleted."""

    prescription = models.ForeignKey(Prescription, on_delete=models.PROTECT, related_name="dispenses")
    item = models.ForeignKey(PrescriptionItem, on_delete=models.PROTECT, related_name="dispenses")
    quantity = models.PositiveIntegerField()
    pharmacy = models.CharField(max_length=200)
    pharmacist = models.CharField(max_length=200)
    # The signed-in user who recorded it, when it was not recorded with the paper's code.
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dispensed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["dispensed_at", "pk"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gte=1), name="rx_dispense_quantity_positive")]

    def __str__(self) -> str:
        return f"Dispense #{self.pk} of prescription #{self.prescription_id}"


class RefillStatus(models.TextChoices):
    OPEN = "open", "Waiting for the prescriber"
    APPROVED = "approved", "Approved"
    DECLINED = "declined", "Declined"


class RefillRequest(models.Model):
    prescription = models.ForeignKey(Prescription, on_delete=models.PROTECT, related_name="refill_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = EncryptedTextField(blank=True)
    status = models.CharField(max_length=16, choices=RefillStatus.choices, default=RefillStatus.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decline_reason = EncryptedTextField(blank=True)
    new_prescription = models.OneToOneField(
        Prescription, null=True, blank=True, on_delete=models.PROTECT, related_name="refill_source"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # The race two refill requests at once would lose: one open request per prescription.
            models.UniqueConstraint(
                fields=["prescription"], condition=Q(status="open"), name="rx_one_open_refill_request"
            ),
        ]

    def __str__(self) -> str:
        return f"Refill request #{self.pk} for prescription #{self.prescription_id}"
