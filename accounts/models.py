"""Users, roles and care relationships: who is who, and who cares for whom."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
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
