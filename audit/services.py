"""Writing the audit trail.

Two ways to record, chosen by whether the record must outlive the caller's transaction:

- `audit_record(...)` — inside the caller's own transaction (the usual case: a service that
  reads or writes health data records its event in the same `transaction.atomic` block). The
  event commits with the work and rolls back with it: no record of something that did not happen.
- `audit_record_denied(...)` — for a refused attempt the caller answers with an exception
  (Http404, PermissionDenied, an ApplicationError). It commits in a transaction of its own, so it
  must be called OUTSIDE any atomic block, before raising: decide access first, then open the
  transaction for the work. Inside an atomic block it raises RuntimeError (Django's durability
  check) instead of writing a record that the caller's rollback would silently erase. If a
  refusal is only discovered inside a transaction, raise out of it and record in the handler
  outside the block.

Every append takes the chain head's row lock, so audited transactions take turns from that
point to their commit: call `audit_record` late in a service (after its own row locks) to keep
that window short and the lock order the same everywhere (domain rows, then the head).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from django.db import transaction
from django.utils import timezone

from audit.chain import HASHED_FIELDS, compute_hash, normalize_ip
from audit.context import USER_AGENT_MAX, AuditContext, current_audit_context
from audit.errors import AuditError, AuditErrorCode, AuditExportForbidden
from audit.models import GENESIS_HASH, ActorRole, AuditChainHead, AuditEvent, Outcome
from audit.selectors import audit_event_list

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User

# "<app>.<object>.<verb>", e.g. records.chart.view, prescriptions.prescription.sign.
ACTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
EXPORT_ACTION = "audit.export"

EXPORT_COLUMNS = (
    "seq",
    "occurred_at",
    "actor_id",
    "actor_email",
    "actor_role",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "patient_id",
    "patient_email",
    "ip",
    "user_agent",
    "request_id",
    "reason",
    "breakglass",
    "prev_hash",
    "hash",
)


def _actor_snapshot(actor: User | AnonymousUser | None) -> tuple[User | None, str]:
    if actor is None:
        return None, ActorRole.SYSTEM
    if not actor.is_authenticated:
        return None, ActorRole.ANONYMOUS
    return actor, actor.role  # type: ignore[return-value]


def _validate(*, action: str, outcome: str, reason: str, breakglass: bool) -> None:
    if len(action) > 64 or not ACTION_PATTERN.match(action):
        raise AuditError(f"Audit action {action!r} is not of the form app.object.verb.", AuditErrorCode.INVALID_ACTION)
    if outcome not in Outcome.values:
        raise ValueError(f"Unknown audit outcome {outcome!r}.")
    if breakglass and not reason.strip():
        raise AuditError("Break-glass access needs a reason.", AuditErrorCode.REASON_REQUIRED)


def _lock_chain_head() -> AuditChainHead:
    # The race this lock closes: two transactions read the same head (seq N, hash H), both
    # append seq N+1 with prev_hash H and the chain forks (or one dies on the unique seq).
    # FOR UPDATE makes the second wait until the first commits and then read its new head.
    # On SQLite select_for_update is a no-op, but transactions are IMMEDIATE (settings), so
    # the second writer already waited for the database write lock at BEGIN.
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is not None:
        return head
    # First append ever (or after a test flush): start from whatever the table holds. Two
    # first appenders race on the primary key; get_or_create's retry reads (and locks) the
    # winner's committed row.
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first() or (0, GENESIS_HASH)
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(
        pk=1, defaults={"last_seq": last[0], "last_hash": last[1]}
    )
    return head


def audit_record(
    *,
    actor: User | AnonymousUser | None,
    action: str,
    target_type: str = "",
    target_id: str | int = "",
    patient: User | None = None,
    outcome: str = Outcome.SUCCESS,
    reason: str = "",
    breakglass: bool = False,
    context: AuditContext | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    `actor=None` is the system (tasks, commands); an anonymous user is stored as such.
    IP, user agent and request id come from the bound audit context (AuditContextMiddleware,
    or `audit.context.audit_context(...)`) unless `context` is given. Raises AuditError on a
    malformed action or a break-glass access without a reason. Commits or rolls back with
    the caller's transaction; see the module docstring for refused attempts.
    """
    _validate(action=action, outcome=outcome, reason=reason, breakglass=breakglass)
    user, role = _actor_snapshot(actor)
    ctx = context or current_audit_context()
    # savepoint=False: a failed append must doom the caller's transaction, never be swallowed.
    with transaction.atomic(savepoint=False):
        head = _lock_chain_head()
        event = AuditEvent(
            seq=head.last_seq + 1,
            # Taken under the lock, so time order and chain order agree.
            occurred_at=timezone.now(),
            actor=user,
            actor_role=role,
            action=action,
            outcome=outcome,
            target_type=target_type,
            target_id=str(target_id),
            patient=patient,
            ip=normalize_ip(ctx.ip),
            user_agent=ctx.user_agent[:USER_AGENT_MAX],
            request_id=ctx.request_id,
            reason=reason,
            breakglass=breakglass,
            prev_hash=head.last_hash,
        )
        event.hash = compute_hash({name: getattr(event, name) for name in HASHED_FIELDS})
        event.save(force_insert=True)
        head.last_seq = event.seq
        head.last_hash = event.hash
        head.save(update_fields=["last_seq", "last_hash"])
    return event


def audit_record_denied(
    *,
    actor: User | AnonymousUser | None,
    action: str,
    target_type: str = "",
    target_id: str | int = "",
    patient: User | None = None,
    reason: str = "",
    breakglass: bool = False,
    context: AuditContext | None = None,
) -> AuditEvent:
    """Record a refused attempt (outcome "denied") in a transaction of its own, then return.

    Call it outside any atomic block, just before raising the refusal: the record is committed
    and survives whatever the caller does next. Inside an atomic block it raises RuntimeError
    and writes nothing, because the caller's rollback would erase the record.
    """
    with transaction.atomic(durable=True):
        return audit_record(
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            patient=patient,
            outcome=Outcome.DENIED,
            reason=reason,
            breakglass=breakglass,
            context=context,
        )


def _may_export(actor: User | None) -> bool:
    if actor is None:
        return True
    return bool(actor.is_active and actor.is_staff and actor.has_perm("audit.view_auditevent"))


def _describe_export(
    *, patient: User | None, since: dt.datetime | None, until: dt.datetime | None, selection: bool, reason: str
) -> str:
    parts = []
    if patient is not None:
        parts.append(f"patient={patient.pk}")
    if since is not None:
        parts.append(f"since={since.isoformat()}")
    if until is not None:
        parts.append(f"until={until.isoformat()}")
    if selection:
        parts.append("selected events")
    described = "CSV export of " + ", ".join(parts)
    return f"{described}: {reason}" if reason else described


# A spreadsheet runs a cell that starts with one of these as a formula; user agents and
# reasons come from outside, so such cells are exported with a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def audit_export_csv(
    *,
    actor: User | None,
    out: TextIO,
    patient: User | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    event_ids: Iterable[int] | None = None,
    reason: str = "",
) -> int:
    """Write the matching events as CSV to `out` (seq order) and return how many were written.

    At least one filter is required; `since` is inclusive, `until` exclusive. The export is
    itself audited (action "audit.export") and committed BEFORE any row is written, so an export
    that fails halfway is still on record. `actor=None` is an operator at the shell; a user needs
    is_staff and the audit.view_auditevent permission, otherwise the attempt is recorded as
    denied and AuditExportForbidden is raised. Call it outside any atomic block.
    """
    if patient is None and since is None and until is None and event_ids is None:
        raise AuditError("Choose a patient, a period or events to export.", AuditErrorCode.EXPORT_FILTER_REQUIRED)
    if since is not None and until is not None and since >= until:
        raise AuditError("The period ends before it starts.", AuditErrorCode.EXPORT_INVALID_RANGE)
    description = _describe_export(
        patient=patient, since=since, until=until, selection=event_ids is not None, reason=reason
    )
    if not _may_export(actor):
        audit_record_denied(
            actor=actor, action=EXPORT_ACTION, target_type="audit.event", patient=patient, reason=description
        )
        raise AuditExportForbidden("You may not export the audit trail.", AuditErrorCode.EXPORT_FORBIDDEN)

    with transaction.atomic(durable=True):
        audit_record(actor=actor, action=EXPORT_ACTION, target_type="audit.event", patient=patient, reason=description)

    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    written = 0
    events = audit_event_list(patient=patient, since=since, until=until, event_ids=event_ids)
    # iterator(): constant memory however long the trail is.
    for event in events.iterator(chunk_size=1000):
        writer.writerow(
            [
                event.seq,
                event.occurred_at.astimezone(dt.UTC).isoformat(),
                event.actor_id or "",
                event.actor.email if event.actor else "",
                event.actor_role,
                event.action,
                event.outcome,
                _cell(event.target_type),
                _cell(event.target_id),
                event.patient_id or "",
                event.patient.email if event.patient else "",
                event.ip or "",
                _cell(event.user_agent),
                _cell(event.request_id),
                _cell(event.reason),
                "1" if event.breakglass else "0",
                event.prev_hash,
                event.hash,
            ]
        )
        written += 1
    return written
