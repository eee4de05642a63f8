"""Writes of the accounts app. Issue-sized pieces (registration, MFA, invitations) live here."""

from __future__ import annotations

from django.db import transaction

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
