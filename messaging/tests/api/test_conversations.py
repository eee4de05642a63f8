"""Conversations over the API: the caller's list with unread counts, the care-team
conversation made on first need, one conversation with the participants' read states, and
what outsiders and unverified staff meet."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.services.access import breakglass_open
from accounts.tests.factories import CareRelationshipFactory, VerifiedPatientFactory, otp_verified_user
from audit.models import AuditEvent
from messaging.models import Conversation
from messaging.services import care_conversation_ensure, query_create
from messaging.tests.api.conftest import API, conversation_url, new_id, said
from records.tests.api.conftest import assert_error, denied

pytestmark = pytest.mark.django_db

LIST = f"{API}/conversations/"
CARE_TEAM = f"{API}/conversations/care-team/"


class TestList:
    def test_the_patient_sees_their_conversations_newest_activity_first_with_unread_counts(
        self, as_user, patient, doctor, care
    ):
        question = query_create(
            actor=patient, patient=patient, subject="Sick note", body="Can I get one?", client_msg_id=new_id()
        ).conversation
        said(doctor, care, "How are the new tablets?")
        said(doctor, care, "Any dizziness?")

        body = as_user(patient).get(LIST).json()

        assert body["count"] == 2
        first, second = body["results"]
        assert (first["id"], first["kind"], first["unread"], first["read_seq"]) == (care.pk, "care_team", 2, 0)
        assert first["patient"] == {"id": patient.pk, "name": "Pat Patient"}
        assert (first["subject"], first["status"], first["claimed_by"]) == ("", None, None)
        assert (second["id"], second["kind"], second["subject"], second["status"]) == (
            question.pk,
            "query",
            "Sick note",
            "open",
        )
        assert (second["last_seq"], second["read_seq"], second["unread"]) == (1, 1, 0)

    def test_a_proxy_sees_the_conversations_of_the_patient_they_act_for(self, as_user, proxy, patient, care):
        body = as_user(proxy).get(LIST).json()

        assert [row["id"] for row in body["results"]] == [care.pk]

    @pytest.mark.parametrize("persona", ["doctor", "nurse"])
    def test_the_care_team_sees_the_care_team_conversation_but_not_the_patients_questions(
        self, request, as_user, patient, care, persona
    ):
        query_create(actor=patient, patient=patient, subject="Billing", body="A question", client_msg_id=new_id())

        body = as_user(request.getfixturevalue(persona)).get(LIST).json()

        assert [(row["id"], row["kind"]) for row in body["results"]] == [(care.pk, "care_team")]

    @pytest.mark.parametrize("persona", ["outsider_patient", "outsider_doctor", "admin"])
    def test_outsiders_list_nothing(self, request, as_user, care, persona):
        assert as_user(request.getfixturevalue(persona)).get(LIST).json()["count"] == 0

    def test_the_list_costs_the_same_queries_however_many_conversations(
        self, as_user, doctor, django_assert_max_num_queries
    ):
        def patient_with_a_message() -> None:
            someone = VerifiedPatientFactory()
            CareRelationshipFactory(patient=someone, provider=doctor)
            said(someone, care_conversation_ensure(actor=someone, patient=someone))

        def reads(captured) -> int:
            # The audit trail records one event per patient shown (their access log says so):
            # those writes grow with the patients listed, the reads must not.
            return sum(1 for query in captured if "audit_" not in query["sql"])

        client = as_user(doctor)
        patient_with_a_message()
        client.get(LIST)
        with CaptureQueriesContext(connection) as one:
            assert client.get(LIST).json()["count"] == 1
        for _ in range(6):
            patient_with_a_message()

        with CaptureQueriesContext(connection) as seven:
            body = client.get(LIST).json()

        assert reads(seven.captured_queries) == reads(one.captured_queries)
        assert body["count"] == 7
        assert all(row["unread"] == 1 for row in body["results"])

    def test_a_staff_list_is_recorded_in_each_listed_patients_access_log(self, as_user, doctor, patient, care):
        from audit.models import AuditEvent

        as_user(doctor).get(LIST)

        assert AuditEvent.objects.filter(action="messaging.conversation.list", actor=doctor, patient=patient).exists()


class TestCareTeam:
    def test_the_patient_opens_it_once_and_then_finds_it(self, as_user, patient):
        client = as_user(patient)

        created = client.post(CARE_TEAM, {})
        again = client.post(CARE_TEAM, {"patient": patient.pk})

        assert created.status_code == 201, created.content
        assert again.status_code == 200
        assert created.json()["id"] == again.json()["id"]
        assert created.json()["kind"] == "care_team"
        assert Conversation.objects.filter(patient=patient).count() == 1

    @pytest.mark.parametrize("persona", ["doctor", "nurse", "proxy"])
    def test_the_care_team_and_the_proxy_open_it_by_naming_the_patient(self, request, as_user, patient, persona):
        response = as_user(request.getfixturevalue(persona)).post(CARE_TEAM, {"patient": patient.pk})

        assert response.status_code == 201, response.content
        assert response.json()["patient"]["id"] == patient.pk

    def test_a_clinician_must_name_the_patient(self, as_user, doctor):
        body = assert_error(as_user(doctor).post(CARE_TEAM, {}), 400, "invalid")

        assert "patient" in body["fields"]

    @pytest.mark.parametrize("persona", ["outsider_patient", "outsider_doctor", "admin"])
    def test_outsiders_get_not_found_and_the_attempt_is_audited(self, request, as_user, patient, persona):
        user = request.getfixturevalue(persona)

        assert_error(as_user(user).post(CARE_TEAM, {"patient": patient.pk}), 404, "not_found")

        [event] = denied(user, action="messaging.conversation.create")
        assert event.patient_id == patient.pk
        assert not Conversation.objects.exists()


class TestDetail:
    def test_it_shows_the_conversation_with_everyones_read_state(self, as_user, patient, doctor, care):
        said(patient, care, "Hello")
        said(doctor, care, "Hello Pat")

        body = as_user(patient).get(conversation_url(care)).json()

        assert (body["id"], body["last_seq"], body["read_seq"], body["unread"]) == (care.pk, 2, 1, 1)
        states = {state["user"]: state for state in body["read_states"]}
        assert (states[patient.pk]["name"], states[patient.pk]["read_seq"]) == ("Pat Patient", 1)
        assert (states[doctor.pk]["name"], states[doctor.pk]["delivered_seq"]) == ("Dr Dana Doctor", 2)

    @pytest.mark.parametrize("persona", ["patient", "proxy", "doctor", "nurse"])
    def test_participants_read_it_and_the_read_is_audited(self, request, as_user, patient, care, persona):
        user = request.getfixturevalue(persona)

        response = as_user(user).get(conversation_url(care))

        assert response.status_code == 200
        assert AuditEvent.objects.filter(
            actor=user, action="messaging.conversation.view", patient=patient, outcome="success"
        ).exists()

    @pytest.mark.parametrize("persona", ["outsider_patient", "outsider_doctor", "admin"])
    def test_outsiders_get_not_found_and_the_attempt_is_audited(self, request, as_user, patient, care, persona):
        user = request.getfixturevalue(persona)

        assert_error(as_user(user).get(conversation_url(care)), 404, "not_found")

        [event] = denied(user, action="messaging.conversation.view")
        assert (event.target_id, event.patient_id) == (str(care.pk), patient.pk)

    def test_an_unknown_conversation_is_not_found(self, as_user, patient):
        assert_error(as_user(patient).get(conversation_url(999999)), 404, "not_found")

    def test_anonymous_callers_are_asked_to_authenticate(self, api, care):
        assert_error(api.get(conversation_url(care)), 401, "not_authenticated")
        assert_error(api.get(LIST), 401, "not_authenticated")

    def test_staff_signed_in_without_a_second_factor_are_refused(self, api, nurse, care):
        api.force_login(nurse)

        assert_error(api.get(conversation_url(care)), 403, "otp_required")
        assert_error(api.get(LIST), 403, "otp_required")
        assert_error(api.get(f"{API}/inbox/"), 403, "otp_required")

    def test_a_staff_token_whose_authenticator_was_removed_is_refused(self, as_user, doctor, care):
        client = as_user(doctor)
        TOTPDevice.objects.filter(user=doctor).delete()

        assert_error(client.get(conversation_url(care)), 403, "otp_required")
        assert_error(
            client.post(conversation_url(care, "messages/"), {"client_msg_id": "a", "body": "x"}), 403, "otp_required"
        )

    def test_a_doctor_with_break_glass_on_the_chart_still_cannot_open_the_conversation(
        self, as_user, outsider_doctor, patient, care
    ):
        breakglass_open(actor=otp_verified_user(outsider_doctor), patient=patient, reason="Unconscious in the ED")

        assert_error(as_user(outsider_doctor).get(conversation_url(care)), 404, "not_found")
