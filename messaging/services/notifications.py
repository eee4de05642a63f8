"""Writes of the messaging app: the notification outbox.

Guarantees (docs/notifications.md): a notification is a row with a due time and a unique
idempotency key; a periodic sweeper claims due rows and hands them to Celery; a delivery
happens only for the current claim, in the transaction that marks the row sent.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from messaging.channels import channel_for
from messaging.errors import NotificationUndeliverable
from messaging.models import Channel, Notification, NotificationStatus

logger = logging.getLogger(__name__)

# The channels other apps schedule on (named here so that they need not import models).
CHANNEL_EMAIL: str = Channel.EMAIL
CHANNEL_SMS: str = Channel.SMS
CHANNEL_IN_APP: str = Channel.IN_APP

# A claimed row whose worker has not delivered it within the lease (settings.
# NOTIFICATIONS_CLAIM_LEASE_SECONDS, default 5 minutes) is claimed again: the worker died
# mid-task, or the broker lost the task (a flushed Redis). A longer lease only delays recovery,
# a shorter one only enqueues spare tasks (a row in delivery is locked, and a stale claim token
# delivers nothing), never a second delivery.
# Provider errors are retried by the sweeper after a growing pause, then given up.
MAX_ATTEMPTS = 5
RETRY_BACKOFF = dt.timedelta(minutes=1)


def claim_lease() -> dt.timedelta:
    """settings.NOTIFICATIONS_CLAIM_LEASE_SECONDS (environment, default 300)."""
    return dt.timedelta(seconds=settings.NOTIFICATIONS_CLAIM_LEASE_SECONDS)


class Claim(NamedTuple):
    id: int
    claim_token: str


def _attachment(item: dict) -> dict:
    content = item["content"]
    if isinstance(content, bytes):
        content = base64.b64encode(content).decode()
    return {"filename": item["filename"], "content_type": item["content_type"], "content": content}


def notification_schedule(
    *,
    recipient: User,
    kind: str,
    channel: str,
    subject: str,
    body_text: str,
    body_html: str = "",
    attachments: Iterable[dict] = (),
    due_at: dt.datetime,
    idempotency_key: str,
) -> Notification:
    """Put one delivery in the outbox, due at `due_at`. Idempotent: a second call with the
    same key returns the existing row unchanged (whatever its other arguments).

    No health details: the subject and bodies are stored in clear (an appointment's time and a
    link, never a reason, a diagnosis or a message). Attachment content is bytes or base64.
    Joins the caller's transaction when there is one, so a booking and its reminders commit
    together.
    """
    defaults = {
        "recipient": recipient,
        "kind": kind,
        "channel": channel,
        "subject": subject,
        "body_text": body_text,
        "body_html": body_html,
        "attachments": [_attachment(item) for item in attachments],
        "due_at": due_at,
    }
    try:
        # The savepoint keeps a lost race (IntegrityError on the unique key) from breaking the
        # caller's transaction.
        with transaction.atomic():
            notification, _ = Notification.objects.get_or_create(idempotency_key=idempotency_key, defaults=defaults)
    except IntegrityError:
        # Another transaction inserted the same key between our SELECT and INSERT.
        notification = Notification.objects.get(idempotency_key=idempotency_key)
    return notification


def notification_cancel(*, idempotency_key: str) -> bool:
    """Cancel a delivery that has not gone out yet; True if it was pending or claimed.

    A claimed row is cancelled too: the worker holding the claim then finds it no longer
    claimed and sends nothing (notification_deliver checks under the row lock).
    """
    return notifications_cancel_for(idempotency_key, exact=True) > 0


def notifications_cancel_for(prefix: str, *, exact: bool = False) -> int:
    """Cancel every undelivered notification whose key starts with `prefix`, e.g.
    "appointment:42:" for all reminders of a cancelled appointment. Returns how many."""
    key = Q(idempotency_key=prefix) if exact else Q(idempotency_key__startswith=prefix)
    # One conditional UPDATE: a row a worker is delivering right now is locked (PostgreSQL) or
    # behind the write lock (SQLite); this waits, then sees it "sent" and leaves it alone.
    return Notification.objects.filter(key, status__in=[NotificationStatus.PENDING, NotificationStatus.CLAIMED]).update(
        status=NotificationStatus.CANCELLED, claim_token="", last_error="cancelled before delivery"
    )


@transaction.atomic(durable=True)
def notifications_claim_due(*, now: dt.datetime | None = None, limit: int = 100) -> list[Claim]:
    """Claim up to `limit` due notifications for delivery and return (id, claim_token) pairs.

    Due: pending with due_at <= now, or claimed longer than the lease (claim_lease()) ago: its
    worker died or its task was lost. Every call gives its rows a fresh token, so a task from an older claim
    delivers nothing. The caller enqueues one delivery task per claim after this returns
    (committed).
    """
    now = now or timezone.now()
    due = Q(status=NotificationStatus.PENDING, due_at__lte=now) | Q(
        status=NotificationStatus.CLAIMED, claimed_at__lt=now - claim_lease()
    )
    # PostgreSQL: SKIP LOCKED lets concurrent sweepers each take different rows instead of
    # claiming the same row twice or queueing behind each other. SQLite has no row locks and
    # Django drops the clause; the IMMEDIATE transaction (settings) holds the database's write
    # lock from BEGIN, so a second sweeper runs only after this one committed and sees the
    # rows already claimed.
    ids = list(
        Notification.objects.select_for_update(skip_locked=True)
        .filter(due)
        .order_by("due_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    if not ids:
        return []
    token = uuid.uuid4().hex
    Notification.objects.filter(id__in=ids).update(status=NotificationStatus.CLAIMED, claim_token=token, claimed_at=now)
    return [Claim(id=notification_id, claim_token=token) for notification_id in ids]


@transaction.atomic(durable=True)
def notification_deliver(*, notification_id: int, claim_token: str) -> bool:
    """Deliver one claimed notification; True if it was sent by this call.

    A duplicated or retried task does nothing: under the row lock the row must still be
    claimed with this token, and it is marked sent in the same transaction. A recipient who
    turned the channel off gets nothing (cancelled, with the reason). A provider error is
    recorded and retried by the sweeper (back to pending after a pause) up to MAX_ATTEMPTS.

    Not exactly-once across a crash: a worker that dies after the provider accepted the
    message but before this commit leaves the row claimed, and after the lease it is sent
    again. The idempotency key travels with it (email Message-ID, SMS gateway key) so the
    provider or the mail client can drop the copy.
    """
    # The lock closes the race between two copies of one task (acks_late re-delivery, a
    # reclaimed row whose first worker still runs): the second waits here, then finds the row
    # sent or under another token. It also keeps a sweeper (SKIP LOCKED) off a row in delivery.
    notification = (
        Notification.objects.select_for_update()
        .select_related("recipient")
        .filter(id=notification_id, status=NotificationStatus.CLAIMED, claim_token=claim_token)
        .first()
    )
    if notification is None:
        return False
    channel = channel_for(notification.channel)
    recipient = notification.recipient
    if not recipient.is_active or not getattr(recipient, channel.preference):
        notification.status = NotificationStatus.CANCELLED
        notification.last_error = (
            "recipient account is inactive"
            if not recipient.is_active
            else f"recipient turned off {notification.get_channel_display()} notifications"
        )
        notification.claim_token = ""
        notification.save(update_fields=["status", "last_error", "claim_token"])
        return False

    now = timezone.now()
    notification.attempts += 1
    notification.claim_token = ""
    try:
        channel.send(notification)
    except NotificationUndeliverable as exc:
        notification.status = NotificationStatus.FAILED
        notification.last_error = exc.message
    except Exception as exc:
        logger.warning("notification %s: delivery attempt %s failed", notification.id, notification.attempts)
        notification.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if notification.attempts >= MAX_ATTEMPTS:
            notification.status = NotificationStatus.FAILED
        else:
            notification.status = NotificationStatus.PENDING
            notification.due_at = now + RETRY_BACKOFF * notification.attempts
    else:
        notification.status = NotificationStatus.SENT
        notification.sent_at = now
        notification.last_error = ""
    notification.save(update_fields=["status", "attempts", "claim_token", "sent_at", "last_error", "due_at"])
    return notification.status == NotificationStatus.SENT
