"""Reads of the accounts app that cross a permission boundary.

`access_patient_for_user` is the gate every domain app's `access_*` selector passes first:
it decides with `accounts.policy.chart_access`, records `accounts.patient.access` (flagged
`breakglass` when that is the standing) or the caller's `action` as denied, and raises Http404
for anything not allowed — never 403, so that ids cannot be probed. The calling selector of
each domain app then audits its own allowed access (`records.chart.view` ...) with
`breakglass=decision.breakglass` and, for a proxy, `reason=decision.label`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404

from accounts.models import (
    BreakGlassAccess,
    CareRelationship,
    PatientProfile,
    ProviderProfile,
    ProxyGrant,
    Role,
    User,
)
from accounts.policy import AccessDecision, chart_access, otp_verified
from audit.services import audit_record, audit_record_denied
from telemed.ids import positive_id

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

PATIENT_ACCESS_ACTION = "accounts.patient.access"


def access_patient_for_user(
    user: User | AnonymousUser | None,
    patient_id: int | str,
    *,
    action: str,
    write: bool = False,
    scope: str | None = None,
) -> tuple[User, AccessDecision]:
    """The patient named by an outside id and the decision that lets `user` at their chart.

    `action` names what the caller is about to do (audit action, e.g. `records.chart.view`);
    it is recorded as denied on a refusal. An allowed access is recorded as
    `accounts.patient.access` (reason: the action and the standing). Raises Http404 for an
    unknown id, a non-patient, or anything the policy refuses. Call outside any transaction
    (the denial record commits on its own).
    """
    pk = positive_id(patient_id)
    patient = User.objects.filter(pk=pk, role=Role.PATIENT).first() if pk else None
    if patient is None or not (decision := chart_access(user, patient, write=write, scope=scope)).allowed:
        audit_record_denied(
            actor=user,
            action=action,
            target_type="accounts.user",
            target_id=str(patient_id)[:64],
            patient=patient,
            reason="no such patient" if patient is None else decision.reason,
        )
        raise Http404("No such patient.")
    reason = f"{action} via {decision.via}"
    if decision.reason:
        reason = f"{reason}: {decision.reason}"
    with transaction.atomic():
        audit_record(
            actor=user,
            action=PATIENT_ACCESS_ACTION,
            target_type="accounts.user",
            target_id=patient.pk,
            patient=patient,
            reason=reason,
            breakglass=decision.breakglass,
        )
    return patient, decision


def patients_list_for_provider(user: User | AnonymousUser | None) -> QuerySet[User]:
    """The active patients with an active care relationship with `user` (a doctor or nurse with
    an OTP-verified login), by name, profiles joined: one query. Anyone else gets none."""
    if (
        user is None
        or not user.is_authenticated
        or user.role not in (Role.DOCTOR, Role.NURSE)
        or not otp_verified(user)
    ):
        return User.objects.none()
    return (
        User.objects.filter(
            role=Role.PATIENT,
            is_active=True,
            care_providers__provider=user,
            care_providers__ended_at__isnull=True,
        )
        .select_related("patient_profile")
        .order_by("full_name", "email")
        .distinct()
    )


def proxy_grants_for_user(user: User | AnonymousUser | None) -> QuerySet[ProxyGrant]:
    """The active grants `user` holds (people they may act for), patients joined."""
    if user is None or not user.is_authenticated:
        return ProxyGrant.objects.none()
    return (
        ProxyGrant.objects.active()
        .filter(proxy=user, patient__is_active=True)
        .select_related("patient")
        .order_by("patient__full_name", "pk")
    )


def proxy_grant_active_for(user: User | AnonymousUser | None, patient_id: object) -> ProxyGrant | None:
    """The active grant by which `user` may act for the patient `patient_id`, or None."""
    pk = positive_id(patient_id)
    if pk is None:
        return None
    return proxy_grants_for_user(user).filter(patient_id=pk).first()


def proxy_grants_given(user: User) -> QuerySet[ProxyGrant]:
    """Every grant a patient has given (active first, newest first), proxies joined."""
    return (
        ProxyGrant.objects.filter(patient=user)
        .select_related("proxy", "granted_by", "revoked_by")
        .order_by("revoked_at", "-created_at")
    )


def proxy_grant_get_for_revoke(user: User, grant_id: object) -> ProxyGrant:
    """A grant `user` may revoke (the patient's own, or any for an admin); Http404 otherwise."""
    pk = positive_id(grant_id)
    grants = ProxyGrant.objects.select_related("patient", "proxy")
    if user.role != Role.ADMIN:
        grants = grants.filter(patient=user)
    grant = grants.filter(pk=pk).first() if pk else None
    if grant is None:
        raise Http404("No such grant.")
    return grant


def breakglass_get_for_clinician(user: User, access_id: object) -> BreakGlassAccess:
    """One of `user`'s own break-glass accesses; Http404 for anyone else's."""
    pk = positive_id(access_id)
    access = BreakGlassAccess.objects.select_related("patient").filter(pk=pk, clinician=user).first() if pk else None
    if access is None:
        raise Http404("No such access.")
    return access


def breakglass_review_queue() -> QuerySet[BreakGlassAccess]:
    """Unreviewed break-glass accesses, oldest first, people joined (for admins)."""
    return BreakGlassAccess.objects.unreviewed().select_related("clinician", "patient").order_by("opened_at", "pk")


def breakglass_get_for_review(access_id: object) -> BreakGlassAccess:
    pk = positive_id(access_id)
    access = breakglass_review_queue().filter(pk=pk).first() if pk else None
    if access is None:
        raise Http404("No such access.")
    return access


def care_relationships_active() -> QuerySet[CareRelationship]:
    """Active care relationships, newest first, people joined (for the admin care-team page)."""
    return (
        CareRelationship.objects.filter(ended_at__isnull=True)
        .select_related("patient", "provider")
        .order_by("-started_at", "-pk")
    )


def care_relationship_get_active(relationship_id: object) -> CareRelationship:
    pk = positive_id(relationship_id)
    relationship = care_relationships_active().filter(pk=pk).first() if pk else None
    if relationship is None:
        raise Http404("No such care relationship.")
    return relationship


def patient_find(identifier: str) -> User | None:
    """An active patient by email (any case) or MRN, for staff forms; None if there is none."""
    value = (identifier or "").strip()
    if not value:
        return None
    patients = User.objects.filter(role=Role.PATIENT, is_active=True)
    if "@" in value:
        return patients.filter(email__iexact=value).first()
    return patients.filter(patient_profile__mrn__iexact=value).first()


def user_find_active(email: str) -> User | None:
    value = (email or "").strip()
    return User.objects.filter(email__iexact=value, is_active=True).first() if value else None


def users_active_by_email(emails: set[str]) -> dict[str, User]:
    """The active users with these exact emails, by email (demo seeding by name)."""
    return {user.email: user for user in User.objects.filter(email__in=emails, is_active=True)}


def own_profile(user: User) -> PatientProfile | ProviderProfile | None:
    """The signed-in user's own profile row (patients and providers), for their settings page."""
    if user.role == Role.PATIENT:
        return PatientProfile.objects.filter(user=user).first()
    if user.role in (Role.DOCTOR, Role.NURSE):
        return ProviderProfile.objects.filter(user=user).first()
    return None


def provider_time_zone(user: User, default: str) -> str:
    """The time zone a provider chose in their profile, or `default`."""
    value = ProviderProfile.objects.filter(user=user).values_list("time_zone", flat=True).first()
    return value or default


def admin_emails() -> list[str]:
    """Where alerts for clinic admins go: every active admin's address."""
    return list(User.objects.filter(role=Role.ADMIN, is_active=True).order_by("pk").values_list("email", flat=True))
