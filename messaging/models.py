"""Models of the messaging app (see ../shared/ARCHITECTURE.md "Layout").

The notification outbox: every email, SMS or in-app notice the portal sends is first a row here
with a due time and a unique idempotency key; a periodic sweeper claims due rows and hands them
to Celery (messaging.tasks). See docs/notifications.md for the delivery guarantees.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    IN_APP = "in_app", "In-app"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CLAIMED = "claimed", "Claimed by a worker"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Notification(models.Model):
    """One delivery of one message on one channel to one user.

    Not encrypted, on purpose: a notification carries no health details — an appointment's
    time and a link to the portal, never a reason for visit, a diagnosis or a message body.
    Whoever schedules one must keep it that way (docs/notifications.md); the detail lives
    behind the link, where the access policy and the audit trail apply.
    """

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=64, help_text='What it is about, e.g. "appointment.reminder".')
    channel = models.CharField(max_length=16, choices=Channel.choices)
    subject = models.CharField(max_length=200)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    # Small files only (an .ics): [{"filename", "content_type", "content" (base64)}].
    attachments = models.JSONField(default=list, blank=True)
    due_at = models.DateTimeField()
    # Unique: scheduling the same delivery twice stores it once; also handed to the provider
    # (email Message-ID, SMS gateway key) so that a re-send after a crash can be deduplicated.
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["status", "due_at"], name="messaging_notif_status_due")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="claimed", claimed_at__isnull=False) | ~models.Q(status="claimed"),
                name="messaging_notif_claimed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.channel} to {self.recipient_id} ({self.status})"
