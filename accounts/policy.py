"""The access policy: may this user see (or change) this patient's chart, and on what standing?

One pure function, `chart_access`, decides; it writes nothing. Selectors call it through
`accounts.selectors.access_patient_for_user`, which records the decision in the audit trail
(`accounts.patient.access`, or the caller's action as denied) and raises Http404 on a refusal.
Each domain app's own `access_*` selector then records its own allowed access (e.g.
`records.chart.view`) with `breakglass=decision.breakglass`, and a proxy's action with
`reason=decision.label` ("X acting for Y").

Who is allowed, in order:

1. the patient themself ("self"), once their email address is verified — an unverified
   patient sees no health data;
2. staff roles (doctor, nurse, admin) only with an OTP-verified login (`user.is_verified()`,
   set by django-otp for sessions and by the JWT authentication for the API); without it,
   nothing;
3. a doctor with an active CareRelationship ("care"; may write);
4. a nurse with an active CareRelationship ("care_team"; read-only for now);
5. a user holding an active, unexpired, unrevoked ProxyGrant that covers `scope` ("proxy");
   `records.view` is read-only, the other scopes allow writes within themselves;
6. a doctor or nurse with an open, unexpired BreakGlassAccess ("breakglass",
   `breakglass=True`; write as for their role).

Admins never by role alone. Everything else: not allowed ("none").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils import timezone

from accounts.models import STAFF_ROLES, BreakGlassAccess, CareRelationship, ProxyGrant, Role, Scope

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User

VIA_SELF = "self"
VIA_PROXY = "proxy"
VIA_CARE = "care"
VIA_CARE_TEAM = "care_team"
VIA_BREAKGLASS = "breakglass"
VIA_NONE = "none"

# Proxy scopes that include changing something (booking, cancelling, sending a message).
WRITE_SCOPES = frozenset({Scope.APPOINTMENTS_MANAGE, Scope.MESSAGING})


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    via: str
    breakglass: bool = False
    # The patient a proxy acts for (None unless via == "proxy").
    acting_for: User | None = None
    # Whether the user may change the chart on this standing (not only what was asked).
    write: bool = False
    # Why: the refusal reason, or the proxy relationship / break-glass reason when allowed.
    reason: str = ""
    grant_id: int | None = None
    breakglass_id: int | None = None

    @property
    def label(self) -> str:
        """Human text for the audit trail, e.g. "Pat Parent acting for Kim Kid"."""
        return self.reason

    def __bool__(self) -> bool:
        return self.allowed


def _deny(reason: str) -> AccessDecision:
    return AccessDecision(allowed=False, via=VIA_NONE, reason=reason)


def otp_verified(user: User | AnonymousUser | None) -> bool:
    """True when django-otp (or the JWT authentication) says this login passed a second factor."""
    check = getattr(user, "is_verified", None)
    return bool(callable(check) and check() is True)


def _email_verified(user: User) -> bool:
    return getattr(user, "email_verified_at", None) is not None


def chart_access(
    user: User | AnonymousUser | None,
    patient: User,
    *,
    write: bool = False,
    scope: str | None = None,
) -> AccessDecision:
    """Decide whether `user` may read (or, with `write=True`, change) `patient`'s chart.

    `scope` is the proxy scope the operation needs (a `Scope` value); without one, no proxy
    grant applies. Makes at most three small queries. Writes nothing.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return _deny("not signed in")
    if patient is None or patient.role != Role.PATIENT or not patient.is_active:
        return _deny("not an active patient")

    if user.pk == patient.pk:
        if not _email_verified(user):
            return _deny("email address not verified")
        return AccessDecision(allowed=True, via=VIA_SELF, write=True)

    if user.role in STAFF_ROLES and not otp_verified(user):
        return _deny("staff login not OTP-verified")

    now = timezone.now()
    cares = CareRelationship.objects.filter(provider=user, patient=patient, ended_at__isnull=True)
    if user.role in (Role.DOCTOR, Role.NURSE) and cares.exists():
        if user.role == Role.DOCTOR:
            return AccessDecision(allowed=True, via=VIA_CARE, write=True)
        if write:
            return _deny("nurses have read-only access")
        return AccessDecision(allowed=True, via=VIA_CARE_TEAM, write=False)

    if scope is not None and (user.role in STAFF_ROLES or _email_verified(user)):
        grant = ProxyGrant.objects.active(now).filter(proxy=user, patient=patient).first()
        if grant is not None and grant.covers(scope):
            may_write = scope in WRITE_SCOPES
            if write and not may_write:
                return _deny(f"proxy scope {scope} is read-only")
            return AccessDecision(
                allowed=True,
                via=VIA_PROXY,
                acting_for=patient,
                write=may_write,
                reason=f"{user} acting for {patient} ({grant.relationship})",
                grant_id=grant.pk,
            )

    if user.role in (Role.DOCTOR, Role.NURSE):
        access = (
            BreakGlassAccess.objects.open(now)
            .filter(clinician=user, patient=patient)
            .order_by("-expires_at")
            .only("pk", "reason")
            .first()
        )
        if access is not None:
            may_write = user.role == Role.DOCTOR
            if write and not may_write:
                return _deny("nurses have read-only access")
            return AccessDecision(
                allowed=True,
                via=VIA_BREAKGLASS,
                breakglass=True,
                write=may_write,
                reason=f"break-glass: {access.reason}",
                breakglass_id=access.pk,
            )

    if user.role == Role.ADMIN:
        return _deny("admins read no chart by role alone")
    return _deny("no care relationship, proxy grant or break-glass access")
