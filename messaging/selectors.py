"""Reads of the messaging app, every one through the accounts policy and into the audit trail.

Who reaches a conversation (its participants; everyone else meets 404, audited as denied):

| conversation | the patient | a proxy (messaging scope) | doctors, nurses caring for them | other staff   |
| ------------ | ----------- | ------------------------- | ------------------------------- | ------------- |
| care team    | yes         | yes ("X for Y")           | yes (OTP-verified)              | no            |
| query        | yes         | yes                       | yes (the shared inbox)          | yes (inbox)   |

The shared inbox is every OTP-verified doctor's and nurse's.

Admins never by role (they hold no health data). Break-glass opens a chart, not a patient's
conversations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Case, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.http import Http404

from accounts.models import Role, Scope, User
from accounts.policy import VIA_CARE, VIA_CARE_TEAM, VIA_PROXY, VIA_SELF, chart_access, otp_verified
from accounts.selectors import patients_list_for_provider, proxy_grants_for_user
from audit.services import audit_record, audit_record_denied
from messaging.models import Conversation, ConversationKind, Message, QueryStatus, ReadState
from telemed.ids import positive_id

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

VIEW_ACTION = "messaging.conversation.view"
TARGET = "messaging.conversation"
PATIENT_SIDE = frozenset({VIA_SELF, VIA_PROXY})
CARE_SIDE = frozenset({VIA_CARE, VIA_CARE_TEAM})
STAFF_INBOX = "staff_inbox"
# The most a replay or a page returns at once (a client asks again from the last seq).
PAGE_MAX = 200


def _is_staff_clinician(user) -> bool:
    return getattr(user, "role", None) in (Role.DOCTOR, Role.NURSE) and user.is_active and otp_verified(user)


def standing(user: User | AnonymousUser | None, conversation: Conversation) -> str | None:
    """How `user` takes part in `conversation` (self, proxy, care, care_team, staff_inbox), or
    None. Pure: the interfaces' access selectors audit."""
    if user is None or not user.is_authenticated:
        return None
    decision = chart_access(user, conversation.patient, scope=Scope.MESSAGING)
    if decision.allowed and decision.via in PATIENT_SIDE:
        return decision.via
    if conversation.kind == ConversationKind.CARE_TEAM:
        return decision.via if decision.allowed and decision.via in CARE_SIDE else None
    if _is_staff_clinician(user):
        return STAFF_INBOX
    return None


@dataclass(frozen=True)
class ConversationAccess:
    conversation: Conversation
    user: User
    via: str

    @property
    def patient_side(self) -> bool:
        return self.via in PATIENT_SIDE

    @property
    def on_behalf_of(self) -> User | None:
        """The patient a proxy writes for."""
        return self.conversation.patient if self.via == VIA_PROXY else None


def access_conversation_for_user(
    user: User | AnonymousUser | None,
    conversation_id: object,
    *,
    action: str = VIEW_ACTION,
    record_read: bool = True,
) -> ConversationAccess:
    """A conversation named by an outside id, if `user` takes part (table above); Http404,
    audited as denied, otherwise. A read is audited as `action` unless `record_read=False`."""
    pk = positive_id(conversation_id)
    conversation = Conversation.objects.select_related("patient", "claimed_by").filter(pk=pk).first() if pk else None
    via = standing(user, conversation) if conversation is not None else None
    if conversation is None or via is None:
        audit_record_denied(
            actor=user,
            action=action,
            target_type=TARGET,
            target_id=str(conversation_id)[:64],
            patient=conversation.patient if conversation is not None else None,
            reason="not a participant" if conversation is not None else "no such conversation",
        )
        raise Http404("No such conversation.")
    if record_read:
        with transaction.atomic():
            audit_record(
                actor=user, action=action, target_type=TARGET, target_id=conversation.pk, patient=conversation.patient
            )
    return ConversationAccess(conversation=conversation, user=user, via=via)  # type: ignore[arg-type]


def care_patients_for_messaging(user: User) -> list[User]:
    """The patients whose care-team conversation `user` may open: themself, those they are a
    proxy for (messaging scope), or those in their care (an OTP-verified doctor or nurse)."""
    if user.role == Role.PATIENT:
        patients = [user] if chart_access(user, user).allowed else []
        grants = proxy_grants_for_user(user).select_related("patient")
        patients += [grant.patient for grant in grants if grant.covers(Scope.MESSAGING)]
        return patients
    if _is_staff_clinician(user):
        return list(patients_list_for_provider(user))
    return []


def _unread(user: User) -> Subquery:
    read = ReadState.objects.filter(conversation=OuterRef("pk"), user=user).values("read_seq")[:1]
    return Coalesce(Subquery(read), Value(0))


def conversations_for_user(user: User) -> QuerySet[Conversation]:
    """The conversations `user` takes part in (newest activity first), each annotated with
    `read_seq` and `unread` (messages after what they read)."""
    patients = care_patients_for_messaging(user)
    mine = Q(patient__in=patients)
    if user.role != Role.PATIENT:
        # Staff: their patients' care-team conversations; queries are in the shared inbox.
        mine = Q(patient__in=patients, kind=ConversationKind.CARE_TEAM)
    return (
        Conversation.objects.filter(mine)
        .select_related("patient", "claimed_by")
        .annotate(read_seq=_unread(user))
        .annotate(unread=F("last_seq") - F("read_seq"))
        .order_by(F("last_message_at").desc(nulls_last=True), "-pk")
    )


def staff_inbox_for_user(user: User, *, status: str | None = None) -> QuerySet[Conversation]:
    """The clinic's shared inbox of patient questions (OTP-verified doctors and nurses): open
    ones first, then answered, then closed; oldest waiting first within a status."""
    if not _is_staff_clinician(user):
        return Conversation.objects.none()
    rows = Conversation.objects.filter(kind=ConversationKind.QUERY)
    if status:
        rows = rows.filter(status=status)
    order = {QueryStatus.OPEN: 0, QueryStatus.ANSWERED: 1, QueryStatus.CLOSED: 2}
    rank = Case(*(When(status=key, then=Value(value)) for key, value in order.items()), output_field=IntegerField())
    return (
        rows.select_related("patient", "claimed_by")
        .annotate(read_seq=_unread(user), rank=rank)
        .annotate(unread=F("last_seq") - F("read_seq"))
        .order_by("rank", "last_message_at", "pk")
    )


def messages_after(conversation: Conversation, after_seq: int, *, limit: int = PAGE_MAX) -> list[Message]:
    """Messages with seq > `after_seq`, in order, at most `limit` (a replay asks again from
    the last one it got)."""
    return list(
        Message.objects.filter(conversation=conversation, seq__gt=max(0, after_seq))
        .select_related("sender", "on_behalf_of")
        .order_by("seq")[: max(1, min(limit, PAGE_MAX))]
    )


def messages_before(conversation: Conversation, before_seq: int | None, *, limit: int = 50) -> list[Message]:
    """The `limit` messages before `before_seq` (the newest without it), oldest first: the
    history a client scrolls back through."""
    rows = Message.objects.filter(conversation=conversation).select_related("sender", "on_behalf_of")
    if before_seq is not None:
        rows = rows.filter(seq__lt=before_seq)
    page = list(rows.order_by("-seq")[: max(1, min(limit, PAGE_MAX))])
    return page[::-1]


def message_for_retraction(access: ConversationAccess, seq: object) -> Message:
    """A message of the conversation by its seq (Http404 if there is none)."""
    number = positive_id(seq)
    message = (
        Message.objects.select_related("sender").filter(conversation=access.conversation, seq=number).first()
        if number
        else None
    )
    if message is None:
        raise Http404("No such message.")
    return message


def read_states(conversation: Conversation) -> list[ReadState]:
    return list(ReadState.objects.filter(conversation=conversation).select_related("user"))


def unread_total(user: User) -> int:
    """How many messages `user` has not read, over their conversations (the badge)."""
    rows = conversations_for_user(user).values_list("unread", flat=True)
    return sum(max(0, value) for value in rows)


LIST_ACTION = "messaging.conversation.list"


def conversations_shown(user: User, conversations: list[Conversation], *, action: str = LIST_ACTION) -> None:
    """Record that a list (the inbox, the staff's shared inbox) showed `user` these
    conversations — patients' names, question subjects, unread counts: one audit event per
    patient shown, so each patient's access log says so. A patient's own list is theirs."""
    patients: dict[int, User] = {}
    for conversation in conversations:
        if conversation.patient_id != user.pk:
            patients[conversation.patient_id] = conversation.patient
    if not patients:
        return
    with transaction.atomic():
        for patient in patients.values():
            audit_record(actor=user, action=action, target_type=TARGET, patient=patient, reason="listed")
