"""Conversations and messages: every write, each one transaction, audited, the doorbell rung
after commit (messaging.events).

Delivery (ARCHITECTURE.md "Delivery"): a message is stored with the next `seq` of its
conversation under the conversation's row lock, then acknowledged; the channel layer only
tells connected consumers to look. A send names the sender's `client_msg_id`: sent again (a
retry after a lost ack), it stores nothing and returns the original.
"""

from __future__ import annotations

import datetime as dt
import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role, User
from audit.services import audit_record, audit_record_denied
from messaging import events
from messaging.errors import MessagingError, MessagingErrorCode, MessagingForbiddenError
from messaging.models import Conversation, ConversationKind, Message, QueryStatus, ReadState
from messaging.selectors import STAFF_INBOX, ConversationAccess, standing

MAX_BODY = 10_000
RETRACT_WINDOW = dt.timedelta(minutes=5)
CLIENT_MSG_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TARGET = "messaging.conversation"


def _body(text: object) -> str:
    body = str(text or "").strip()
    if not body:
        raise MessagingError("Write something before sending.", MessagingErrorCode.MESSAGE_EMPTY)
    if len(body) > MAX_BODY:
        raise MessagingError(f"A message holds at most {MAX_BODY:,} characters.", MessagingErrorCode.MESSAGE_TOO_LONG)
    return body


def _client_msg_id(value: object) -> str:
    text = str(value or "")
    if not CLIENT_MSG_ID.match(text):
        raise MessagingError(
            "client_msg_id: 1 to 64 letters, digits, '-' or '_' (a UUID is fine).",
            MessagingErrorCode.CLIENT_MSG_ID_INVALID,
        )
    return text


# --- Conversations -----------------------------------------------------------------------------


def care_conversation_ensure(*, actor: User, patient: User) -> Conversation:
    """The patient's conversation with their care team, made on first need by either side
    (the patient, a proxy with the messaging scope, a doctor or nurse caring for them)."""
    probe = Conversation(kind=ConversationKind.CARE_TEAM, patient=patient)
    if standing(actor, probe) is None:
        audit_record_denied(actor=actor, action="messaging.conversation.create", target_type=TARGET, patient=patient)
        raise MessagingForbiddenError("Only the patient, their proxy and their care team talk here.")
    existing = Conversation.objects.filter(kind=ConversationKind.CARE_TEAM, patient=patient).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic(durable=True):
            conversation = Conversation.objects.create(
                kind=ConversationKind.CARE_TEAM, patient=patient, created_by=actor
            )
            audit_record(
                actor=actor,
                action="messaging.conversation.create",
                target_type=TARGET,
                target_id=conversation.pk,
                patient=patient,
            )
    except IntegrityError:
        # Both sides opened it at once (one care-team conversation per patient): use theirs.
        return Conversation.objects.get(kind=ConversationKind.CARE_TEAM, patient=patient)
    return conversation


def query_create(*, actor: User, patient: User, subject: str, body: str, client_msg_id: str) -> Message:
    """A question to the clinic's shared staff inbox from the patient (or their proxy), with its
    first message. Idempotent by `client_msg_id` like any send."""
    subject = str(subject or "").strip()[:200]
    if not subject:
        raise MessagingError("Give your question a subject.", MessagingErrorCode.INVALID)
    probe = Conversation(kind=ConversationKind.QUERY, patient=patient)
    via = standing(actor, probe)
    if via is None or via == STAFF_INBOX or actor.role != Role.PATIENT:
        audit_record_denied(actor=actor, action="messaging.query.create", target_type=TARGET, patient=patient)
        raise MessagingForbiddenError("Questions to the clinic come from the patient or their proxy.")
    body = _body(body)
    client_msg_id = _client_msg_id(client_msg_id)
    existing = _first_message_of_query(actor, patient, client_msg_id)
    if existing is not None:
        return existing
    try:
        with transaction.atomic(durable=True):
            conversation = Conversation.objects.create(
                kind=ConversationKind.QUERY, patient=patient, subject=subject, created_by=actor
            )
            audit_record(
                actor=actor,
                action="messaging.query.create",
                target_type=TARGET,
                target_id=conversation.pk,
                patient=patient,
            )
            access = ConversationAccess(conversation=conversation, user=actor, via=via)
            message = _store(access, body=body, client_msg_id=client_msg_id)
            events.ring_staff_inbox(conversation.pk)
    except IntegrityError:
        # The same retry raced itself: the first one's question stands, nothing else was kept.
        existing = _first_message_of_query(actor, patient, client_msg_id)
        if existing is None:
            raise
        return existing
    return message


def _first_message_of_query(actor: User, patient: User, client_msg_id: str) -> Message | None:
    """The message a retried question already stored (the first of a question about the same
    patient); 409 when the id names any other message of the sender."""
    existing = Message.objects.filter(sender=actor, client_msg_id=client_msg_id).select_related("conversation").first()
    if existing is None:
        return None
    conversation = existing.conversation
    if conversation.kind != ConversationKind.QUERY or conversation.patient_id != patient.pk or existing.seq != 1:
        raise MessagingError(
            "That client_msg_id already names another message.",
            MessagingErrorCode.CLIENT_MSG_ID_REUSED,
            status_code=409,
        )
    return existing


def _require_staff(access: ConversationAccess, action: str) -> None:
    if access.conversation.kind != ConversationKind.QUERY or access.via != STAFF_INBOX:
        audit_record_denied(
            actor=access.user,
            action=action,
            target_type=TARGET,
            target_id=access.conversation.pk,
            patient=access.conversation.patient,
        )
        raise MessagingForbiddenError("Only clinic staff answer questions from the shared inbox.")


def query_claim(*, access: ConversationAccess) -> Conversation:
    """A staff member takes a question from the shared inbox (or takes it over)."""
    action = "messaging.query.claim"
    _require_staff(access, action)
    with transaction.atomic(durable=True):
        conversation = Conversation.objects.select_for_update().get(pk=access.conversation.pk)
        previous = conversation.claimed_by_id
        conversation.claimed_by = access.user
        conversation.claimed_at = timezone.now()
        conversation.save(update_fields=["claimed_by", "claimed_at"])
        audit_record(
            actor=access.user,
            action=action,
            target_type=TARGET,
            target_id=conversation.pk,
            patient=conversation.patient,
            reason=f"taken over from user #{previous}" if previous and previous != access.user.pk else "",
        )
        events.ring_staff_inbox(conversation.pk)
    return conversation


def query_status_set(*, access: ConversationAccess, status: str) -> Conversation:
    """Staff mark a question open, answered or closed; the patient's side may close their own."""
    action = "messaging.query.status"
    if status not in QueryStatus.values:
        raise MessagingError("Status: open, answered or closed.", MessagingErrorCode.INVALID)
    if access.conversation.kind != ConversationKind.QUERY:
        raise MessagingError("Only a question to the clinic has a status.", MessagingErrorCode.INVALID)
    if access.patient_side and status != QueryStatus.CLOSED:
        _require_staff(access, action)
    with transaction.atomic(durable=True):
        conversation = Conversation.objects.select_for_update().get(pk=access.conversation.pk)
        conversation.status = status
        conversation.save(update_fields=["status"])
        audit_record(
            actor=access.user,
            action=action,
            target_type=TARGET,
            target_id=conversation.pk,
            patient=conversation.patient,
            reason=status,
        )
        events.ring_staff_inbox(conversation.pk)
    return conversation


# --- Messages --------------------------------------------------------------------------------


def _store(access: ConversationAccess, *, body: str, client_msg_id: str) -> Message:
    """Inside the caller's transaction: the next seq under the conversation's row lock."""
    # The race this lock closes: two sends taking the same seq (or leaving a gap).
    conversation = Conversation.objects.select_for_update().get(pk=access.conversation.pk)
    seq = conversation.last_seq + 1
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation,
        seq=seq,
        sender=access.user,
        on_behalf_of=access.on_behalf_of,
        client_msg_id=client_msg_id,
        body=body,
        created_at=now,
    )
    fields = ["last_seq", "last_message_at"]
    conversation.last_seq = seq
    conversation.last_message_at = now
    if conversation.kind == ConversationKind.QUERY:
        # A staff answer marks the question answered; a patient's follow-up opens it again.
        conversation.status = QueryStatus.OPEN if access.patient_side else QueryStatus.ANSWERED
        fields.append("status")
    conversation.save(update_fields=fields)
    # The sender has read what they wrote.
    ReadState.objects.update_or_create(
        conversation=conversation,
        user=access.user,
        defaults={"delivered_seq": seq, "read_seq": seq, "updated_at": now},
    )
    audit_record(
        actor=access.user,
        action="messaging.message.send",
        target_type=TARGET,
        target_id=conversation.pk,
        patient=conversation.patient,
        reason=f"seq {seq}",
    )
    events.ring_new_messages(conversation.pk, seq)
    if conversation.kind == ConversationKind.QUERY:
        events.ring_staff_inbox(conversation.pk)
    message.conversation = conversation
    return message


def message_send(*, access: ConversationAccess, client_msg_id: str, body: str) -> tuple[Message, bool]:
    """Store a message and return it with True; a retry (same sender, same client_msg_id)
    returns the original with False and stores nothing. 409 when that id named a message of
    another conversation."""
    client_msg_id = _client_msg_id(client_msg_id)
    body = _body(body)
    closed = access.conversation.kind == ConversationKind.QUERY and access.conversation.status == QueryStatus.CLOSED
    # A patient writing to a closed question opens it again; staff reopen it first.
    if closed and not access.patient_side:
        raise MessagingError(
            "This question is closed; reopen it to answer.", MessagingErrorCode.CLOSED, status_code=409
        )
    original = _original(access, client_msg_id)
    if original is not None:
        return original, False
    try:
        with transaction.atomic(durable=True):
            return _store(access, body=body, client_msg_id=client_msg_id), True
    except IntegrityError:
        # The same retry raced itself (two sockets, or a socket and the API): the first won.
        original = _original(access, client_msg_id)
        if original is None:
            raise
        return original, False


def _original(access: ConversationAccess, client_msg_id: str) -> Message | None:
    original = (
        Message.objects.filter(sender=access.user, client_msg_id=client_msg_id)
        .select_related("sender", "on_behalf_of")
        .first()
    )
    if original is not None and original.conversation_id != access.conversation.pk:
        raise MessagingError(
            "That client_msg_id already names a message of another conversation.",
            MessagingErrorCode.CLIENT_MSG_ID_REUSED,
            status_code=409,
        )
    return original


def message_retract(*, access: ConversationAccess, message: Message) -> Message:
    """The sender takes a message back within 5 minutes: its text goes, the fact stays."""
    action = "messaging.message.retract"
    if message.sender_id != access.user.pk:
        audit_record_denied(
            actor=access.user,
            action=action,
            target_type=TARGET,
            target_id=access.conversation.pk,
            patient=access.conversation.patient,
            reason=f"seq {message.seq}: not the sender",
        )
        raise MessagingForbiddenError("Only the sender retracts a message.")
    if message.retracted_at is not None:
        return message
    if timezone.now() - message.created_at > RETRACT_WINDOW:
        raise MessagingError(
            "A message can be retracted for 5 minutes after it was sent.",
            MessagingErrorCode.RETRACT_TOO_LATE,
            status_code=409,
        )
    with transaction.atomic(durable=True):
        locked = Message.objects.select_for_update().get(pk=message.pk)
        locked.retracted_at = timezone.now()
        locked.body = ""
        locked.save(update_fields=["retracted_at", "body"])
        audit_record(
            actor=access.user,
            action=action,
            target_type=TARGET,
            target_id=access.conversation.pk,
            patient=access.conversation.patient,
            reason=f"seq {locked.seq}",
        )
        events.ring_retraction(access.conversation.pk, locked.seq)
    return locked


def read_state_advance(
    *, access: ConversationAccess, delivered_seq: int | None = None, read_seq: int | None = None
) -> ReadState:
    """Move the user's receipt forward (never back): delivered up to, read up to a seq. Read
    implies delivered; both stop at the conversation's last message."""
    last = Conversation.objects.values_list("last_seq", flat=True).get(pk=access.conversation.pk)
    with transaction.atomic(durable=True):
        state, _ = ReadState.objects.select_for_update().get_or_create(
            conversation_id=access.conversation.pk, user=access.user
        )
        read = min(max(state.read_seq, int(read_seq or 0)), last)
        delivered = min(max(state.delivered_seq, int(delivered_seq or 0), read), last)
        if (read, delivered) == (state.read_seq, state.delivered_seq):
            return state
        state.read_seq, state.delivered_seq, state.updated_at = read, delivered, timezone.now()
        state.save(update_fields=["read_seq", "delivered_seq", "updated_at"])
        events.ring_receipt(state)
    return state
