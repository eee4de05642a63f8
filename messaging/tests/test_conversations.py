"""Conversations and messages at the service level: who takes part, gapless ordered seqs,
idempotent sends, retraction, receipts, the clinic's shared inbox, and the doorbell rung
only after commit."""

import datetime as dt

import pytest
import time_machine
from django.http import Http404
from django.utils import timezone

from accounts.tests.factories import otp_verified_user
from audit.models import AuditEvent, Outcome
from messaging.errors import MessagingError, MessagingForbiddenError
from messaging.models import Conversation, ConversationKind, Message, QueryStatus, ReadState
from messaging.selectors import (
    access_conversation_for_user,
    conversations_for_user,
    messages_after,
    messages_before,
    staff_inbox_for_user,
    unread_total,
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
from records.tests.conftest import run_together  # noqa: F401 — the fixture, re-exported

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinician(doctor):
    return otp_verified_user(doctor)


@pytest.fixture
def care(patient):
    return care_conversation_ensure(actor=patient, patient=patient)


def opened(user, conversation):
    return access_conversation_for_user(user, conversation.pk, record_read=False)


def send(user, conversation, body, client_msg_id):
    return message_send(access=opened(user, conversation), client_msg_id=client_msg_id, body=body)


# --- Who takes part ---------------------------------------------------------------------------


def test_the_patient_their_proxy_and_their_care_team_take_part(care, patient, proxy, clinician, nurse):
    assert opened(patient, care).via == "self"
    assert opened(proxy, care).via == "proxy"
    assert opened(clinician, care).via == "care"
    assert opened(otp_verified_user(nurse), care).via == "care_team"


@pytest.mark.parametrize("persona", ["outsider_patient", "outsider_doctor", "admin"])
def test_anyone_else_meets_404_audited_as_denied(request, care, persona):
    user = request.getfixturevalue(persona)
    if user.is_staff_role:
        user = otp_verified_user(user)

    with pytest.raises(Http404):
        access_conversation_for_user(user, care.pk)

    assert AuditEvent.objects.filter(actor=user, outcome=Outcome.DENIED, action="messaging.conversation.view").exists()


def test_staff_without_a_verified_sign_in_take_no_part(care, doctor):
    with pytest.raises(Http404):
        access_conversation_for_user(doctor, care.pk)


def test_an_unknown_id_is_404(patient):
    with pytest.raises(Http404):
        access_conversation_for_user(patient, 999_999)


def test_one_care_team_conversation_per_patient_whoever_opens_it(care, patient, clinician):
    assert care_conversation_ensure(actor=clinician, patient=patient) == care
    assert Conversation.objects.filter(kind=ConversationKind.CARE_TEAM).count() == 1


def test_an_outsider_cannot_open_a_patients_care_team_conversation(patient, outsider_doctor):
    with pytest.raises(MessagingForbiddenError):
        care_conversation_ensure(actor=otp_verified_user(outsider_doctor), patient=patient)
    assert not Conversation.objects.exists()


# --- Messages ---------------------------------------------------------------------------------


def test_messages_get_gapless_seqs_in_order(care, patient, clinician):
    first, _ = send(patient, care, "My knee hurts again.", "p-1")
    second, _ = send(clinician, care, "Since when?", "d-1")
    third, _ = send(patient, care, "Since Monday.", "p-2")

    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert [m.body for m in messages_after(care, 1)] == ["Since when?", "Since Monday."]
    care.refresh_from_db()
    assert care.last_seq == 3


def test_a_retried_send_stores_nothing_twice_and_returns_the_original(care, patient):
    original, created = send(patient, care, "Hello", "same-id")
    again, created_again = send(patient, care, "Hello (sent twice)", "same-id")

    assert (created, created_again) == (True, False)
    assert again.pk == original.pk and again.body == "Hello"
    assert Message.objects.count() == 1


def test_a_client_msg_id_reused_in_another_conversation_is_refused(care, patient):
    send(patient, care, "Hello", "used-once")
    query = query_create(actor=patient, patient=patient, subject="Billing", body="A question", client_msg_id="q-1")

    with pytest.raises(MessagingError) as refused:
        send(patient, query.conversation, "Hello", "used-once")

    assert (refused.value.status_code, refused.value.code) == (409, "client_msg_id_reused")


@pytest.mark.parametrize(
    ("body", "client_msg_id", "code"),
    [
        ("   ", "ok-1", "message_empty"),
        ("x" * 10_001, "ok-1", "message_too_long"),
        ("Hello", "", "client_msg_id_invalid"),
        ("Hello", "has spaces", "client_msg_id_invalid"),
        ("Hello", "x" * 65, "client_msg_id_invalid"),
    ],
)
def test_bad_input_is_refused_with_a_clear_code_and_stores_nothing(care, patient, body, client_msg_id, code):
    with pytest.raises(MessagingError) as refused:
        send(patient, care, body, client_msg_id)

    assert refused.value.code == code
    assert not Message.objects.exists()


def test_a_proxy_writes_for_the_patient(care, proxy, patient):
    message, _ = send(proxy, care, "Asking for my mother.", "proxy-1")

    assert (message.sender, message.on_behalf_of) == (proxy, patient)


def test_the_text_is_encrypted_at_rest(care, patient):
    from django.db import connection

    send(patient, care, "Secret symptom marker-7731", "enc-1")
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM messaging_message")
        [(stored,)] = cursor.fetchall()

    assert "marker-7731" not in stored


def test_every_send_is_audited_with_the_patient(care, patient):
    send(patient, care, "Hello", "audit-1")

    event = AuditEvent.objects.get(action="messaging.message.send")
    assert (event.actor, event.patient, event.reason) == (patient, patient, "seq 1")


def test_the_doorbell_rings_only_after_commit(care, patient, django_capture_on_commit_callbacks):
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        send(patient, care, "Hello", "bell-1")
    assert len(callbacks) == 1

    from asgiref.sync import async_to_sync

    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"conversation.{care.pk}", channel)
    callbacks[0]()
    assert async_to_sync(layer.receive)(channel) == {"type": "conversation.changed", "seq": 1}


@pytest.mark.django_db(transaction=True)
def test_concurrent_sends_take_distinct_gapless_seqs(patient, doctor, run_together):  # noqa: F811
    conversation = care_conversation_ensure(actor=patient, patient=patient)
    clinician = otp_verified_user(doctor)

    results = run_together(
        [
            (lambda index=index: send(patient if index % 2 else clinician, conversation, f"m{index}", f"c-{index}")[0])
            for index in range(8)
        ]
    )

    assert not [result for result in results if isinstance(result, Exception)], results
    assert sorted(message.seq for message in results) == list(range(1, 9))


@pytest.mark.django_db(transaction=True)
def test_a_retry_racing_itself_stores_one_message(patient, run_together):  # noqa: F811
    conversation = care_conversation_ensure(actor=patient, patient=patient)

    results = run_together([lambda: send(patient, conversation, "Once", "racing-id")[0] for _ in range(4)])

    assert not [result for result in results if isinstance(result, Exception)], results
    assert len({message.pk for message in results}) == 1
    assert Message.objects.count() == 1


# --- Retraction -------------------------------------------------------------------------------


def test_the_sender_retracts_within_five_minutes_and_everyone_sees_it_was_retracted(care, patient):
    message, _ = send(patient, care, "Wrong chat, sorry", "r-1")

    retracted = message_retract(access=opened(patient, care), message=message)

    assert retracted.retracted_at is not None and retracted.body == ""
    assert messages_after(care, 0)[0].retracted_at is not None
    assert AuditEvent.objects.filter(action="messaging.message.retract", actor=patient).exists()


def test_after_five_minutes_a_message_stays(care, patient):
    message, _ = send(patient, care, "Too late to take back", "r-2")

    later = time_machine.travel(timezone.now() + dt.timedelta(minutes=5, seconds=1))
    with later, pytest.raises(MessagingError) as refused:
        message_retract(access=opened(patient, care), message=message)

    assert refused.value.code == "retract_too_late"


def test_only_the_sender_retracts(care, patient, clinician):
    message, _ = send(patient, care, "Mine", "r-3")

    with pytest.raises(MessagingForbiddenError):
        message_retract(access=opened(clinician, care), message=message)
    assert Message.objects.get().retracted_at is None


# --- Receipts and unread counts ---------------------------------------------------------------


def test_read_state_moves_forward_only_and_stops_at_the_last_message(care, patient, clinician):
    for index in range(3):
        send(patient, care, f"m{index}", f"u-{index}")
    access = opened(clinician, care)

    read_state_advance(access=access, read_seq=2)
    state = read_state_advance(access=access, read_seq=1)
    assert (state.read_seq, state.delivered_seq) == (2, 2)
    state = read_state_advance(access=access, delivered_seq=99)
    assert (state.read_seq, state.delivered_seq) == (2, 3)


def test_unread_counts_follow_what_each_side_read(care, patient, clinician):
    send(patient, care, "One", "n-1")
    send(patient, care, "Two", "n-2")

    assert [c.unread for c in conversations_for_user(clinician)] == [2]
    assert unread_total(patient) == 0
    read_state_advance(access=opened(clinician, care), read_seq=2)
    assert unread_total(clinician) == 0
    assert ReadState.objects.get(user=clinician).read_seq == 2


def test_history_pages_backwards_by_seq(care, patient):
    for index in range(7):
        send(patient, care, f"m{index}", f"h-{index}")

    assert [m.seq for m in messages_before(care, None, limit=3)] == [5, 6, 7]
    assert [m.seq for m in messages_before(care, 5, limit=3)] == [2, 3, 4]


def test_the_conversation_list_takes_the_same_queries_for_one_or_many(
    patient, clinician, django_assert_max_num_queries
):
    care_conversation_ensure(actor=patient, patient=patient)
    with django_assert_max_num_queries(8) as few:
        list(conversations_for_user(patient))
    for index in range(4):
        query_create(actor=patient, patient=patient, subject=f"Q{index}", body="?", client_msg_id=f"ql-{index}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        list(conversations_for_user(patient))


# --- Questions to the clinic (the shared inbox) -----------------------------------------------


def test_a_question_reaches_the_shared_inbox_a_nurse_claims_and_answers_it(patient, nurse, outsider_doctor):
    first = query_create(
        actor=patient, patient=patient, subject="Repeat letter", body="Can I get one?", client_msg_id="q"
    )
    staff = otp_verified_user(nurse)
    stranger = otp_verified_user(outsider_doctor)

    assert [c.pk for c in staff_inbox_for_user(staff)] == [first.conversation_id]
    # The inbox is the clinic's: any verified doctor or nurse, care relationship or not.
    assert [c.pk for c in staff_inbox_for_user(stranger)] == [first.conversation_id]
    access = opened(staff, first.conversation)
    claimed = query_claim(access=access)
    assert claimed.claimed_by == staff
    message_send(access=access, client_msg_id="answer-1", body="Yes, it is ready at the desk.")

    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.status == QueryStatus.ANSWERED
    send(patient, conversation, "Thanks, one more thing…", "q-2")
    conversation.refresh_from_db()
    assert conversation.status == QueryStatus.OPEN


def test_only_staff_claim_and_the_patient_may_close_their_question(patient):
    first = query_create(actor=patient, patient=patient, subject="Parking", body="Where?", client_msg_id="q")
    access = opened(patient, first.conversation)

    with pytest.raises(MessagingForbiddenError):
        query_claim(access=access)
    with pytest.raises(MessagingForbiddenError):
        query_status_set(access=access, status=QueryStatus.ANSWERED)
    assert query_status_set(access=access, status=QueryStatus.CLOSED).status == QueryStatus.CLOSED


def test_staff_cannot_ask_the_clinic_questions(patient, clinician):
    with pytest.raises(MessagingForbiddenError):
        query_create(actor=clinician, patient=patient, subject="S", body="B", client_msg_id="x")


def test_patients_and_admins_have_no_shared_inbox(patient, admin):
    query_create(actor=patient, patient=patient, subject="S", body="B", client_msg_id="x")

    assert list(staff_inbox_for_user(patient)) == []
    assert list(staff_inbox_for_user(otp_verified_user(admin))) == []


def test_a_query_retry_returns_the_first_message_and_makes_one_conversation(patient):
    first = query_create(actor=patient, patient=patient, subject="S", body="B", client_msg_id="same")
    again = query_create(actor=patient, patient=patient, subject="S", body="B", client_msg_id="same")

    assert again.pk == first.pk
    assert Conversation.objects.filter(kind=ConversationKind.QUERY).count() == 1


def test_a_query_cannot_reuse_the_id_of_a_care_team_message(care, patient):
    send(patient, care, "Hello", "shared-id")

    with pytest.raises(MessagingError) as refused:
        query_create(actor=patient, patient=patient, subject="S", body="B", client_msg_id="shared-id")

    assert (refused.value.status_code, refused.value.code) == (409, "client_msg_id_reused")
    assert not Conversation.objects.filter(kind=ConversationKind.QUERY).exists()


@pytest.mark.django_db(transaction=True)
def test_a_query_retry_racing_itself_makes_one_question(patient, run_together):  # noqa: F811
    results = run_together(
        [
            lambda: query_create(actor=patient, patient=patient, subject="S", body="B", client_msg_id="race-q")
            for _ in range(4)
        ]
    )

    assert not [result for result in results if isinstance(result, Exception)], results
    assert len({message.pk for message in results}) == 1
    assert Conversation.objects.filter(kind=ConversationKind.QUERY).count() == 1
