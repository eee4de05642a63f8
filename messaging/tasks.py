"""Celery tasks of the notification outbox: thin, idempotent, ids in, service calls."""

from __future__ import annotations

from celery import shared_task

from messaging.services import notification_deliver, notifications_claim_due

SWEEP_BATCH = 200


@shared_task(name="messaging.tasks.notifications_sweep")
def notifications_sweep() -> int:
    """Beat, every NOTIFICATIONS_SWEEP_SECONDS: claim due notifications, enqueue their delivery.

    The claim has committed when notifications_claim_due returns, so a task never runs before
    its row is visible as claimed. A task lost on the way (broker flushed, enqueue failed)
    leaves its row claimed; the lease brings it back to a later sweep.
    """
    claims = notifications_claim_due(limit=SWEEP_BATCH)
    for claim in claims:
        notification_deliver_task.delay(claim.id, claim.claim_token)
    return len(claims)


@shared_task(name="messaging.tasks.notification_deliver")
def notification_deliver_task(notification_id: int, claim_token: str) -> bool:
    return notification_deliver(notification_id=notification_id, claim_token=claim_token)
