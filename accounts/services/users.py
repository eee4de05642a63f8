"""Writes of the accounts app. Issue-sized pieces (registration, MFA, invitations) live here."""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.db import transaction
from django.utils import timezone

from accounts.models import CareRelationship, User


@transaction.atomic
def care_relationship_start(*, patient: User, provider: User, kind: str) -> CareRelationship:
    """Start (or return the already active) care relationship between a patient and a provider."""
    existing = (
        CareRelationship.objects.select_for_update()
        .filter(patient=patient, provider=provider, ended_at__isnull=True)
        .first()
    )
    if existing is not None:
        return existing
    return CareRelationship.objects.create(patient=patient, provider=provider, kind=kind)


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str,
    role: str,
    full_name: str,
    is_staff: bool = False,
    is_superuser: bool = False,
) -> User:
    """Create a user whose password passes the configured validators.

    Raises ValidationError for an invalid email, role or password, or an email already taken
    (case-insensitively).
    """
    user = User(
        email=User.objects.normalize_email(email).lower(),
        role=role,
        full_name=full_name,
        is_staff=is_staff,
        is_superuser=is_superuser,
    )
    password_validation.validate_password(password, user)
    user.set_password(password)
    user.full_clean()
    user.save()
    return user


@transaction.atomic
def user_ensure(
    *,
    email: str,
    password: str,
    role: str,
    full_name: str,
    is_staff: bool = False,
    is_superuser: bool = False,
    reset_password: bool = False,
    email_verified: bool = False,
) -> tuple[User, bool]:
    """Make the user with this email look as described; return it and whether it was created.

    An existing user is saved only when a field differs, so running this again with the same
    arguments writes nothing. Its password is left alone unless `reset_password`: checking a
    password costs a full hasher run, and a user who changed it may mean to keep it.
    """
    # Locked so that two concurrent callers cannot both decide the user is missing.
    user = User.objects.select_for_update().filter(email__iexact=email).first()
    if user is None:
        created = user_create(
            email=email,
            password=password,
            role=role,
            full_name=full_name,
            is_staff=is_staff,
            is_superuser=is_superuser,
        )
        if email_verified:
            created.email_verified_at = timezone.now()
            created.save(update_fields=["email_verified_at"])
        return created, True

    wanted = {
        "role": role,
        "full_name": full_name,
        "is_staff": is_staff,
        "is_superuser": is_superuser,
        "is_active": True,
    }
    changed = [field for field, value in wanted.items() if getattr(user, field) != value]
    for field in changed:
        setattr(user, field, wanted[field])
    if email_verified and user.email_verified_at is None:
        user.email_verified_at = timezone.now()
        changed.append("email_verified_at")
    if reset_password and not user.check_password(password):
        password_validation.validate_password(password, user)
        user.set_password(password)
        changed.append("password")
    if changed:
        user.full_clean()
        user.save(update_fields=changed)
    return user, False
