"""Models of the messaging app (see ../shared/ARCHITECTURE.md "Layout").

The notification outbox: every email, SMS or in-app notice the portal sends is first a row here
with a due time and a unique idempotency key; a periodic sweeper claims due rows and hands them
to Celery (messaging.tasks). See docs/notifications.md for the delivery guarantees.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from telemed.crypto.fields import EncryptedTextField


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


# --- Conversations and messages --------------------------------------------------------------


class ConversationKind(models.TextChoices):
    CARE_TEAM = "care_team", "Care team"
    QUERY = "query", "Question to the clinic"


class QueryStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


class Conversation(models.Model):
    """A patient's conversation: with their care team (one per patient), or a question to the
    clinic's shared staff inbox (a query: claimable, open / answered / closed).

    `last_seq` is the sequence number of the newest message; a send takes the row lock, so
    `seq` is gapless and ordered per conversation. Who may reach it comes from the access
    policy (messaging.selectors), never from rows a client could name.
    """

    kind = models.CharField(max_length=16, choices=ConversationKind.choices)
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    subject = EncryptedTextField(blank=True)
    status = models.CharField(max_length=16, choices=QueryStatus.choices, default=QueryStatus.OPEN)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_message_at", "-pk"]
        indexes = [
            models.Index(fields=["patient", "kind"], name="msg_conv_patient_kind"),
            models.Index(fields=["kind", "status"], name="msg_conv_kind_status"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"], condition=models.Q(kind="care_team"), name="msg_one_care_team_conversation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} conversation #{self.pk}"


class Message(models.Model):
    """One message, never edited. A retraction (by the sender, within 5 minutes) keeps the row
    and its `seq` and drops the text: everyone sees that a message was retracted."""

    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="messages")
    seq = models.PositiveIntegerField()
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # A proxy writes "for" the patient: shown as "X for Y".
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The sender's own id for the message: a retried send stores nothing twice.
    client_msg_id = models.CharField(max_length=64)
    body = EncryptedTextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    retracted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="msg_seq_unique"),
            models.UniqueConstraint(fields=["sender", "client_msg_id"], name="msg_client_msg_id_unique"),
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="msg_seq_positive"),
        ]

    def __str__(self) -> str:
        return f"Message {self.seq} of conversation #{self.conversation_id}"


class ReadState(models.Model):
    """How far one participant has received and read a conversation (receipts, unread counts)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="read_states")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    delivered_seq = models.PositiveIntegerField(default=0)
    read_seq = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="msg_one_read_state"),
            models.CheckConstraint(
                condition=models.Q(read_seq__lte=models.F("delivered_seq")), name="msg_read_not_past_delivered"
            ),
        ]

    def __str__(self) -> str:
        return f"User #{self.user_id} read #{self.conversation_id} up to {self.read_seq}"
