"""Messages over the API: an idempotent send, what a bad message meets, retraction, cursor
pages by `seq` both ways, and read receipts that never go back."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.factories import otp_verified_user
from audit.models import AuditEvent
from messaging.models import Message
from messaging.selectors import access_conversation_for_user
from messaging.services import message_send
from messaging.tests.api.conftest import conversation_url, new_id, said
from records.tests.api.conftest import assert_error, denied

pytestmark = pytest.mark.django_db


def messages_url(conversation) -> str:
    return conversation_url(conversation, "messages/")


class TestSend:
    def test_a_retried_send_stores_nothing_twice_and_answers_the_original(self, as_user, patient, care):
        client = as_user(patient)
        message = {"client_msg_id": "9b2f6c1e-retry", "body": "My ankle is still swollen."}

        first = client.post(messages_url(care), message)
        retry = client.post(messages_url(care), message)

        assert first.status_code == 201, first.content
        assert retry.status_code == 200, retry.content
        assert first.json() == retry.json()
        assert (first.json()["seq"], first.json()["body"], first.json()["type"]) == (
            1,
            "My ankle is still swollen.",
            "message",
        )
        assert Message.objects.filter(conversation=care).count() == 1

    @pytest.mark.parametrize("persona", ["patient", "doctor", "nurse"])
    def test_the_patient_and_the_care_team_write_in_their_own_name(self, request, as_user, care, persona):
        user = request.getfixturevalue(persona)

        response = as_user(user).post(messages_url(care), {"client_msg_id": new_id(), "body": "Hello"})

        assert response.status_code == 201, response.content
        assert response.json()["sender"] == {"id": user.pk, "name": user.full_name, "on_behalf_of": None}

    def test_a_proxy_writes_for_the_patient(self, as_user, proxy, care):
        response = as_user(proxy).post(messages_url(care), {"client_msg_id": new_id(), "body": "For my son"})

        assert response.status_code == 201, response.content
        assert response.json()["sender"] == {"id": proxy.pk, "name": "Paula Proxy", "on_behalf_of": "Pat Patient"}

    def test_a_client_msg_id_used_in_another_conversation_is_a_conflict(self, as_user, patient, care):
        client = as_user(patient)
        question = client.post(
            "/api/v1/conversations/queries/", {"subject": "Billing", "body": "A question", "client_msg_id": "same-id"}
        ).json()["conversation"]

        response = client.post(messages_url(care), {"client_msg_id": "same-id", "body": "Hello"})

        assert_error(response, 409, "client_msg_id_reused")
        assert not Message.objects.filter(conversation=care).exists()
        assert question["last_seq"] == 1

    @pytest.mark.parametrize(
        ("message", "code"),
        [
            ({"client_msg_id": "a1", "body": ""}, "message_empty"),
            ({"client_msg_id": "a1", "body": "   \n "}, "message_empty"),
            ({"client_msg_id": "a1", "body": "x" * 10_001}, "message_too_long"),
            ({"client_msg_id": "", "body": "Hello"}, "client_msg_id_invalid"),
            ({"client_msg_id": "has spaces", "body": "Hello"}, "client_msg_id_invalid"),
            ({"client_msg_id": "x" * 65, "body": "Hello"}, "client_msg_id_invalid"),
            ({"body": "Hello"}, "invalid"),
        ],
    )
    def test_a_bad_message_is_refused_with_its_code_and_nothing_is_stored(self, as_user, patient, care, message, code):
        assert_error(as_user(patient).post(messages_url(care), message), 400, code)

        assert not Message.objects.exists()

    @pytest.mark.parametrize("persona", ["outsider_patient", "outsider_doctor", "admin"])
    def test_outsiders_get_not_found_whatever_they_send_and_it_is_audited(self, request, as_user, care, persona):
        user = request.getfixturevalue(persona)

        assert_error(
            as_user(user).post(messages_url(care), {"client_msg_id": new_id(), "body": "Hi"}), 404, "not_found"
        )
        assert_error(as_user(user).post(messages_url(care), {}), 404, "not_found")

        assert len(denied(user, action="messaging.message.send")) == 2
        assert not Message.objects.exists()


class TestRetract:
    def test_the_sender_retracts_and_everyone_sees_that_a_message_was_retracted(self, as_user, patient, doctor, care):
        message = said(patient, care, "Wrong chat, sorry")

        response = as_user(patient).post(conversation_url(care, f"messages/{message.seq}/retract/"))
        seen = as_user(doctor).get(messages_url(care)).json()["results"]

        assert response.status_code == 200, response.content
        assert (response.json()["retracted"], response.json()["body"]) == (True, "")
        assert [(row["seq"], row["retracted"], row["body"]) for row in seen] == [(1, True, "")]
        assert AuditEvent.objects.filter(actor=patient, action="messaging.message.retract").exists()

    def test_another_participant_may_not_retract_it(self, as_user, patient, doctor, care):
        message = said(patient, care, "Only mine to take back")

        response = as_user(doctor).post(conversation_url(care, f"messages/{message.seq}/retract/"))

        assert_error(response, 403, "messaging_forbidden")
        message.refresh_from_db()
        assert (message.retracted_at, message.body) == (None, "Only mine to take back")
        assert len(denied(doctor, action="messaging.message.retract")) == 1

    def test_five_minutes_after_sending_it_is_too_late(self, as_user, patient, care):
        with time_machine.travel(timezone.now() - dt.timedelta(minutes=5, seconds=1)):
            message = said(patient, care, "Sent a while ago")

        response = as_user(patient).post(conversation_url(care, f"messages/{message.seq}/retract/"))

        assert_error(response, 409, "retract_too_late")
        message.refresh_from_db()
        assert message.retracted_at is None

    def test_an_unknown_message_is_not_found(self, as_user, patient, care):
        assert_error(as_user(patient).post(conversation_url(care, "messages/7/retract/")), 404, "not_found")

    def test_an_outsider_gets_not_found_and_the_attempt_is_audited(self, as_user, patient, outsider_patient, care):
        message = said(patient, care)

        response = as_user(outsider_patient).post(conversation_url(care, f"messages/{message.seq}/retract/"))

        assert_error(response, 404, "not_found")
        assert len(denied(outsider_patient, action="messaging.message.retract")) == 1


class TestPages:
    @pytest.fixture
    def long_chat(self, patient, doctor, care):
        # 250 messages through the service, the two sides taking turns.
        sides = [
            access_conversation_for_user(user, care.pk, record_read=False)
            for user in (patient, otp_verified_user(doctor))
        ]
        for n in range(1, 251):
            message_send(access=sides[n % 2], client_msg_id=f"m{n}", body=f"message {n}")
        return care

    def test_a_client_resumes_forward_from_its_last_seq_in_pages(self, as_user, patient, long_chat):
        client = as_user(patient)

        first = client.get(messages_url(long_chat), {"after_seq": 0}).json()
        second = client.get(messages_url(long_chat), {"after_seq": first["next_after_seq"], "limit": 100}).json()
        caught_up = client.get(messages_url(long_chat), {"after_seq": 250}).json()

        assert [row["seq"] for row in first["results"]] == list(range(1, 201))
        assert (first["next_after_seq"], first["last_seq"]) == (200, 250)
        assert [row["seq"] for row in second["results"]] == list(range(201, 251))
        assert second["next_after_seq"] is None
        assert second["results"][-1]["body"] == "message 250"
        assert (caught_up["results"], caught_up["next_after_seq"]) == ([], None)

    def test_a_client_scrolls_back_through_the_history(self, as_user, doctor, long_chat):
        client = as_user(doctor)
        newest = client.get(messages_url(long_chat)).json()
        assert [row["seq"] for row in newest["results"]] == list(range(201, 251))
        assert (newest["next_before_seq"], newest["next_after_seq"]) == (201, None)

        seen = [row["seq"] for row in newest["results"]]
        cursor = newest["next_before_seq"]
        pages = 1
        while cursor is not None:
            page = client.get(messages_url(long_chat), {"before_seq": cursor, "limit": 120}).json()
            seen = [row["seq"] for row in page["results"]] + seen
            cursor = page["next_before_seq"]
            pages += 1

        assert seen == list(range(1, 251))
        assert pages == 3
        assert page["results"][0]["body"] == "message 1"

    @pytest.mark.parametrize(
        "query",
        [{"after_seq": 1, "before_seq": 5}, {"limit": 201}, {"limit": 0}, {"after_seq": -1}, {"before_seq": "x"}],
    )
    def test_a_bad_cursor_is_refused(self, as_user, patient, care, query):
        assert_error(as_user(patient).get(messages_url(care), query), 400, "invalid")

    def test_reading_messages_is_audited_as_a_read(self, as_user, nurse, patient, care):
        said(patient, care)

        as_user(nurse).get(messages_url(care), {"after_seq": 0})

        event = AuditEvent.objects.get(actor=nurse, action="messaging.message.view")
        assert (event.outcome, event.patient_id, event.target_id) == ("success", patient.pk, str(care.pk))

    @pytest.mark.parametrize("persona", ["outsider_patient", "outsider_doctor", "admin"])
    def test_outsiders_get_not_found_and_it_is_audited(self, request, as_user, patient, care, persona):
        said(patient, care)
        user = request.getfixturevalue(persona)

        assert_error(as_user(user).get(messages_url(care), {"after_seq": 0}), 404, "not_found")
        assert len(denied(user, action="messaging.message.view")) == 1


class TestRead:
    def test_the_read_state_moves_forward_and_never_back(self, as_user, patient, doctor, care):
        for n in range(4):
            said(doctor, care, f"note {n}")
        client = as_user(patient)

        forward = client.post(conversation_url(care, "read/"), {"seq": 3})
        back = client.post(conversation_url(care, "read/"), {"seq": 1})
        past_the_end = client.post(conversation_url(care, "read/"), {"seq": 99})

        assert forward.status_code == 200, forward.content
        assert (forward.json()["user"], forward.json()["read_seq"], forward.json()["delivered_seq"]) == (
            patient.pk,
            3,
            3,
        )
        assert back.json()["read_seq"] == 3
        assert past_the_end.json()["read_seq"] == 4
        mine = as_user(patient).get(conversation_url(care)).json()
        assert (mine["read_seq"], mine["unread"]) == (4, 0)

    def test_a_nurse_marks_what_she_read_and_the_patient_sees_the_receipt(self, as_user, patient, nurse, care):
        said(patient, care, "Is my blood test back?")

        as_user(nurse).post(conversation_url(care, "read/"), {"seq": 1})
        states = as_user(patient).get(conversation_url(care)).json()["read_states"]

        assert {"user": nurse.pk, "name": "Nico Nurse", "read_seq": 1, "delivered_seq": 1}.items() <= next(
            state for state in states if state["user"] == nurse.pk
        ).items()

    def test_a_negative_seq_is_refused(self, as_user, patient, care):
        assert_error(as_user(patient).post(conversation_url(care, "read/"), {"seq": -1}), 400, "invalid")

    def test_an_outsider_gets_not_found_and_it_is_audited(self, as_user, outsider_doctor, care):
        assert_error(as_user(outsider_doctor).post(conversation_url(care, "read/"), {"seq": 1}), 404, "not_found")
        assert len(denied(outsider_doctor, action="messaging.receipt.read")) == 1
