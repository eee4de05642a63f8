"""Users, roles and care relationships: who is who, and who cares for whom."""

from __future__ import annotations

import datetime as dt
import secrets
import zoneinfo

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class Role(models.TextChoices):
    PATIENT = "patient", "Patient"
    DOCTOR = "doctor", "Doctor"
    NURSE = "nurse", "Nurse"
    ADMIN = "admin", "Clinic admin"


STAFF_ROLES = frozenset({Role.DOCTOR, Role.NURSE, Role.ADMIN})
PROVIDER_ROLES = frozenset({Role.DOCTOR, Role.NURSE})


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        # Email is the login and is unique case-insensitively.
        return self.get(email__iexact=username)

    def _create(self, email: str, password: str | None, **extra) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("role", Role.PATIENT)
        extra.setdefault("is_staff", extra["role"] in STAFF_ROLES and extra["role"] == Role.ADMIN)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.update(role=Role.ADMIN, is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField("email address", max_length=254, unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.PATIENT)
    is_active = models.BooleanField(default=True)
    # Django admin access; only clinic admins get it.
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Set when the user follows the link of the verification email. A patient sees no health
    # data before it is set (accounts.policy).
    email_verified_at = models.DateTimeField(null=True, blank=True)
    # Notification preferences, per channel, for every role (booleans rather than a JSON blob:
    # the notifying code filters on them and the admin edits them as checkboxes).
    notify_email = models.BooleanField("email notifications", default=True)
    notify_sms = models.BooleanField("SMS notifications", default=False)
    notify_in_app = models.BooleanField("in-app notifications", default=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def is_staff_role(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_patient(self) -> bool:
        return self.role == Role.PATIENT


class CareRelationship(models.Model):
    """A provider's standing to see a patient's chart (an appointment or an assignment)."""

    class Kind(models.TextChoices):
        APPOINTMENT = "appointment", "Appointment"
        ASSIGNMENT = "assignment", "Care-team assignment"

    patient = models.ForeignKey(User, on_delete=models.PROTECT, related_name="care_providers")
    provider = models.ForeignKey(User, on_delete=models.PROTECT, related_name="care_patients")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "provider"],
                condition=models.Q(ended_at__isnull=True),
                name="accounts_one_active_care_relationship",
            ),
        ]
        indexes = [models.Index(fields=["provider", "patient"])]

    def __str__(self) -> str:
        return f"{self.provider} cares for {self.patient}"


# --- Profiles -------------------------------------------------------------------------------

# Crockford-style base32 without I, L, O, U: read aloud over the phone without confusion.
MRN_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MRN_PREFIX = "TM-"
MRN_LENGTH = 8


def mrn_generate() -> str:
    """A fresh random medical record number, e.g. TM-7QK2M9XD (40 bits from `secrets`)."""
    return MRN_PREFIX + "".join(secrets.choice(MRN_ALPHABET) for _ in range(MRN_LENGTH))


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError("%(value)s is not a known time zone.", code="invalid_time_zone", params={"value": value})


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    INTERSEX = "intersex", "Intersex"
    UNKNOWN = "unknown", "Unknown / not stated"


class PatientProfile(models.Model):
    """Demographics of a patient. The MRN is generated once and never reused: profiles are
    never deleted (PROTECT from the user, who is deactivated rather than deleted)."""

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="patient_profile")
    mrn = models.CharField("medical record number", max_length=16, unique=True, editable=False)
    legal_name = models.CharField(max_length=200, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=16, choices=Sex.choices, default=Sex.UNKNOWN)
    phone = models.CharField(max_length=32, blank=True)
    address = models.TextField(blank=True)
    emergency_contact_name = models.CharField(max_length=200, blank=True)
    emergency_contact_phone = models.CharField(max_length=32, blank=True)
    preferred_language = models.CharField(max_length=16, default="en")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(mrn__startswith=MRN_PREFIX), name="accounts_patient_mrn_prefix"),
        ]

    def __str__(self) -> str:
        return f"{self.mrn} {self.legal_name or self.user}"


class ProviderProfile(models.Model):
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="provider_profile")
    specialty = models.CharField(max_length=120, blank=True)
    licence_number = models.CharField(max_length=64, blank=True)
    licence_jurisdiction = models.CharField(max_length=120, blank=True)
    bio = models.TextField(blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    accepting_new_patients = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} ({self.specialty or 'provider'})"


# --- Proxy access and break-glass -------------------------------------------------------------


class Scope(models.TextChoices):
    """What a proxy may do for a patient."""

    RECORDS_VIEW = "records.view", "View records"
    APPOINTMENTS_MANAGE = "appointments.manage", "Manage appointments"
    MESSAGING = "messaging", "Message the care team"


def validate_scopes(value) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError("Choose at least one permission.", code="scopes_required")
    unknown = [item for item in value if item not in Scope.values]
    if unknown:
        raise ValidationError(
            "Unknown permission: %(items)s.", code="scope_unknown", params={"items": ", ".join(map(str, unknown))}
        )
    if len(set(value)) != len(value):
        raise ValidationError("A permission is listed twice.", code="scope_duplicate")


class ProxyGrantQuerySet(models.QuerySet["ProxyGrant"]):
    def active(self, at: dt.datetime | None = None) -> ProxyGrantQuerySet:
        at = at or timezone.now()
        return self.filter(revoked_at__isnull=True, starts_at__lte=at, expires_at__gt=at, proxy__is_active=True)


class ProxyGrant(models.Model):
    """`proxy` may act for `patient` within `scopes` from `starts_at` until `expires_at` or revocation."""

    patient = models.ForeignKey(User, on_delete=models.PROTECT, related_name="proxy_grants_given")
    proxy = models.ForeignKey(User, on_delete=models.PROTECT, related_name="proxy_grants_held")
    scopes = models.JSONField(default=list, validators=[validate_scopes])
    relationship = models.CharField(max_length=64, help_text='How the proxy relates to the patient, e.g. "parent".')
    granted_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = ProxyGrantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(patient=models.F("proxy")), name="accounts_proxy_not_self"),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("starts_at")), name="accounts_proxy_expires_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True, revoked_by__isnull=True)
                | models.Q(revoked_at__isnull=False),
                name="accounts_proxy_revoked_by_needs_revoked_at",
            ),
            # One live (unrevoked) grant per pair: a new grant replaces the old one by revoking it.
            models.UniqueConstraint(
                fields=["patient", "proxy"],
                condition=models.Q(revoked_at__isnull=True),
                name="accounts_one_unrevoked_proxy_grant",
            ),
        ]
        indexes = [
            models.Index(fields=["proxy", "patient"], name="accounts_proxy_holder_idx"),
            models.Index(fields=["patient", "proxy"], name="accounts_proxy_patient_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.proxy} acts for {self.patient} ({self.relationship})"

    def covers(self, scope: str | None) -> bool:
        return scope is not None and scope in self.scopes

    def is_active(self, at: dt.datetime | None = None) -> bool:
        at = at or timezone.now()
        return self.revoked_at is None and self.starts_at <= at < self.expires_at


BREAKGLASS_DURATION = dt.timedelta(minutes=60)
BREAKGLASS_REASON_MIN_LENGTH = 10


class BreakGlassAccessQuerySet(models.QuerySet["BreakGlassAccess"]):
    def open(self, at: dt.datetime | None = None) -> BreakGlassAccessQuerySet:
        at = at or timezone.now()
        return self.filter(opened_at__lte=at, expires_at__gt=at)

    def unreviewed(self) -> BreakGlassAccessQuerySet:
        return self.filter(reviewed_at__isnull=True)


class BreakGlassAccess(models.Model):
    """A clinician's emergency access to a chart outside any care relationship: 60 minutes,
    a reason, every access audited with breakglass=true, reviewed afterwards by an admin."""

    clinician = models.ForeignKey(User, on_delete=models.PROTECT, related_name="breakglass_accesses")
    patient = models.ForeignKey(User, on_delete=models.PROTECT, related_name="breakglass_openings")
    reason = models.TextField()
    opened_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    review_note = models.TextField(blank=True)

    objects = BreakGlassAccessQuerySet.as_manager()

    class Meta:
        verbose_name = "break-glass access"
        verbose_name_plural = "break-glass accesses"
        constraints = [
            models.CheckConstraint(condition=~models.Q(reason=""), name="accounts_breakglass_reason_required"),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("opened_at")), name="accounts_breakglass_expires_after_open"
            ),
            models.CheckConstraint(
                condition=models.Q(reviewed_at__isnull=True, reviewed_by__isnull=True)
                | models.Q(reviewed_at__isnull=False, reviewed_by__isnull=False),
                name="accounts_breakglass_review_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["clinician", "patient", "expires_at"], name="accounts_breakglass_open_idx"),
            models.Index(fields=["reviewed_at", "opened_at"], name="accounts_breakglass_queue_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.clinician} broke the glass for {self.patient} at {self.opened_at:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        if len(self.reason.strip()) < BREAKGLASS_REASON_MIN_LENGTH:
            raise ValidationError(
                {"reason": f"Give a reason of at least {BREAKGLASS_REASON_MIN_LENGTH} characters."},
                code="reason_too_short",
            )
