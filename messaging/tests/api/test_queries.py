"""Questions to the clinic over the API: the patient asks, the shared inbox shows it, a nurse
claims and answers it, the patient's follow-up opens it again; statuses, and who may do what."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import NurseFactory
from audit.models import AuditEvent
from messaging.models import Conversation, ConversationKind, Message
from messaging.services import query_create
from messaging.tests.api.conftest import API, conversation_url, new_id
from records.tests.api.conftest import assert_error, denied

pytestmark = pytest.mark.django_db

QUERIES = f"{API}/conversations/queries/"
INBOX = f"{API}/inbox/"


def ask(client, **fields):
    return client.post(QUERIES, {"subject": "Repeat prescription", "body": "Can I get more?", **fields})


@pytest.fixture
def question(patient) -> Conversation:
    message = query_create(
        actor=patient, patient=patient, subject="Travel vaccines", body="Which do I need?", client_msg_id=new_id()
    )
    return message.conversation


def test_a_patients_question_is_claimed_answered_and_reopened_by_their_follow_up(as_user, patient, nurse):
    patient_api, nurse_api = as_user(patient), as_user(nurse)

    created = ask(patient_api, client_msg_id="q-1", subject="Sick note", body="I need one for work.")
    assert created.status_code == 201, created.content
    conversation = created.json()["conversation"]
    assert (conversation["kind"], conversation["subject"], conversation["status"]) == ("query", "Sick note", "open")
    assert (created.json()["message"]["seq"], created.json()["message"]["body"]) == (1, "I need one for work.")

    inbox = nurse_api.get(INBOX).json()
    assert [(row["id"], row["status"], row["unread"]) for row in inbox["results"]] == [(conversation["id"], "open", 1)]

    claimed = nurse_api.post(conversation_url(conversation["id"], "claim/"))
    assert claimed.status_code == 200, claimed.content
    assert claimed.json()["claimed_by"] == {"id": nurse.pk, "name": "Nico Nurse"}

    answer = nurse_api.post(
        conversation_url(conversation["id"], "messages/"), {"client_msg_id": "n-1", "body": "Sent to your inbox."}
    )
    assert answer.status_code == 201, answer.content
    assert nurse_api.get(conversation_url(conversation["id"])).json()["status"] == "answered"
    assert nurse_api.get(INBOX, {"status": "open"}).json()["count"] == 0

    follow_up = patient_api.post(
        conversation_url(conversation["id"], "messages/"), {"client_msg_id": "q-2", "body": "Thanks, got it."}
    )
    assert follow_up.status_code == 201
    reopened = nurse_api.get(INBOX, {"status": "open"}).json()["results"]
    assert [(row["id"], row["last_seq"], row["claimed_by"]["id"]) for row in reopened] == [
        (conversation["id"], 3, nurse.pk)
    ]


def test_asking_again_with_the_same_client_msg_id_answers_the_same_question(as_user, patient):
    client = as_user(patient)

    first = ask(client, client_msg_id="retry-1")
    retry = ask(client, client_msg_id="retry-1")

    assert (first.status_code, retry.status_code) == (201, 200)
    assert first.json()["conversation"]["id"] == retry.json()["conversation"]["id"]
    assert first.json()["message"] == retry.json()["message"]
    assert Conversation.objects.filter(kind=ConversationKind.QUERY).count() == 1
    assert Message.objects.count() == 1


def test_a_proxy_asks_for_the_patient(as_user, proxy, patient):
    response = ask(as_user(proxy), patient=patient.pk, client_msg_id=new_id())

    assert response.status_code == 201, response.content
    assert response.json()["conversation"]["patient"]["id"] == patient.pk
    assert response.json()["message"]["sender"]["on_behalf_of"] == "Pat Patient"


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"subject": ""}, 400, "invalid"),
        ({"body": ""}, 400, "message_empty"),
        ({"body": "x" * 10_001}, 400, "message_too_long"),
        ({"client_msg_id": "not valid!"}, 400, "client_msg_id_invalid"),
    ],
)
def test_a_bad_question_is_refused_with_its_code(as_user, patient, fields, status, code):
    assert_error(ask(as_user(patient), **{"client_msg_id": new_id(), **fields}), status, code)

    assert not Conversation.objects.exists()


def test_a_doctor_does_not_ask_the_clinic_on_a_patients_behalf(as_user, doctor, patient):
    assert_error(ask(as_user(doctor), patient=patient.pk, client_msg_id=new_id()), 403, "messaging_forbidden")

    assert len(denied(doctor, action="messaging.query.create")) == 1


@pytest.mark.parametrize("persona", ["outsider_patient", "outsider_doctor", "admin"])
def test_outsiders_naming_the_patient_get_not_found_and_it_is_audited(request, as_user, patient, persona):
    user = request.getfixturevalue(persona)

    assert_error(ask(as_user(user), patient=patient.pk, client_msg_id=new_id()), 404, "not_found")

    assert len(denied(user, action="messaging.query.create")) == 1
    assert not Conversation.objects.exists()


class TestInbox:
    def test_every_verified_doctor_and_nurse_sees_the_shared_inbox(self, as_user, question, outsider_doctor):
        other_nurse = NurseFactory(full_name="Nell Nurse")

        for user in (outsider_doctor, other_nurse):
            assert [row["id"] for row in as_user(user).get(INBOX).json()["results"]] == [question.pk]

    @pytest.mark.parametrize("persona", ["patient", "proxy", "admin"])
    def test_whoever_does_not_answer_questions_has_an_empty_inbox(self, request, as_user, question, persona):
        body = as_user(request.getfixturevalue(persona)).get(INBOX).json()

        assert (body["count"], body["results"]) == (0, [])

    def test_a_status_filters_and_an_unknown_one_is_refused(self, as_user, nurse, question):
        client = as_user(nurse)

        assert client.get(INBOX, {"status": "closed"}).json()["count"] == 0
        assert client.get(INBOX, {"status": "open"}).json()["count"] == 1
        assert_error(client.get(INBOX, {"status": "lost"}), 400, "invalid")

    def test_the_inbox_costs_the_same_queries_however_many_questions(
        self, as_user, nurse, patient, django_assert_max_num_queries
    ):
        def asked() -> None:
            query_create(actor=patient, patient=patient, subject="A question", body="?", client_msg_id=new_id())

        client = as_user(nurse)
        asked()
        client.get(INBOX)
        with CaptureQueriesContext(connection) as one:
            client.get(INBOX)
        queries = len(one)
        for _ in range(5):
            asked()

        with django_assert_max_num_queries(queries):
            assert client.get(INBOX).json()["count"] == 6


class TestClaimAndStatus:
    def test_a_patient_cannot_claim_their_own_question(self, as_user, patient, question):
        assert_error(as_user(patient).post(conversation_url(question, "claim/")), 403, "messaging_forbidden")

    def test_a_care_team_conversation_is_not_claimed(self, as_user, doctor, care):
        assert_error(as_user(doctor).post(conversation_url(care, "claim/")), 403, "messaging_forbidden")

    def test_a_colleague_takes_a_question_over_and_the_trail_says_from_whom(self, as_user, nurse, doctor, question):
        as_user(nurse).post(conversation_url(question, "claim/"))

        taken = as_user(doctor).post(conversation_url(question, "claim/"))

        assert taken.json()["claimed_by"]["id"] == doctor.pk
        event = AuditEvent.objects.get(actor=doctor, action="messaging.query.claim")
        assert event.reason == f"taken over from user #{nurse.pk}"

    def test_the_patient_closes_their_question_but_does_not_mark_it_answered(self, as_user, patient, question):
        client = as_user(patient)

        assert_error(
            client.post(conversation_url(question, "status/"), {"status": "answered"}), 403, "messaging_forbidden"
        )
        closed = client.post(conversation_url(question, "status/"), {"status": "closed"})

        assert closed.status_code == 200, closed.content
        assert closed.json()["status"] == "closed"

    def test_staff_reopen_a_closed_question_before_answering_it(self, as_user, nurse, question):
        client = as_user(nurse)
        client.post(conversation_url(question, "status/"), {"status": "closed"})

        refused = client.post(conversation_url(question, "messages/"), {"client_msg_id": new_id(), "body": "Hi"})
        reopened = client.post(conversation_url(question, "status/"), {"status": "open"})
        answered = client.post(conversation_url(question, "messages/"), {"client_msg_id": new_id(), "body": "Hi"})

        assert_error(refused, 409, "conversation_closed")
        assert reopened.json()["status"] == "open"
        assert answered.status_code == 201

    def test_a_care_team_conversation_has_no_status(self, as_user, doctor, care):
        response = as_user(doctor).post(conversation_url(care, "status/"), {"status": "closed"})

        assert_error(response, 400, "messaging_invalid")

    def test_an_unknown_status_is_refused(self, as_user, nurse, question):
        assert_error(as_user(nurse).post(conversation_url(question, "status/"), {"status": "lost"}), 400, "invalid")

    @pytest.mark.parametrize("persona", ["outsider_patient", "admin"])
    def test_outsiders_get_not_found_and_it_is_audited(self, request, as_user, question, persona):
        user = request.getfixturevalue(persona)
        client = as_user(user)

        assert_error(client.post(conversation_url(question, "claim/")), 404, "not_found")
        assert_error(client.post(conversation_url(question, "status/"), {"status": "closed"}), 404, "not_found")
        assert_error(client.get(conversation_url(question)), 404, "not_found")

        assert [event.action for event in denied(user)] == [
            "messaging.query.claim",
            "messaging.query.status",
            "messaging.conversation.view",
        ]
