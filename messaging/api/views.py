"""The messaging API for mobile clients: the caller's conversations, the care-team
conversation, questions to the clinic, messages (cursor pages by `seq`, idempotent send,
retraction), read receipts, and the clinic's shared inbox. Thin: selectors read (checking the
accounts policy and writing the audit trail), services write (checking it again); these views
parse, call one of them and render.

Who reaches what (see `messaging.selectors`): the patient and their proxy (messaging scope)
take part in the patient's conversations; the doctors and nurses caring for the patient in
the care-team conversation; every OTP-verified doctor and nurse in the queries of the shared
inbox. Admins take part in none. A conversation or patient that is not yours is 404 (audited
as denied); one you take part in but may not act on this way is 403 `messaging_forbidden`.
The conversation is checked before the body is read, so an outsider meets 404 whatever they
send.

Live updates come over `/ws/conversations/<id>/`; this API is what a client reads on start,
after a push, or when it resumes (`?after_seq=` its last seq).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role, Scope
from accounts.selectors import access_patient_for_user
from messaging.api.serializers import (
    ConversationDetailSerializer,
    ConversationSerializer,
    MessageSerializer,
    ReadStateSerializer,
    conversation_detail_data,
    conversations_data,
    messages_data,
)
from messaging.models import Conversation, ConversationKind, Message, QueryStatus
from messaging.selectors import (
    PAGE_MAX,
    access_conversation_for_user,
    conversations_for_user,
    conversations_shown,
    message_for_retraction,
    messages_after,
    messages_before,
    read_states,
    staff_inbox_for_user,
)
from messaging.services import (
    care_conversation_ensure,
    message_retract,
    message_send,
    query_claim,
    query_create,
    query_status_set,
    read_state_advance,
)
from messaging.services.conversations import MAX_BODY
from telemed.api.schema import error_response, page_of, paginated

HISTORY_PAGE = 50

READ_ERRORS = {
    401: error_response("not_authenticated"),
    403: error_response("otp_required: a staff login without two-step verification"),
    404: error_response("not_found: no such conversation, or not yours (the attempt is audited)"),
}
WRITE_ERRORS = {
    **READ_ERRORS,
    400: error_response("invalid, with `fields`"),
    403: error_response("messaging_forbidden: you take part in this conversation but may not do this; otp_required"),
    415: error_response("unsupported_media_type: send JSON"),
}
SEND_ERRORS = {
    **WRITE_ERRORS,
    400: error_response(
        "message_empty; message_too_long (over 10,000 characters); client_msg_id_invalid; invalid, with `fields`"
    ),
    409: error_response(
        "client_msg_id_reused: that id already names your message in another conversation; "
        "conversation_closed: staff reopen a closed query before answering"
    ),
}
CONVERSATION_PARAMETER = OpenApiParameter("conversation_id", OpenApiTypes.INT, OpenApiParameter.PATH)
SEQ_PARAMETER = OpenApiParameter(
    "seq", OpenApiTypes.INT, OpenApiParameter.PATH, description="The message's `seq` in the conversation."
)


def _detail(conversation: Any, user: Any) -> Any:
    return conversation_detail_data(conversation, user, read_states(conversation))


def message_frame_of(message: Message) -> Any:
    return MessageSerializer(message).data


def _patient_named(request: Request, patient_id: int | None, *, action: str) -> Any:
    """The patient a write is about: the one named, or the caller themself when a patient
    names nobody (a proxy names the patient they act for). 404, audited, for anyone else's."""
    user: Any = request.user
    if patient_id is None and user.role != Role.PATIENT:
        raise exceptions.ValidationError({"patient": ["Name the patient."]})
    named = user.pk if patient_id is None else patient_id
    patient, _decision = access_patient_for_user(user, named, action=action, scope=Scope.MESSAGING)
    return patient


def shown(user: Any, page: list[Conversation]) -> Any:
    """A page of a list, recorded as shown (one audit event per patient) and serialized."""
    conversations_shown(user, page)
    return conversations_data(page)


class PatientInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ConversationPatientInput"

    patient = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="Whose: the caller by default for a patient; a proxy or a clinician names the patient.",
    )


class MessageInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "MessageInput"

    # Length and emptiness are the service's to refuse, with their own codes.
    client_msg_id = serializers.CharField(
        allow_blank=True,
        help_text="The client's own id for the message (1 to 64 letters, digits, `-`, `_`; a UUID is fine), "
        "unique per sender: sending it again returns the original and stores nothing.",
    )
    body = serializers.CharField(
        allow_blank=True, trim_whitespace=False, help_text=f"The text, at most {MAX_BODY:,} characters."
    )


# --- conversations ---------------------------------------------------------------------------


class ConversationsApi(APIView):
    """The caller's conversations, newest activity first, with their unread counts. The patient
    and their proxy: the patient's care-team conversation and queries. A doctor or nurse: the
    care-team conversations of the patients in their care (queries are in the inbox)."""

    OutputSerializer = ConversationSerializer

    @extend_schema(
        operation_id="messaging_conversations_list",
        responses={
            200: page_of("ConversationPage", ConversationSerializer),
            401: READ_ERRORS[401],
            403: READ_ERRORS[403],
        },
    )
    def get(self, request: Request) -> Response:
        return paginated(request, self, conversations_for_user(request.user), lambda page: shown(request.user, page))


class CareTeamConversationApi(APIView):
    """The patient's conversation with their care team, made on first need by either side:
    201 when this call made it, 200 when it was there already."""

    InputSerializer = PatientInputSerializer
    OutputSerializer = ConversationDetailSerializer

    @extend_schema(
        operation_id="messaging_care_team_open",
        request=PatientInputSerializer,
        responses={
            200: ConversationDetailSerializer,
            201: ConversationDetailSerializer,
            **WRITE_ERRORS,
            400: error_response("invalid: no `patient` from anyone but a patient"),
            403: error_response(
                "messaging_forbidden: you may see the patient's chart but not their conversation (break-glass); "
                "otp_required"
            ),
            404: error_response("not_found: a patient who is not yours (audited)"),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        patient = _patient_named(request, data.validated_data.get("patient"), action="messaging.conversation.create")
        # The service returns the one row either way; whether it was there decides the status
        # (both sides opening it at the same moment may both hear 201: the same conversation).
        existed = Conversation.objects.filter(kind=ConversationKind.CARE_TEAM, patient=patient).exists()
        conversation = care_conversation_ensure(actor=request.user, patient=patient)
        return Response(
            _detail(conversation, request.user), status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        )


class QueryCreateApi(APIView):
    """The patient (or their proxy) asks the clinic a question: a new query in the staff's shared
    inbox with its first message. Idempotent by `client_msg_id`: sent again, it answers 200 with
    the same query and stores nothing."""

    class InputSerializer(MessageInputSerializer):
        class Meta:
            ref_name = "QueryCreateInput"

        patient = serializers.IntegerField(
            min_value=1, required=False, help_text="Whose question: the caller by default; a proxy names the patient."
        )
        subject = serializers.CharField(max_length=200, help_text="What it is about (stored encrypted).")

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "QueryCreated"

        conversation = ConversationDetailSerializer()
        message = MessageSerializer(help_text="The first message.")

    @extend_schema(
        operation_id="messaging_query_create",
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            200: OutputSerializer,
            **SEND_ERRORS,
            400: error_response(
                "invalid, with `fields` (no subject); message_empty; message_too_long; client_msg_id_invalid"
            ),
            403: error_response("messaging_forbidden: questions come from the patient or their proxy; otp_required"),
            404: error_response("not_found: a patient who is not yours (audited)"),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        patient = _patient_named(request, params.get("patient"), action="messaging.query.create")
        # The service answers a retry with the original message; whether this call is one
        # decides the status (the caller's own message by their own id, nobody else's).
        retry = Message.objects.filter(sender=request.user, client_msg_id=params["client_msg_id"]).exists()
        message = query_create(
            actor=request.user,
            patient=patient,
            subject=params["subject"],
            body=params["body"],
            client_msg_id=params["client_msg_id"],
        )
        body = {"conversation": _detail(message.conversation, request.user), "message": message_frame_of(message)}
        return Response(body, status=status.HTTP_200_OK if retry else status.HTTP_201_CREATED)


class ConversationApi(APIView):
    """One conversation, with every participant's read state. Audited as a read."""

    OutputSerializer = ConversationDetailSerializer

    @extend_schema(
        operation_id="messaging_conversation_get",
        parameters=[CONVERSATION_PARAMETER],
        responses={200: ConversationDetailSerializer, **READ_ERRORS},
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        access = access_conversation_for_user(request.user, conversation_id)
        return Response(_detail(access.conversation, request.user))


# --- messages --------------------------------------------------------------------------------


class MessagesApi(APIView):
    """GET: a page of messages in `seq` order, by cursor. `after_seq=N`: those after N, oldest
    first (resume: N is the last seq the client has). `before_seq=N`: the ones just before N
    (history, scrolling back). Neither: the newest. Audited as a read.
    POST: send a message (idempotent by `client_msg_id`): 201 stored now, 200 when a retry
    found the original."""

    class ListInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "MessageListQuery"

        after_seq = serializers.IntegerField(
            min_value=0, required=False, help_text="Messages after this seq, oldest first (0: from the start)."
        )
        before_seq = serializers.IntegerField(
            min_value=1, required=False, help_text="Messages before this seq (history, scrolling back)."
        )
        limit = serializers.IntegerField(
            min_value=1,
            max_value=PAGE_MAX,
            required=False,
            help_text=f"At most this many: {PAGE_MAX} by default after a seq, {HISTORY_PAGE} otherwise; "
            f"at most {PAGE_MAX}.",
        )

        def validate(self, attrs: dict) -> dict:
            if "after_seq" in attrs and "before_seq" in attrs:
                raise serializers.ValidationError({"before_seq": ["Give after_seq or before_seq, not both."]})
            return attrs

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "MessagePage"

        results = MessageSerializer(many=True, help_text="In seq order, oldest first.")
        last_seq = serializers.IntegerField(help_text="The conversation's newest seq when read.")
        next_after_seq = serializers.IntegerField(
            allow_null=True, help_text="Ask `after_seq=` this for the next page forward; null when none is newer."
        )
        next_before_seq = serializers.IntegerField(
            allow_null=True, help_text="Ask `before_seq=` this for older messages; null when none is older."
        )

    InputSerializer = MessageInputSerializer

    @extend_schema(
        operation_id="messaging_messages_list",
        parameters=[CONVERSATION_PARAMETER, ListInputSerializer],
        responses={
            200: OutputSerializer,
            **READ_ERRORS,
            400: error_response("invalid: a bad seq or limit, or both cursors"),
        },
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        access = access_conversation_for_user(request.user, conversation_id, action="messaging.message.view")
        query = self.ListInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        conversation = access.conversation
        if "after_seq" in params:
            rows = messages_after(conversation, params["after_seq"], limit=params.get("limit", PAGE_MAX))
        else:
            rows = messages_before(conversation, params.get("before_seq"), limit=params.get("limit", HISTORY_PAGE))
        # Seqs have no gaps: what lies beyond a page follows from its ends and the last seq.
        newest = max(conversation.last_seq, rows[-1].seq if rows else 0)
        page = {
            "results": messages_data(rows),
            "last_seq": newest,
            "next_after_seq": rows[-1].seq if rows and rows[-1].seq < newest else None,
            "next_before_seq": rows[0].seq if rows and rows[0].seq > 1 else None,
        }
        return Response(page)

    @extend_schema(
        operation_id="messaging_message_send",
        parameters=[CONVERSATION_PARAMETER],
        request=MessageInputSerializer,
        responses={201: MessageSerializer, 200: MessageSerializer, **SEND_ERRORS},
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        access = access_conversation_for_user(
            request.user, conversation_id, action="messaging.message.send", record_read=False
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message, created = message_send(access=access, **data.validated_data)
        return Response(message_frame_of(message), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class MessageRetractApi(APIView):
    """The sender takes a message back within 5 minutes of sending it: its text goes, the
    retraction stays visible to everyone and is audited. Retracting twice answers the same."""

    OutputSerializer = MessageSerializer

    @extend_schema(
        operation_id="messaging_message_retract",
        parameters=[CONVERSATION_PARAMETER, SEQ_PARAMETER],
        request=None,
        responses={
            200: MessageSerializer,
            **READ_ERRORS,
            403: error_response("messaging_forbidden: only the sender retracts; otp_required"),
            404: error_response("not_found: no such conversation or message, or not yours (audited)"),
            409: error_response("retract_too_late: more than 5 minutes after sending"),
        },
    )
    def post(self, request: Request, conversation_id: int, seq: int) -> Response:
        access = access_conversation_for_user(
            request.user, conversation_id, action="messaging.message.retract", record_read=False
        )
        message = message_retract(access=access, message=message_for_retraction(access, seq))
        return Response(message_frame_of(message))


class ReadApi(APIView):
    """The caller has read the conversation up to `seq` (and so received it): their read state,
    which never goes back and stops at the newest message."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ConversationReadInput"

        seq = serializers.IntegerField(min_value=0, help_text="The newest seq the caller has read.")

    OutputSerializer = ReadStateSerializer

    @extend_schema(
        operation_id="messaging_conversation_read",
        parameters=[CONVERSATION_PARAMETER],
        request=InputSerializer,
        responses={200: ReadStateSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        access = access_conversation_for_user(
            request.user, conversation_id, action="messaging.receipt.read", record_read=False
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        state = read_state_advance(access=access, read_seq=data.validated_data["seq"])
        return Response(ReadStateSerializer(state).data)


# --- the clinic's shared inbox ---------------------------------------------------------------


class InboxApi(APIView):
    """The clinic's shared inbox of patient questions, for OTP-verified doctors and nurses:
    open ones first, then answered, then closed; the longest waiting first within each. Anyone
    else has none (an empty page), as a prescriber's keys list is empty for whoever is no
    doctor."""

    class ListInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "InboxQuery"

        status = serializers.ChoiceField(choices=QueryStatus.choices, required=False, help_text="Only this status.")

    OutputSerializer = ConversationSerializer

    @extend_schema(
        operation_id="messaging_inbox_list",
        parameters=[ListInputSerializer],
        responses={
            200: page_of("InboxPage", ConversationSerializer),
            401: READ_ERRORS[401],
            403: READ_ERRORS[403],
            400: error_response("invalid: an unknown status"),
        },
    )
    def get(self, request: Request) -> Response:
        query = self.ListInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = staff_inbox_for_user(request.user, status=query.validated_data.get("status"))
        return paginated(request, self, rows, lambda page: shown(request.user, page))


class QueryClaimApi(APIView):
    """A doctor or nurse takes a query from the shared inbox (or takes it over from a colleague;
    the trail says from whom)."""

    OutputSerializer = ConversationDetailSerializer

    @extend_schema(
        operation_id="messaging_query_claim",
        parameters=[CONVERSATION_PARAMETER],
        request=None,
        responses={
            200: ConversationDetailSerializer,
            **READ_ERRORS,
            403: error_response("messaging_forbidden: only clinic staff claim, and only a query; otp_required"),
        },
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        access = access_conversation_for_user(
            request.user, conversation_id, action="messaging.query.claim", record_read=False
        )
        conversation = query_claim(access=access)
        return Response(_detail(conversation, request.user))


class QueryStatusApi(APIView):
    """Staff mark a query open, answered or closed; the patient's side may close their own. (A
    staff answer marks it answered, and the patient's next message opens it again, by
    themselves.)"""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "QueryStatusInput"

        status = serializers.ChoiceField(choices=QueryStatus.choices)

    OutputSerializer = ConversationDetailSerializer

    @extend_schema(
        operation_id="messaging_query_status",
        parameters=[CONVERSATION_PARAMETER],
        request=InputSerializer,
        responses={
            200: ConversationDetailSerializer,
            **WRITE_ERRORS,
            400: error_response("invalid, with `fields`; messaging_invalid: a care-team conversation has no status"),
            403: error_response("messaging_forbidden: the patient's side only closes; otp_required"),
        },
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        access = access_conversation_for_user(
            request.user, conversation_id, action="messaging.query.status", record_read=False
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = query_status_set(access=access, status=data.validated_data["status"])
        return Response(_detail(conversation, request.user))
