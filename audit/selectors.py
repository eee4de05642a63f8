"""Reading the audit trail (staff and operators only; callers check who may)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from audit.errors import AuditError, AuditErrorCode
from audit.models import AuditEvent

if TYPE_CHECKING:
    from accounts.models import User


def audit_event_list(
    *,
    patient: User | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    event_ids: Iterable[int] | None = None,
) -> QuerySet[AuditEvent]:
    """Events in chain order, with actor and patient joined; `since` inclusive, `until` exclusive."""
    events = AuditEvent.objects.select_related("actor", "patient").order_by("seq")
    if patient is not None:
        events = events.filter(patient=patient)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    if event_ids is not None:
        events = events.filter(pk__in=event_ids)
    return events


def audit_subject_get(identifier: str) -> User:
    """The user named by a numeric id or an email address (as an operator types it)."""
    users = get_user_model().objects.all()
    value = identifier.strip()
    found = users.filter(pk=int(value)).first() if value.isdigit() else users.filter(email__iexact=value).first()
    if found is None:
        raise AuditError(f"No user {identifier!r}.", AuditErrorCode.PATIENT_NOT_FOUND, status_code=404)
    return found
