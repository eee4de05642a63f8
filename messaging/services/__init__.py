"""Writes of the messaging app: the notification outbox (`notifications`) and conversations
(`conversations`). Import from here: `from messaging.services import message_send`."""

from messaging.services.conversations import (
    care_conversation_ensure,
    message_retract,
    message_send,
    query_claim,
    query_create,
    query_status_set,
    read_state_advance,
)
from messaging.services.notifications import (
    CHANNEL_EMAIL,
    CHANNEL_IN_APP,
    CHANNEL_SMS,
    MAX_ATTEMPTS,
    RETRY_BACKOFF,
    Claim,
    claim_lease,
    notification_cancel,
    notification_deliver,
    notification_schedule,
    notifications_cancel_for,
    notifications_claim_due,
)

__all__ = [
    "CHANNEL_EMAIL",
    "CHANNEL_IN_APP",
    "CHANNEL_SMS",
    "MAX_ATTEMPTS",
    "RETRY_BACKOFF",
    "Claim",
    "care_conversation_ensure",
    "claim_lease",
    "message_retract",
    "message_send",
    "notification_cancel",
    "notification_deliver",
    "notification_schedule",
    "notifications_cancel_for",
    "notifications_claim_due",
    "query_claim",
    "query_create",
    "query_status_set",
    "read_state_advance",
]
