"""The personal iCal feed: a secret, revocable URL per user."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from appointments.models import CalendarFeed
from audit.services import audit_record


def feed_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic(durable=True)
def calendar_feed_reset(*, actor: User) -> str:
    """Issue a new feed token for `actor` (the old URL stops working) and return it. Only its
    hash is stored, so the URL is shown once. Audited."""
    token = secrets.token_urlsafe(32)
    CalendarFeed.objects.update_or_create(
        user=actor,
        defaults={"token_hash": feed_token_hash(token), "created_at": timezone.now(), "last_fetched_at": None},
    )
    audit_record(
        actor=actor, action="appointments.calendar_feed.reset", target_type="accounts.user", target_id=actor.pk
    )
    return token


@transaction.atomic(durable=True)
def calendar_feed_revoke(*, actor: User) -> bool:
    """Turn the feed off. Audited."""
    deleted, _ = CalendarFeed.objects.filter(user=actor).delete()
    audit_record(
        actor=actor, action="appointments.calendar_feed.revoke", target_type="accounts.user", target_id=actor.pk
    )
    return deleted > 0


def calendar_feed_fetched(*, feed: CalendarFeed) -> None:
    """Remember when a calendar app last read the feed (shown on the settings page)."""
    CalendarFeed.objects.filter(pk=feed.pk).update(last_fetched_at=timezone.now())
