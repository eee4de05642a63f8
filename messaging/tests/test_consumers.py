"""The conversation socket over the real ASGI stack: who may open it, resume with hello,
idempotent acknowledged sends, live messages in seq order, typing, receipts, retraction, and
bad or excessive input answered with error events."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache

from accounts.services.mfa import mfa_reset
from accounts.services.sessions import user_sessions_end_all
from accounts.tests.factories import otp_verified_user
from audit.models import AuditEvent, Outcome
from messaging.consumers import (
    CLOSE_FLOODING,
    CLOSE_NOT_FOUND,
    CLOSE_SESSION_REVOKED,
    CLOSE_UNAUTHENTICATED,
    MAX_FRAME_BYTES,
    RATE_FRAMES,
)
from messaging.models import Conversation, Message
from messaging.selectors import access_conversation_for_user
from messaging.services import care_conversation_ensure, message_send
from messaging.tests.ws import drain, frames_until, hello, of_type, open_socket, seqs, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The typing throttle lives in the cache; ids repeat between tests on SQLite.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def conversation(patient, doctor, nurse):
    return care_conversation_ensure(actor=patient, patient=patient)


@sync_to_async
def say(user, conversation, body: str, client_msg_id: str) -> Message:
    """A message sent outside the socket (another device, the API)."""
    if user.role != "patient":
        user = otp_verified_user(user)
    access = access_conversation_for_user(user, conversation.pk)
    return message_send(access=access, client_msg_id=client_msg_id, body=body)[0]


async def ready_socket(user, conversation, last_seq: int = 0):
    communicator, connected, _ = await open_socket(user, conversation.pk)
    assert connected
    await hello(communicator, last_seq)
    return communicator


def is_message(seq: int):
    return lambda frame: frame["type"] == "message" and frame["seq"] == seq


class TestOpening:
    async def test_an_anonymous_socket_is_refused(self, conversation):
        communicator, connected, code = await open_socket(None, conversation.pk)
        await communicator.disconnect()

        assert (connected, code) == (False, CLOSE_UNAUTHENTICATED)

    async def test_a_patient_outside_the_conversation_is_refused_and_audited(self, conversation, outsider_patient):
        communicator, connected, code = await open_socket(outsider_patient, conversation.pk)
        await communicator.disconnect()

        assert (connected, code) == (False, CLOSE_NOT_FOUND)
        denied = AuditEvent.objects.filter(
            actor=outsider_patient, action="messaging.conversation.open", outcome=Outcome.DENIED
        )
        assert await denied.aexists()

    async def test_a_doctor_outside_the_care_team_is_refused(self, conversation, outsider_doctor):
        communicator, connected, code = await open_socket(outsider_doctor, conversation.pk)
        await communicator.disconnect()

        assert (connected, code) == (False, CLOSE_NOT_FOUND)

    async def test_an_unknown_conversation_is_refused_like_someone_elses(self, conversation, patient):
        communicator, connected, code = await open_socket(patient, conversation.pk + 1000)
        await communicator.disconnect()

        assert (connected, code) == (False, CLOSE_NOT_FOUND)

    async def test_a_doctor_without_a_verified_second_factor_is_refused(self, conversation, doctor):
        communicator, connected, code = await open_socket(doctor, conversation.pk, otp=False)
        await communicator.disconnect()

        assert (connected, code) == (False, CLOSE_UNAUTHENTICATED)

    async def test_a_session_verified_with_a_since_removed_authenticator_is_refused(self, conversation, doctor, admin):
        cookie = await sync_to_async(session_cookie)(doctor)
        await sync_to_async(mfa_reset)(actor=admin, user=doctor, reason="lost phone")

        communicator, connected, code = await open_socket(doctor, conversation.pk, cookie=cookie)
        await communicator.disconnect()

        assert (connected, code) == (False, CLOSE_UNAUTHENTICATED)

    async def test_a_socket_from_another_origin_is_refused(self, conversation, patient):
        communicator, connected, _ = await open_socket(
            patient, conversation.pk, origin=(b"origin", b"https://evil.example")
        )
        await communicator.disconnect()

        assert not connected

    async def test_a_doctor_and_a_nurse_of_the_care_team_open_it_with_verified_sessions(
        self, conversation, doctor, nurse
    ):
        for user in (doctor, nurse):
            communicator, connected, _ = await open_socket(user, conversation.pk)
            await communicator.disconnect()
            assert connected, user.role

    async def test_ending_the_users_sessions_closes_their_socket(self, conversation, patient):
        communicator = await ready_socket(patient, conversation)
        try:
            await sync_to_async(user_sessions_end_all)(actor=patient)

            output = await communicator.receive_output(timeout=3)

            assert output == {"type": "websocket.close", "code": CLOSE_SESSION_REVOKED}
        finally:
            await communicator.disconnect()


class TestResuming:
    async def test_hello_replays_what_the_client_missed_then_says_ready(self, conversation, patient, doctor):
        await say(patient, conversation, "First", "p-1")
        await say(doctor, conversation, "Second", "d-1")
        await say(patient, conversation, "Third", "p-2")
        communicator, connected, _ = await open_socket(doctor, conversation.pk)
        try:
            assert connected
            frames = await hello(communicator, last_seq=1)

            assert seqs(frames) == [2, 3]
            assert [frame["body"] for frame in of_type(frames, "message")] == ["Second", "Third"]
            assert frames[-1] == {"type": "ready", "conversation": conversation.pk, "last_seq": 3}
        finally:
            await communicator.disconnect()

    async def test_nothing_is_streamed_before_hello(self, conversation, patient, doctor):
        communicator, connected, _ = await open_socket(doctor, conversation.pk)
        try:
            assert connected
            await say(patient, conversation, "Are you there?", "p-1")

            assert await communicator.receive_nothing(timeout=0.5)
            assert seqs(await hello(communicator)) == [1]
        finally:
            await communicator.disconnect()

    async def test_messages_sent_while_a_socket_was_gone_are_replayed_on_reconnect(self, conversation, patient, doctor):
        patient_socket = await ready_socket(patient, conversation)
        doctor_socket = await ready_socket(doctor, conversation)
        try:
            await patient_socket.send_json_to({"type": "send", "client_msg_id": "p-1", "body": "Hello"})
            assert seqs(await frames_until(doctor_socket, is_message(1))) == [1]
            await doctor_socket.disconnect()

            for number in (2, 3):
                await patient_socket.send_json_to({"type": "send", "client_msg_id": f"p-{number}", "body": "More"})
            await frames_until(patient_socket, is_message(3))
            doctor_socket, connected, _ = await open_socket(doctor, conversation.pk)
            assert connected
            replayed = await hello(doctor_socket, last_seq=1)
        finally:
            await patient_socket.disconnect()
            await doctor_socket.disconnect()

        assert seqs(replayed) == [2, 3]

    async def test_a_reconnecting_client_gets_the_missed_messages_once_and_then_live_ones(
        self, conversation, patient, doctor
    ):
        await say(patient, conversation, "Before", "p-1")
        doctor_socket, connected, _ = await open_socket(doctor, conversation.pk)
        try:
            assert connected
            await say(patient, conversation, "While connecting", "p-2")
            replay = await hello(doctor_socket, last_seq=0)
            await say(patient, conversation, "After ready", "p-3")
            live = await frames_until(doctor_socket, is_message(3))
            live += await drain(doctor_socket)
        finally:
            await doctor_socket.disconnect()

        assert seqs(replay) == [1, 2]
        assert seqs(live) == [3]

    async def test_a_long_absence_is_replayed_in_pages_and_in_order(self, conversation, patient, doctor):
        @sync_to_async
        def many():
            # Rows written directly: 205 audited sends would only slow the test down.
            Message.objects.bulk_create(
                Message(conversation=conversation, seq=seq, sender=patient, client_msg_id=f"p-{seq}", body=f"#{seq}")
                for seq in range(1, 206)
            )
            Conversation.objects.filter(pk=conversation.pk).update(last_seq=205)

        await many()
        communicator = await ready_socket(doctor, conversation, last_seq=2)
        try:
            await communicator.send_json_to({"type": "hello", "last_seq": 2})
            frames = await frames_until(communicator, lambda frame: frame["type"] == "ready")
        finally:
            await communicator.disconnect()

        assert seqs(frames) == list(range(3, 206))
        assert frames[-1]["last_seq"] == 205

    async def test_a_second_hello_replays_again_from_its_last_seq(self, conversation, patient, doctor):
        for number in (1, 2, 3):
            await say(patient, conversation, f"Message {number}", f"p-{number}")
        communicator = await ready_socket(doctor, conversation)
        try:
            again = await hello(communicator, last_seq=1)
        finally:
            await communicator.disconnect()

        assert seqs(again) == [2, 3]

    async def test_a_last_seq_beyond_the_conversation_still_receives_new_messages(self, conversation, patient, doctor):
        await say(patient, conversation, "One", "p-1")
        communicator, connected, _ = await open_socket(doctor, conversation.pk)
        try:
            assert connected
            frames = await hello(communicator, last_seq=50)
            await say(patient, conversation, "Two", "p-2")
            live = await frames_until(communicator, is_message(2))
        finally:
            await communicator.disconnect()

        assert frames[-1]["last_seq"] == 1
        assert seqs(live) == [2]


class TestSending:
    async def test_a_send_is_acked_once_and_reaches_both_participants_in_order(self, conversation, patient, doctor):
        patient_socket = await ready_socket(patient, conversation)
        doctor_socket = await ready_socket(doctor, conversation)
        try:
            await patient_socket.send_json_to({"type": "send", "client_msg_id": "p-1", "body": "My knee hurts"})
            await patient_socket.send_json_to({"type": "send", "client_msg_id": "p-2", "body": "Since Monday"})
            patient_frames = await frames_until(patient_socket, is_message(2)) + await drain(patient_socket)
            doctor_frames = await frames_until(doctor_socket, is_message(2)) + await drain(doctor_socket)
        finally:
            await patient_socket.disconnect()
            await doctor_socket.disconnect()

        messages = await sync_to_async(list)(Message.objects.filter(conversation=conversation).order_by("seq"))
        acks = of_type(patient_frames, "ack")
        assert [(ack["client_msg_id"], ack["seq"], ack["id"]) for ack in acks] == [
            ("p-1", 1, messages[0].pk),
            ("p-2", 2, messages[1].pk),
        ]
        assert seqs(patient_frames) == seqs(doctor_frames) == [1, 2]
        assert [frame["body"] for frame in of_type(doctor_frames, "message")] == ["My knee hurts", "Since Monday"]
        assert of_type(doctor_frames, "message")[0]["sender"] == {
            "id": patient.pk,
            "name": "Pat Patient",
            "on_behalf_of": None,
        }
        assert of_type(doctor_frames, "ack") == []

    async def test_a_retried_client_msg_id_is_acked_with_the_original_seq_and_stored_once(
        self, conversation, patient, doctor
    ):
        patient_socket = await ready_socket(patient, conversation)
        doctor_socket = await ready_socket(doctor, conversation)
        try:
            frame = {"type": "send", "client_msg_id": "retry-me", "body": "Once only"}
            await patient_socket.send_json_to(frame)
            await patient_socket.send_json_to(frame)
            patient_frames = await frames_until(patient_socket, is_message(1)) + await drain(patient_socket)
            doctor_frames = await frames_until(doctor_socket, is_message(1)) + await drain(doctor_socket)
        finally:
            await patient_socket.disconnect()
            await doctor_socket.disconnect()

        assert [(ack["client_msg_id"], ack["seq"]) for ack in of_type(patient_frames, "ack")] == [
            ("retry-me", 1),
            ("retry-me", 1),
        ]
        assert seqs(patient_frames) == seqs(doctor_frames) == [1]
        assert await Message.objects.filter(conversation=conversation).acount() == 1

    async def test_concurrent_sends_from_two_sockets_arrive_in_seq_order_everywhere(
        self, conversation, patient, doctor
    ):
        patient_socket = await ready_socket(patient, conversation)
        doctor_socket = await ready_socket(doctor, conversation)
        try:
            await asyncio.gather(
                *(
                    socket.send_json_to(
                        {"type": "send", "client_msg_id": f"{name}-{number}", "body": f"{name} {number}"}
                    )
                    for number in range(8)
                    for socket, name in ((patient_socket, "p"), (doctor_socket, "d"))
                )
            )
            patient_frames = await frames_until(patient_socket, is_message(16)) + await drain(patient_socket)
            doctor_frames = await frames_until(doctor_socket, is_message(16)) + await drain(doctor_socket)
        finally:
            await patient_socket.disconnect()
            await doctor_socket.disconnect()

        assert seqs(patient_frames) == seqs(doctor_frames) == list(range(1, 17))
        assert sorted(ack["seq"] for ack in of_type(patient_frames + doctor_frames, "ack")) == list(range(1, 17))
        stored = await sync_to_async(list)(
            Message.objects.filter(conversation=conversation).order_by("seq").values_list("client_msg_id", flat=True)
        )
        assert [frame["client_msg_id"] for frame in of_type(doctor_frames, "message")] == stored

    async def test_a_proxy_writes_for_the_patient(self, conversation, proxy, doctor):
        proxy_socket = await ready_socket(proxy, conversation)
        doctor_socket = await ready_socket(doctor, conversation)
        try:
            await proxy_socket.send_json_to({"type": "send", "client_msg_id": "x-1", "body": "Kim has a fever"})
            frames = await frames_until(doctor_socket, is_message(1))
        finally:
            await proxy_socket.disconnect()
            await doctor_socket.disconnect()

        assert frames[-1]["sender"] == {"id": proxy.pk, "name": "Paula Proxy", "on_behalf_of": "Pat Patient"}

    async def test_a_send_the_service_refuses_gets_an_error_naming_its_client_msg_id(self, conversation, patient):
        communicator = await ready_socket(patient, conversation)
        try:
            await communicator.send_json_to({"type": "send", "client_msg_id": "p-1", "body": "   "})
            error = await communicator.receive_json_from()
            await communicator.send_json_to({"type": "send", "client_msg_id": "p-1", "body": "Now with words"})
            ack = await communicator.receive_json_from()
        finally:
            await communicator.disconnect()

        assert error == {
            "type": "error",
            "code": "message_empty",
            "detail": "Write something before sending.",
            "ref": "p-1",
        }
        assert (ack["type"], ack["seq"]) == ("ack", 1)


class TestLiveSignals:
    async def test_typing_reaches_the_other_participant_only_and_is_throttled(self, conversation, patient, doctor):
        patient_socket = await ready_socket(patient, conversation)
        second_tab = await ready_socket(patient, conversation)
        doctor_socket = await ready_socket(doctor, conversation)
        try:
            await doctor_socket.send_json_to({"type": "typing"})
            seen = await patient_socket.receive_json_from()
            await doctor_socket.send_json_to({"type": "typing"})
            await second_tab.receive_json_from()

            assert seen == {
                "type": "typing",
                "conversation": conversation.pk,
                "user": doctor.pk,
                "name": doctor.full_name,
            }
            assert await patient_socket.receive_nothing(timeout=0.5)
            assert await doctor_socket.receive_nothing()
        finally:
            await patient_socket.disconnect()
            await second_tab.disconnect()
            await doctor_socket.disconnect()

    async def test_typing_in_another_tab_of_the_same_user_is_throttled_too(self, conversation, patient, doctor):
        first_tab = await ready_socket(doctor, conversation)
        second_tab = await ready_socket(doctor, conversation)
        patient_socket = await ready_socket(patient, conversation)
        try:
            await first_tab.send_json_to({"type": "typing"})
            await patient_socket.receive_json_from()
            await second_tab.send_json_to({"type": "typing"})

            assert await patient_socket.receive_nothing(timeout=0.5)
        finally:
            await first_tab.disconnect()
            await second_tab.disconnect()
            await patient_socket.disconnect()

    async def test_delivery_and_read_receipts_reach_the_other_side(self, conversation, patient, doctor):
        patient_socket = await ready_socket(patient, conversation)
        doctor_socket = await ready_socket(doctor, conversation)
        try:
            await patient_socket.send_json_to({"type": "send", "client_msg_id": "p-1", "body": "Results?"})
            delivered = await frames_until(
                patient_socket, lambda frame: frame["type"] == "receipt" and frame["user"] == doctor.pk
            )
            await frames_until(doctor_socket, is_message(1))
            await doctor_socket.send_json_to({"type": "read", "seq": 1})
            read = await frames_until(
                patient_socket,
                lambda frame: frame["type"] == "receipt" and frame["user"] == doctor.pk and frame["read_seq"] == 1,
            )
        finally:
            await patient_socket.disconnect()
            await doctor_socket.disconnect()

        assert delivered[-1] == {
            "type": "receipt",
            "conversation": conversation.pk,
            "user": doctor.pk,
            "name": doctor.full_name,
            "delivered_seq": 1,
            "read_seq": 0,
        }
        assert read[-1]["delivered_seq"] == 1

    async def test_hello_sends_where_everyone_has_read_to(self, conversation, patient, doctor):
        await say(patient, conversation, "Hello", "p-1")
        communicator, connected, _ = await open_socket(doctor, conversation.pk)
        try:
            assert connected
            frames = await hello(communicator, last_seq=1)
        finally:
            await communicator.disconnect()

        receipts = {frame["user"]: (frame["delivered_seq"], frame["read_seq"]) for frame in of_type(frames, "receipt")}
        assert receipts == {patient.pk: (1, 1)}

    async def test_a_retraction_reaches_everyone(self, conversation, patient, doctor):
        patient_socket = await ready_socket(patient, conversation)
        doctor_socket = await ready_socket(doctor, conversation)
        try:
            await patient_socket.send_json_to({"type": "send", "client_msg_id": "p-1", "body": "Wrong chat"})
            await frames_until(doctor_socket, is_message(1))
            await frames_until(patient_socket, is_message(1))
            await patient_socket.send_json_to({"type": "retract", "seq": 1})
            retracted = [(await frames_until(socket, is_message(1)))[-1] for socket in (patient_socket, doctor_socket)]
        finally:
            await patient_socket.disconnect()
            await doctor_socket.disconnect()

        for frame in retracted:
            assert (frame["retracted"], frame["body"]) == (True, "")
            assert frame["retracted_at"] is not None

    async def test_retracting_someone_elses_message_is_refused(self, conversation, patient, doctor):
        await say(patient, conversation, "Mine", "p-1")
        communicator = await ready_socket(doctor, conversation)
        try:
            await communicator.send_json_to({"type": "retract", "seq": 1})
            error = await frames_until(communicator, lambda frame: frame["type"] == "error")
            await communicator.send_json_to({"type": "retract", "seq": 9})
            missing = await frames_until(communicator, lambda frame: frame["type"] == "error")
        finally:
            await communicator.disconnect()

        assert error[-1]["code"] == "messaging_forbidden"
        assert missing[-1]["code"] == "not_found"
        assert (await Message.objects.aget(conversation=conversation, seq=1)).retracted_at is None


class TestBadInput:
    async def test_bad_frames_get_error_events_and_the_socket_stays_open(self, conversation, patient):
        communicator, connected, _ = await open_socket(patient, conversation.pk)
        try:
            assert connected
            errors = []
            not_objects = ("not json", "[1, 2]", "[" * 60_000, '{"no": "type"}')
            for raw in (*not_objects, '{"type": "dance"}', '{"type": "hello"}'):
                await communicator.send_to(text_data=raw)
                errors.append(await communicator.receive_json_from())
            await communicator.send_to(bytes_data=b"\x00\x01")
            errors.append(await communicator.receive_json_from())
            await communicator.send_json_to({"type": "send", "client_msg_id": "p-1", "body": {"html": "<b>"}})
            errors.append(await communicator.receive_json_from())
            await communicator.send_json_to({"type": "read", "seq": True})
            errors.append(await communicator.receive_json_from())

            still_open = await hello(communicator)
        finally:
            await communicator.disconnect()

        assert [error["code"] for error in errors] == [
            "bad_frame",
            "bad_frame",
            "bad_frame",
            "bad_frame",
            "unknown_type",
            "invalid_field",
            "bad_frame",
            "invalid_field",
            "invalid_field",
        ]
        assert all(error["type"] == "error" and error["detail"] for error in errors)
        assert errors[7]["ref"] == "p-1"
        assert still_open[-1]["type"] == "ready"

    async def test_an_oversized_frame_is_refused_and_the_socket_stays_open(self, conversation, patient):
        communicator = await ready_socket(patient, conversation)
        try:
            body = "é" * (MAX_FRAME_BYTES // 2)  # fewer characters than the limit, more bytes
            await communicator.send_json_to({"type": "send", "client_msg_id": "p-1", "body": body})
            error = await communicator.receive_json_from()
            await communicator.send_json_to({"type": "send", "client_msg_id": "p-2", "body": "Short"})
            ack = await communicator.receive_json_from()
        finally:
            await communicator.disconnect()

        assert (error["type"], error["code"]) == ("error", "frame_too_large")
        assert (ack["type"], ack["seq"]) == ("ack", 1)
        assert await Message.objects.filter(conversation=conversation).acount() == 1

    async def test_a_flood_is_rate_limited_and_the_socket_stays_open(self, conversation, patient):
        communicator = await ready_socket(patient, conversation)
        try:
            for _ in range(RATE_FRAMES + 5):
                await communicator.send_json_to({"type": "typing"})
            refused = await drain(communicator)
            await asyncio.sleep(1.1)
            after_a_second = await hello(communicator)
        finally:
            await communicator.disconnect()

        # The hello of ready_socket counts as one of the second's frames.
        assert [frame["code"] for frame in refused] == ["rate_limited"] * 6
        assert after_a_second[-1]["type"] == "ready"

    async def test_sustained_flooding_closes_the_socket(self, conversation, patient):
        communicator = await ready_socket(patient, conversation)
        try:
            for _ in range(150):
                await communicator.send_json_to({"type": "typing"})
            outputs = []
            while True:
                output = await communicator.receive_output(timeout=3)
                outputs.append(output)
                if output["type"] == "websocket.close":
                    break
        finally:
            await communicator.disconnect()

        assert outputs[-1] == {"type": "websocket.close", "code": CLOSE_FLOODING}
        assert len(outputs) == 1 + 100
