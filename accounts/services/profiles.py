"""Patient and provider profiles: demographics, the medical record number, contact settings.

Notification preferences are three booleans on `User` (`notify_email`, `notify_sms`,
`notify_in_app`) rather than on a profile: every role receives notifications, and whatever
sends them filters on a column.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import PatientProfile, ProviderProfile, Role, User, mrn_generate
from audit.services import audit_record, audit_record_denied
from telemed.errors import ApplicationError

PATIENT_PROFILE_FIELDS = frozenset(
    {
        "legal_name",
        "date_of_birth",
        "sex",
        "phone",
        "address",
        "emergency_contact_name",
        "emergency_contact_phone",
        "preferred_language",
    }
)
PROVIDER_PROFILE_FIELDS = frozenset(
    {"specialty", "licence_number", "licence_jurisdiction", "bio", "time_zone", "accepting_new_patients"}
)
NOTIFICATION_FIELDS = frozenset({"notify_email", "notify_sms", "notify_in_app"})
# 40 random bits per MRN: a collision is rare, and a retry settles it.
MRN_ATTEMPTS = 5


class ProfileErrorCode:
    NOT_A_PATIENT = "profile_not_a_patient"
    NOT_A_PROVIDER = "profile_not_a_provider"
    FORBIDDEN = "profile_forbidden"
    UNKNOWN_FIELD = "profile_unknown_field"


def _unknown(fields: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ApplicationError(f"Unknown profile field(s): {', '.join(unknown)}.", ProfileErrorCode.UNKNOWN_FIELD)


def _patient_profile_create(*, user: User, fields: dict[str, Any]) -> PatientProfile:
    for _ in range(MRN_ATTEMPTS):
        profile = PatientProfile(user=user, mrn=mrn_generate(), **fields)
        profile.full_clean(exclude=["user", "mrn"])
        try:
            # A savepoint, so that an MRN collision (the unique index) can be retried
            # without dooming the caller's transaction. MRNs of deleted rows are never
            # freed: profiles are PROTECTed and never deleted.
            with transaction.atomic():
                profile.save(force_insert=True)
        except IntegrityError:
            if PatientProfile.objects.filter(user=user).exists():
                raise
            continue
        return profile
    raise RuntimeError("Could not generate a unique medical record number.")


@transaction.atomic
def patient_profile_ensure(*, user: User, **fields: Any) -> PatientProfile:
    """The patient's profile, created (with a fresh MRN) if missing.

    `fields` fill a new profile only; an existing profile is returned unchanged. Raises
    ApplicationError if `user` is not a patient, ValidationError for invalid field values.
    """
    if user.role != Role.PATIENT:
        raise ApplicationError("Only patients have a patient profile.", ProfileErrorCode.NOT_A_PATIENT)
    _unknown(fields, PATIENT_PROFILE_FIELDS)
    # Lock the user row: two first visits at once would both find no profile.
    User.objects.select_for_update().filter(pk=user.pk).first()
    existing = PatientProfile.objects.filter(user=user).first()
    if existing is not None:
        return existing
    fields.setdefault("legal_name", user.full_name)
    return _patient_profile_create(user=user, fields=fields)


def patient_profile_update(
    *,
    actor: User,
    user: User,
    notifications: dict[str, bool] | None = None,
    **fields: Any,
) -> PatientProfile:
    """Change a patient's demographics and notification preferences.

    `actor` is the patient themself or an active clinic admin (anyone else is refused,
    audited as denied). Raises ValidationError for invalid values. Audited
    `accounts.patient_profile.update` with the patient as subject.
    """
    if not (actor.is_active and (actor.pk == user.pk or actor.role == Role.ADMIN)):
        audit_record_denied(
            actor=actor,
            action="accounts.patient_profile.update",
            target_type="accounts.user",
            target_id=user.pk,
            patient=user,
        )
        raise ApplicationError("You may not change this profile.", ProfileErrorCode.FORBIDDEN, status_code=403)
    _unknown(fields, PATIENT_PROFILE_FIELDS)
    _unknown(notifications or {}, NOTIFICATION_FIELDS)
    return _patient_profile_update(actor=actor, user=user, notifications=notifications or {}, fields=fields)


@transaction.atomic(durable=True)
def _patient_profile_update(
    *, actor: User, user: User, notifications: dict[str, bool], fields: dict[str, Any]
) -> PatientProfile:
    profile = patient_profile_ensure(user=user)
    profile = PatientProfile.objects.select_for_update().get(pk=profile.pk)
    changed = [name for name, value in fields.items() if getattr(profile, name) != value]
    for name in changed:
        setattr(profile, name, fields[name])
    if changed:
        profile.updated_at = timezone.now()
        profile.full_clean(exclude=["user", "mrn"])
        profile.save(update_fields=[*changed, "updated_at"])
    changed_prefs = [name for name, value in notifications.items() if getattr(user, name) != bool(value)]
    for name in changed_prefs:
        setattr(user, name, bool(notifications[name]))
    if changed_prefs:
        user.save(update_fields=changed_prefs)
    audit_record(
        actor=actor,
        action="accounts.patient_profile.update",
        target_type="accounts.patientprofile",
        target_id=profile.pk,
        patient=user,
        reason=", ".join(sorted([*changed, *changed_prefs])),
    )
    return profile


@transaction.atomic(durable=True)
def provider_profile_update(
    *,
    actor: User,
    user: User,
    notifications: dict[str, bool] | None = None,
    **fields: Any,
) -> ProviderProfile:
    """Create or change a doctor's or nurse's profile (by themself or a clinic admin).

    Raises ApplicationError if `user` is no provider or `actor` may not, ValidationError for
    invalid values (an unknown time zone). Audited `accounts.provider_profile.update`.
    """
    if user.role not in (Role.DOCTOR, Role.NURSE):
        raise ApplicationError("Only doctors and nurses have a provider profile.", ProfileErrorCode.NOT_A_PROVIDER)
    if not (actor.is_active and (actor.pk == user.pk or actor.role == Role.ADMIN)):
        raise ApplicationError("You may not change this profile.", ProfileErrorCode.FORBIDDEN, status_code=403)
    _unknown(fields, PROVIDER_PROFILE_FIELDS)
    _unknown(notifications or {}, NOTIFICATION_FIELDS)
    User.objects.select_for_update().filter(pk=user.pk).first()
    profile, _ = ProviderProfile.objects.get_or_create(user=user)
    for name, value in fields.items():
        setattr(profile, name, value)
    profile.updated_at = timezone.now()
    profile.full_clean(exclude=["user"])
    profile.save()
    prefs = [name for name, value in (notifications or {}).items() if getattr(user, name) != bool(value)]
    for name in prefs:
        setattr(user, name, bool((notifications or {})[name]))
    if prefs:
        user.save(update_fields=prefs)
    audit_record(
        actor=actor,
        action="accounts.provider_profile.update",
        target_type="accounts.providerprofile",
        target_id=profile.pk,
        reason=", ".join(sorted([*fields, *prefs])),
    )
    return profile


@transaction.atomic(durable=True)
def notifications_update(*, actor: User, user: User, notifications: dict[str, bool]) -> User:
    """A user (themself) chooses their notification channels. Audited `accounts.notifications.update`."""
    if actor.pk != user.pk:
        raise ApplicationError("You may not change these settings.", ProfileErrorCode.FORBIDDEN, status_code=403)
    _unknown(notifications, NOTIFICATION_FIELDS)
    locked = User.objects.select_for_update().get(pk=user.pk)
    changed = [name for name, value in notifications.items() if getattr(locked, name) != bool(value)]
    for name in changed:
        setattr(locked, name, bool(notifications[name]))
        setattr(user, name, bool(notifications[name]))
    if changed:
        locked.save(update_fields=changed)
    audit_record(
        actor=actor,
        action="accounts.notifications.update",
        target_type="accounts.user",
        target_id=user.pk,
        reason=", ".join(sorted(changed)),
    )
    return user
