"""Celery tasks of the appointments app: thin and idempotent."""

from __future__ import annotations

from celery import shared_task

from appointments.services import waitlist_offers_expire


@shared_task(name="appointments.tasks.waitlist_offers_expire")
def waitlist_offers_expire_task() -> int:
    """Beat, every WAITLIST_SWEEP_SECONDS: expire held offers and pass their slots on."""
    return waitlist_offers_expire()
