"""Shapes shared by the messaging endpoints: a conversation (in a list, and alone with the
participants' read states), a message, a read state.

A message is exactly the frame a WebSocket client gets (`messaging.events.message_frame`), so
a mobile client parses one shape whichever way a message reached it; the serializer below only
describes that frame to the schema. No rules live here (those are the services').
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from messaging.events import message_frame
from messaging.models import Conversation, ConversationKind, Message, QueryStatus, ReadState

# --- people ---------------------------------------------------------------------------------


class PartySerializer(serializers.Serializer):
    class Meta:
        ref_name = "ConversationParty"

    id = serializers.IntegerField()
    name = serializers.CharField(source="full_name")


# --- messages -------------------------------------------------------------------------------


class SenderSerializer(serializers.Serializer):
    class Meta:
        ref_name = "MessageSender"

    id = serializers.IntegerField()
    name = serializers.CharField()
    on_behalf_of = serializers.CharField(
        allow_null=True, help_text='The patient a proxy wrote for ("Paula Proxy for Pat Patient"); null otherwise.'
    )


class MessageSerializer(serializers.Serializer):
    """One message, as `messaging.events.message_frame` builds it for every client."""

    class Meta:
        ref_name = "Message"

    type = serializers.CharField(help_text="Always `message` (the same frame as on the WebSocket).")
    conversation = serializers.IntegerField()
    seq = serializers.IntegerField(help_text="1, 2, ... without gaps in its conversation: the resume cursor.")
    id = serializers.IntegerField()
    client_msg_id = serializers.CharField(help_text="The sender's own id for it; a retried send returns this one.")
    sender = SenderSerializer()
    body = serializers.CharField(help_text="Empty once retracted.")
    created_at = serializers.DateTimeField()
    retracted = serializers.BooleanField()
    retracted_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, message: Message) -> dict[str, Any]:
        return message_frame(message)


def messages_data(messages: Iterable[Message]) -> list[dict[str, Any]]:
    return [message_frame(message) for message in messages]


# --- read states ----------------------------------------------------------------------------


class ReadStateSerializer(serializers.Serializer):
    """How far one participant has received and read the conversation (never goes back)."""

    class Meta:
        ref_name = "ConversationReadState"

    user = serializers.IntegerField(source="user_id")
    name = serializers.CharField(source="user.full_name")
    delivered_seq = serializers.IntegerField()
    read_seq = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


# --- conversations --------------------------------------------------------------------------


class ConversationSerializer(serializers.Serializer):
    """A conversation as the caller sees it. Rows from `conversations_for_user` and
    `staff_inbox_for_user` carry the caller's `read_seq`; for a single conversation the view
    passes it in the context (`read_seq`)."""

    class Meta:
        ref_name = "Conversation"

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(
        choices=ConversationKind.choices,
        help_text="`care_team`: the patient with their care team; `query`: a question to the clinic's shared inbox.",
    )
    patient = PartySerializer()
    subject = serializers.CharField(help_text="A query's subject; empty for a care-team conversation.")
    status = serializers.SerializerMethodField(help_text="A query's status; null for a care-team conversation.")
    claimed_by = PartySerializer(allow_null=True, help_text="The staff member who took the query; null otherwise.")
    created_at = serializers.DateTimeField()
    last_seq = serializers.IntegerField(help_text="The seq of the newest message (0: none yet).")
    last_message_at = serializers.DateTimeField(allow_null=True)
    read_seq = serializers.SerializerMethodField(help_text="How far the caller has read.")
    unread = serializers.SerializerMethodField(help_text="Messages after `read_seq`.")

    @extend_schema_field(serializers.ChoiceField(choices=QueryStatus.choices, allow_null=True))
    def get_status(self, conversation: Conversation) -> str | None:
        return conversation.status if conversation.kind == ConversationKind.QUERY else None

    @extend_schema_field(OpenApiTypes.INT)
    def get_read_seq(self, conversation: Conversation) -> int:
        annotated = getattr(conversation, "read_seq", None)
        return annotated if annotated is not None else self.context.get("read_seq", 0)

    @extend_schema_field(OpenApiTypes.INT)
    def get_unread(self, conversation: Conversation) -> int:
        return max(0, conversation.last_seq - self.get_read_seq(conversation))


class ConversationDetailSerializer(ConversationSerializer):
    """One conversation with every participant's read state (the receipts to show)."""

    class Meta:
        ref_name = "ConversationDetail"

    read_states = serializers.SerializerMethodField()

    @extend_schema_field(ReadStateSerializer(many=True))
    def get_read_states(self, conversation: Conversation) -> Any:
        return ReadStateSerializer(self.context["read_states"], many=True).data


def conversations_data(conversations: Iterable[Conversation]) -> Any:
    """Rows annotated with the caller's `read_seq` (the list selectors do)."""
    return ConversationSerializer(list(conversations), many=True).data


def conversation_detail_data(conversation: Conversation, user: Any, states: list[ReadState]) -> Any:
    """One conversation for `user`, with the read states of `messaging.selectors.read_states`."""
    mine = next((state.read_seq for state in states if state.user_id == user.pk), 0)
    context = {"read_seq": mine, "read_states": states}
    return ConversationDetailSerializer(conversation, context=context).data
