"""Standing to see a chart: care-team assignments, break-glass access, proxy grants.

Every function here is audited. Refusals are audited as denied outside any transaction and
raised as ApplicationError (403 for "you may not", 400 for bad input, 409 for a conflict).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from accounts.models import (
    BREAKGLASS_DURATION,
    BREAKGLASS_REASON_MIN_LENGTH,
    BreakGlassAccess,
    CareRelationship,
    ProxyGrant,
    Role,
    User,
    validate_scopes,
)
from accounts.policy import otp_verified
from accounts.selectors import admin_emails, proxy_grant_active_for
from accounts.services.users import care_relationship_start
from audit.services import audit_record, audit_record_denied
from telemed.errors import ApplicationError, ConflictError
from telemed.events import on_commit

PROXY_MAX_DURATION = dt.timedelta(days=366 * 18)


class AccessErrorCode:
    FORBIDDEN = "access_forbidden"
    NOT_A_PATIENT = "access_not_a_patient"
    NOT_A_PROVIDER = "access_not_a_provider"
    REASON_TOO_SHORT = "breakglass_reason_too_short"
    NOTE_REQUIRED = "breakglass_note_required"
    ALREADY_REVIEWED = "breakglass_already_reviewed"
    PROXY_UNKNOWN = "proxy_unknown_user"
    PROXY_SELF = "proxy_self"
    PROXY_INVALID = "proxy_invalid"
    PROXY_REVOKED = "proxy_already_revoked"
    RELATIONSHIP_ENDED = "care_relationship_ended"


def _is_admin(user: User) -> bool:
    return bool(user.is_active and user.role == Role.ADMIN and user.is_staff)


def _refuse(*, actor: User, action: str, target_type: str, target_id: object, patient: User | None, reason: str):
    audit_record_denied(
        actor=actor, action=action, target_type=target_type, target_id=str(target_id), patient=patient, reason=reason
    )
    return ApplicationError(reason, AccessErrorCode.FORBIDDEN, status_code=403)


# --- Care teams -----------------------------------------------------------------------------


def care_team_assign(*, actor: User, patient: User, provider: User) -> CareRelationship:
    """An admin puts a doctor or nurse on a patient's care team (an "assignment" relationship).

    Returns the active relationship (the existing one if there is one). Audited
    `accounts.care_relationship.assign`.
    """
    action = "accounts.care_relationship.assign"
    if not _is_admin(actor):
        raise _refuse(
            actor=actor,
            action=action,
            target_type="accounts.user",
            target_id=patient.pk,
            patient=patient,
            reason="Only a clinic admin can assign care teams.",
        )
    if patient.role != Role.PATIENT or not patient.is_active:
        raise ApplicationError("Choose an active patient.", AccessErrorCode.NOT_A_PATIENT)
    if provider.role not in (Role.DOCTOR, Role.NURSE) or not provider.is_active:
        raise ApplicationError("Choose an active doctor or nurse.", AccessErrorCode.NOT_A_PROVIDER)
    return _care_team_assign(actor=actor, patient=patient, provider=provider)


@transaction.atomic(durable=True)
def _care_team_assign(*, actor: User, patient: User, provider: User) -> CareRelationship:
    relationship = care_relationship_start(patient=patient, provider=provider, kind=CareRelationship.Kind.ASSIGNMENT)
    audit_record(
        actor=actor,
        action="accounts.care_relationship.assign",
        target_type="accounts.carerelationship",
        target_id=relationship.pk,
        patient=patient,
        reason=f"{provider} ({provider.role})",
    )
    return relationship


def care_relationship_end(*, actor: User, relationship: CareRelationship) -> CareRelationship:
    """An admin ends a care relationship; the provider loses access at once.

    Audited `accounts.care_relationship.end`. Raises ConflictError if it already ended.
    """
    action = "accounts.care_relationship.end"
    if not _is_admin(actor):
        raise _refuse(
            actor=actor,
            action=action,
            target_type="accounts.carerelationship",
            target_id=relationship.pk,
            patient=relationship.patient,
            reason="Only a clinic admin can end a care relationship.",
        )
    with transaction.atomic(durable=True):
        locked = CareRelationship.objects.select_for_update().select_related("patient").get(pk=relationship.pk)
        if locked.ended_at is not None:
            raise ConflictError("This care relationship has already ended.", AccessErrorCode.RELATIONSHIP_ENDED)
        locked.ended_at = timezone.now()
        locked.save(update_fields=["ended_at"])
        audit_record(
            actor=actor,
            action=action,
            target_type="accounts.carerelationship",
            target_id=locked.pk,
            patient=locked.patient,
        )
    return locked


# --- Break-glass ----------------------------------------------------------------------------


def _notify_admins(access: BreakGlassAccess, recipients: Iterable[str]) -> None:
    recipients = list(recipients)
    if not recipients:
        return
    url = settings.SITE_URL.rstrip("/") + reverse("accounts:breakglass_review")
    send_mail(
        subject=f"Break-glass access to a chart by {access.clinician}",
        message=(
            f"{access.clinician} ({access.clinician.role}) opened the chart of patient #{access.patient_id} "
            f"in an emergency at {access.opened_at:%Y-%m-%d %H:%M} UTC, until {access.expires_at:%H:%M} UTC.\n\n"
            f"Reason given: {access.reason}\n\nReview it: {url}\n"
        ),
        from_email=None,
        recipient_list=recipients,
        fail_silently=False,
    )


def breakglass_open(*, actor: User, patient: User, reason: str) -> BreakGlassAccess:
    """A doctor or nurse (OTP-verified) opens a patient's chart in an emergency for 60 minutes.

    Requires a reason of at least 10 characters. An access still open for the same pair is
    returned as is. Audited `accounts.breakglass.open` with breakglass=true; every active admin
    is emailed after commit and the access waits in the review queue.
    """
    action = "accounts.breakglass.open"
    reason = (reason or "").strip()
    if actor.role not in (Role.DOCTOR, Role.NURSE) or not actor.is_active or not otp_verified(actor):
        raise _refuse(
            actor=actor,
            action=action,
            target_type="accounts.user",
            target_id=patient.pk,
            patient=patient,
            reason="Only a doctor or nurse with a verified sign-in can open emergency access.",
        )
    if len(reason) < BREAKGLASS_REASON_MIN_LENGTH:
        raise ApplicationError(
            f"Give the reason for emergency access (at least {BREAKGLASS_REASON_MIN_LENGTH} characters).",
            AccessErrorCode.REASON_TOO_SHORT,
        )
    if patient.role != Role.PATIENT or not patient.is_active:
        raise ApplicationError("Choose an active patient.", AccessErrorCode.NOT_A_PATIENT)
    return _breakglass_open(actor=actor, patient=patient, reason=reason)


@transaction.atomic(durable=True)
def _breakglass_open(*, actor: User, patient: User, reason: str) -> BreakGlassAccess:
    # The race this lock closes: a double-submitted form opening two accesses at once.
    User.objects.select_for_update().filter(pk=actor.pk).first()
    now = timezone.now()
    existing = BreakGlassAccess.objects.open(now).filter(clinician=actor, patient=patient).order_by("-pk").first()
    if existing is not None:
        return existing
    access = BreakGlassAccess(
        clinician=actor, patient=patient, reason=reason, opened_at=now, expires_at=now + BREAKGLASS_DURATION
    )
    access.full_clean()
    access.save()
    audit_record(
        actor=actor,
        action="accounts.breakglass.open",
        target_type="accounts.breakglassaccess",
        target_id=access.pk,
        patient=patient,
        reason=reason,
        breakglass=True,
    )
    recipients = admin_emails()
    on_commit(lambda: _notify_admins(access, recipients))
    return access


def breakglass_review(*, actor: User, access: BreakGlassAccess, note: str) -> BreakGlassAccess:
    """An admin marks a break-glass access reviewed, with a note. Audited
    `accounts.breakglass.review`. Raises ConflictError if someone reviewed it first."""
    action = "accounts.breakglass.review"
    note = (note or "").strip()
    if not _is_admin(actor):
        raise _refuse(
            actor=actor,
            action=action,
            target_type="accounts.breakglassaccess",
            target_id=access.pk,
            patient=access.patient,
            reason="Only a clinic admin can review emergency access.",
        )
    if not note:
        raise ApplicationError("Write a review note.", AccessErrorCode.NOTE_REQUIRED)
    with transaction.atomic(durable=True):
        # The race this lock closes: two admins reviewing the same access at once.
        locked = BreakGlassAccess.objects.select_for_update().select_related("patient").get(pk=access.pk)
        if locked.reviewed_at is not None:
            raise ConflictError("Someone has already reviewed this access.", AccessErrorCode.ALREADY_REVIEWED)
        locked.reviewed_at = timezone.now()
        locked.reviewed_by = actor
        locked.review_note = note
        locked.full_clean()
        locked.save(update_fields=["reviewed_at", "reviewed_by", "review_note"])
        audit_record(
            actor=actor,
            action=action,
            target_type="accounts.breakglassaccess",
            target_id=locked.pk,
            patient=locked.patient,
            reason=note,
        )
    return locked


# --- Proxy access ---------------------------------------------------------------------------


def proxy_grant(
    *,
    actor: User,
    patient: User,
    proxy_email: str,
    scopes: list[str],
    expires_at: dt.datetime,
    relationship: str,
) -> ProxyGrant:
    """Let the active user with `proxy_email` act for `patient` within `scopes` until `expires_at`.

    `actor` is the patient themself (with a verified email) or a clinic admin (for a minor or a
    dependent). A grant still unrevoked for the same pair is revoked and replaced. Raises
    ApplicationError for an unknown proxy, oneself, bad scopes, a past expiry or a refused
    actor. Audited `accounts.proxy.grant`.
    """
    action = "accounts.proxy.grant"
    is_self = actor.pk == patient.pk and actor.is_active and actor.email_verified_at is not None
    if not (is_self or _is_admin(actor)) or patient.role != Role.PATIENT:
        raise _refuse(
            actor=actor,
            action=action,
            target_type="accounts.user",
            target_id=patient.pk,
            patient=patient,
            reason="You may not grant access to this patient's account.",
        )
    proxy = User.objects.filter(email__iexact=(proxy_email or "").strip(), is_active=True).first()
    if proxy is None:
        raise ApplicationError(
            "There is no active account with that email address. Ask them to register first.",
            AccessErrorCode.PROXY_UNKNOWN,
        )
    if proxy.pk == patient.pk:
        raise ApplicationError("You cannot grant access to yourself.", AccessErrorCode.PROXY_SELF)
    relationship = (relationship or "").strip()
    if not relationship:
        raise ApplicationError('Say how they relate to the patient (e.g. "parent").', AccessErrorCode.PROXY_INVALID)
    scopes = list(dict.fromkeys(scopes or []))
    try:
        validate_scopes(scopes)
    except ValidationError as error:
        raise ApplicationError(error.messages[0], AccessErrorCode.PROXY_INVALID) from None
    now = timezone.now()
    if timezone.is_naive(expires_at):
        raise ValueError("expires_at must be an aware datetime.")
    if expires_at <= now:
        raise ApplicationError("Choose an expiry date in the future.", AccessErrorCode.PROXY_INVALID)
    if expires_at - now > PROXY_MAX_DURATION:
        raise ApplicationError("Choose an expiry date within 18 years.", AccessErrorCode.PROXY_INVALID)
    return _proxy_grant(
        actor=actor, patient=patient, proxy=proxy, scopes=scopes, expires_at=expires_at, relationship=relationship
    )


@transaction.atomic(durable=True)
def _proxy_grant(
    *, actor: User, patient: User, proxy: User, scopes: list[str], expires_at: dt.datetime, relationship: str
) -> ProxyGrant:
    now = timezone.now()
    # The race this lock closes: two grants for the same pair both revoking "the" old one.
    for old in ProxyGrant.objects.select_for_update().filter(patient=patient, proxy=proxy, revoked_at__isnull=True):
        old.revoked_at = now
        old.revoked_by = actor
        old.save(update_fields=["revoked_at", "revoked_by"])
    grant = ProxyGrant(
        patient=patient,
        proxy=proxy,
        scopes=scopes,
        relationship=relationship[:64],
        granted_by=actor,
        starts_at=now,
        expires_at=expires_at,
        created_at=now,
    )
    grant.full_clean()
    grant.save()
    audit_record(
        actor=actor,
        action="accounts.proxy.grant",
        target_type="accounts.proxygrant",
        target_id=grant.pk,
        patient=patient,
        reason=f"{proxy} as {relationship}: {', '.join(scopes)} until {expires_at:%Y-%m-%d %H:%M} UTC",
    )
    return grant


def proxy_revoke(*, actor: User, grant: ProxyGrant) -> ProxyGrant:
    """The patient (or a clinic admin) revokes a proxy grant; it stops working at once.

    Audited `accounts.proxy.revoke`. Raises ConflictError if it was already revoked.
    """
    action = "accounts.proxy.revoke"
    if not ((actor.is_active and actor.pk == grant.patient_id) or _is_admin(actor)):
        raise _refuse(
            actor=actor,
            action=action,
            target_type="accounts.proxygrant",
            target_id=grant.pk,
            patient=grant.patient,
            reason="Only the patient or a clinic admin can revoke this access.",
        )
    with transaction.atomic(durable=True):
        locked = ProxyGrant.objects.select_for_update().select_related("patient", "proxy").get(pk=grant.pk)
        if locked.revoked_at is not None:
            raise ConflictError("This access was already revoked.", AccessErrorCode.PROXY_REVOKED)
        locked.revoked_at = timezone.now()
        locked.revoked_by = actor
        locked.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(
            actor=actor,
            action=action,
            target_type="accounts.proxygrant",
            target_id=locked.pk,
            patient=locked.patient,
            reason=f"{locked.proxy} no longer acts for {locked.patient}",
        )
    return locked


def proxy_acting_switch(*, actor: User, patient_id: int | str | None) -> ProxyGrant | None:
    """Check that `actor` may act for `patient_id` now; return the grant (None for "me").

    The caller keeps the choice (a session key). Audited `accounts.proxy.switch` as "X acting
    for Y"; raises Http404 (audited as denied) without an active grant.
    """
    if patient_id in (None, "", "me"):
        return None
    grant = proxy_grant_active_for(actor, patient_id)
    if grant is None:
        audit_record_denied(
            actor=actor,
            action="accounts.proxy.switch",
            target_type="accounts.user",
            target_id=str(patient_id)[:64],
            reason="no active proxy grant",
        )
        raise Http404("No such person.")
    with transaction.atomic(durable=True):
        audit_record(
            actor=actor,
            action="accounts.proxy.switch",
            target_type="accounts.proxygrant",
            target_id=grant.pk,
            patient=grant.patient,
            reason=f"{actor} acting for {grant.patient} ({grant.relationship})",
        )
    return grant
