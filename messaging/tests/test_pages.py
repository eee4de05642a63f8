"""The messaging pages through Django's test client: the inbox, one conversation (send, retract,
receipts, paging back), asking the clinic and the staff's shared inbox, for every persona."""

import datetime as dt
import html
import re
import uuid

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.context_processors import ACTING_FOR_SESSION_KEY
from accounts.tests.factories import (
    CareRelationshipFactory,
    ProxyGrantFactory,
    VerifiedPatientFactory,
    otp_force_login,
    otp_verified_user,
)
from audit.models import AuditEvent
from messaging.models import Conversation, ConversationKind, Message, QueryStatus
from messaging.selectors import access_conversation_for_user
from messaging.services import care_conversation_ensure, message_send, query_create

pytestmark = pytest.mark.django_db

INBOX = "/messages/"
SHARED = "/messages/inbox/"
ASK = "/messages/ask/"
CLIENT_MSG_ID = re.compile(r'name="client_msg_id" value="([^"]+)"')


def text(response) -> str:
    """The page's visible text, roughly: tags out, entities decoded, spaces squeezed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def signed_in(client, user):
    if user.is_staff_role:
        otp_force_login(client, user)
    else:
        client.force_login(user)
    return client


def acting_for(client, proxy, patient):
    client.force_login(proxy)
    session = client.session
    session[ACTING_FOR_SESSION_KEY] = patient.pk
    session.save()
    return client


def url(conversation, name="conversation", *args):
    return reverse(f"messaging:{name}", args=[conversation.pk, *args])


def say(user, conversation, body, client_msg_id=None):
    """A message written through the service, as another participant's client would."""
    actor = otp_verified_user(user) if user.is_staff_role else user
    access = access_conversation_for_user(actor, conversation.pk, record_read=False)
    message, _ = message_send(access=access, client_msg_id=client_msg_id or str(uuid.uuid4()), body=body)
    return message


def denied(action, **filters):
    return AuditEvent.objects.filter(action=action, outcome="denied", **filters)


@pytest.fixture
def care(patient, doctor, nurse):
    """The patient's care-team conversation (the doctor and nurse care for them)."""
    return care_conversation_ensure(actor=patient, patient=patient)


@pytest.fixture
def question(patient):
    message = query_create(
        actor=patient, patient=patient, subject="Bill for March", body="Why was I charged twice?", client_msg_id="q-1"
    )
    return message.conversation


def test_the_pages_are_named():
    assert reverse("messaging:inbox") == INBOX
    assert reverse("messaging:shared_inbox") == SHARED
    assert reverse("messaging:ask") == ASK
    assert reverse("messaging:conversation", args=[7]) == "/messages/7/"


# --- Who reaches what ------------------------------------------------------------------------------


@pytest.mark.parametrize("page", [INBOX, SHARED, ASK, "/messages/1/"])
def test_an_anonymous_visitor_is_sent_to_sign_in(client, page):
    response = client.get(page)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("persona", ["patient", "proxy", "doctor", "nurse"])
def test_every_participant_reads_the_care_team_conversation_and_the_read_is_audited(client, request, care, persona):
    user = request.getfixturevalue(persona)
    say(care.patient, care, "Morning update")
    if persona == "proxy":
        acting_for(client, user, care.patient)
    else:
        signed_in(client, user)

    inbox = client.get(INBOX)
    response = client.get(url(care))

    assert inbox.status_code == response.status_code == 200
    assert f'href="{url(care)}"' in inbox.content.decode()
    assert "Morning update" in text(response)
    assert AuditEvent.objects.filter(
        action="messaging.conversation.view", actor=user, target_id=str(care.pk), outcome="success"
    ).exists()


@pytest.mark.parametrize("persona", ["patient", "proxy", "doctor", "nurse"])
def test_a_question_reaches_the_patient_their_proxy_and_the_clinics_doctors_and_nurses(
    client, request, question, persona
):
    user = request.getfixturevalue(persona)
    if persona == "proxy":
        acting_for(client, user, question.patient)
    else:
        signed_in(client, user)

    response = client.get(url(question))

    assert response.status_code == 200
    assert "Why was I charged twice?" in text(response)
    if user.is_staff_role:
        assert f'href="{url(question)}"' in client.get(SHARED).content.decode()


def test_another_patient_does_not_reach_a_question(client, outsider_patient, question):
    response = signed_in(client, outsider_patient).get(url(question))

    assert response.status_code == 404
    assert denied("messaging.conversation.view", actor=outsider_patient, target_id=str(question.pk)).exists()


@pytest.mark.parametrize("persona", ["outsider_patient", "outsider_doctor", "admin"])
def test_someone_outside_the_conversation_meets_a_404_recorded_as_denied(client, request, care, persona):
    user = request.getfixturevalue(persona)
    say(care.patient, care, "Private words")

    response = signed_in(client, user).get(url(care))

    assert response.status_code == 404
    assert "Private words" not in response.content.decode()
    assert denied("messaging.conversation.view", actor=user, target_id=str(care.pk)).exists()


@pytest.mark.parametrize("persona", ["outsider_patient", "outsider_doctor"])
def test_an_outsider_cannot_send_to_or_retract_in_a_conversation(client, request, care, persona):
    user = request.getfixturevalue(persona)
    message = say(care.patient, care, "Hello")

    sent = signed_in(client, user).post(url(care, "send"), {"body": "Let me in", "client_msg_id": "x-1"})
    retracted = client.post(url(care, "retract", message.seq))

    assert (sent.status_code, retracted.status_code) == (404, 404)
    assert [m.body for m in Message.objects.all()] == ["Hello"]
    assert Message.objects.get(pk=message.pk).retracted_at is None
    assert denied("messaging.message.send", actor=user).exists()


def test_an_admin_has_no_inbox_and_no_shared_inbox(client, admin):
    signed_in(client, admin)

    assert client.get(INBOX).status_code == 404
    assert client.get(SHARED).status_code == 404
    assert denied("messaging.page.open", actor=admin, target_id=INBOX).exists()


def test_a_patient_has_no_shared_inbox(client, patient, question):
    response = signed_in(client, patient).get(SHARED)

    assert response.status_code == 404
    assert denied("messaging.page.open", actor=patient, target_id=SHARED).exists()


def test_staff_cannot_ask_the_clinic_a_question(client, nurse):
    assert signed_in(client, nurse).get(ASK).status_code == 404


def test_the_menu_links_messages_for_patients_and_the_inbox_for_clinicians(client, patient, nurse, admin):
    assert '<a class="site-nav__link" href="/messages/" aria-current="page">Messages</a>' in (
        signed_in(client, patient).get(INBOX).content.decode()
    )
    assert '<a class="site-nav__link" href="/messages/" aria-current="page">Inbox</a>' in (
        signed_in(client, nurse).get(INBOX).content.decode()
    )
    assert 'href="/messages/"' not in signed_in(client, admin).get("/").content.decode()


# --- The patient's side ----------------------------------------------------------------------------


def test_a_patient_opens_their_care_team_conversation_from_the_inbox(client, patient, doctor):
    signed_in(client, patient)
    page = text(client.get(INBOX))
    assert "Message my care team" in page
    assert "Ask the clinic a question" in page

    response = client.post(reverse("messaging:care_team"), {"patient": patient.pk})

    conversation = Conversation.objects.get(kind=ConversationKind.CARE_TEAM, patient=patient)
    assert response.status_code == 302
    assert response["Location"] == url(conversation)
    page = text(client.get(response["Location"]))
    assert "My care team" in page
    assert "No messages yet." in page


def test_a_patient_cannot_open_someone_elses_care_team_conversation(client, patient, outsider_patient):
    response = signed_in(client, patient).post(reverse("messaging:care_team"), {"patient": outsider_patient.pk})

    assert response.status_code == 404
    assert not Conversation.objects.filter(patient=outsider_patient).exists()
    assert denied("messaging.conversation.create", actor=patient).exists()


def test_a_message_posted_twice_with_the_same_form_is_stored_once(client, patient, care):
    signed_in(client, patient)
    form_id = CLIENT_MSG_ID.search(client.get(url(care)).content.decode()).group(1)
    posted = {"body": "My knee still hurts.", "client_msg_id": form_id}

    first = client.post(url(care, "send"), posted)
    second = client.post(url(care, "send"), posted)

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == f"{url(care)}#msg-1"
    assert list(Message.objects.filter(conversation=care).values_list("body", flat=True)) == ["My knee still hurts."]
    page = text(client.get(url(care)))
    assert page.count("My knee still hurts.") == 1
    assert "Pat Patient" in page


def test_each_rendering_of_the_form_carries_a_new_client_msg_id(client, patient, care):
    signed_in(client, patient)

    ids = {CLIENT_MSG_ID.search(client.get(url(care)).content.decode()).group(1) for _ in range(3)}

    assert len(ids) == 3


def test_an_empty_message_is_refused_on_the_form(client, patient, care):
    response = signed_in(client, patient).post(url(care, "send"), {"body": "   ", "client_msg_id": "e-1"})

    assert response.status_code == 400
    assert "Write something before sending." in text(response)
    assert 'aria-invalid="true"' in response.content.decode()
    assert not Message.objects.exists()


def test_a_client_msg_id_that_names_another_conversations_message_is_a_conflict_on_the_form(
    client, patient, care, question
):
    response = signed_in(client, patient).post(url(care, "send"), {"body": "Again", "client_msg_id": "q-1"})

    assert response.status_code == 409
    assert "already names a message of another conversation" in text(response)


def test_the_conversation_shows_sender_names_and_times_in_the_viewers_zone(client, patient, doctor, care):
    with time_machine.travel(dt.datetime(2025, 3, 5, 14, 5, tzinfo=dt.UTC), tick=False):
        say(doctor, care, "How is the knee?")
    client.cookies["tz"] = "America/New_York"

    page = text(signed_in(client, patient).get(url(care)))

    assert "Dr Dana Doctor 5 Mar, 09:05 How is the knee?" in page
    assert "Times in America/New_York." in page


def test_a_proxy_writes_for_the_patient_they_act_for_as_x_for_y(client, patient, proxy, doctor):
    acting_for(client, proxy, patient)
    page = text(client.get(INBOX))
    assert "Message the care team of Pat Patient" in page

    opened = client.post(reverse("messaging:care_team"), {"patient": patient.pk})
    conversation = Conversation.objects.get(kind=ConversationKind.CARE_TEAM, patient=patient)
    form_id = CLIENT_MSG_ID.search(client.get(opened["Location"]).content.decode()).group(1)
    client.post(url(conversation, "send"), {"body": "Her fever is down.", "client_msg_id": form_id})

    message = Message.objects.get(conversation=conversation)
    assert (message.sender, message.on_behalf_of) == (proxy, patient)
    doctor_page = text(signed_in(client, doctor).get(url(conversation)))
    assert "Paula Proxy for Pat Patient" in doctor_page
    assert "Her fever is down." in doctor_page


def test_a_proxy_without_the_messaging_scope_gets_no_buttons_and_no_conversation(client, patient, care):
    reader = VerifiedPatientFactory(email="reader@example.test", full_name="Rita Reader")
    ProxyGrantFactory(patient=patient, proxy=reader, scopes=["records.view"])
    acting_for(client, reader, patient)

    inbox = text(client.get(INBOX))
    page = client.get(url(care))

    assert "Message the care team of Pat Patient" not in inbox
    assert "Your access for Pat Patient does not include messages." in inbox
    assert page.status_code == 404
    assert client.post(reverse("messaging:care_team"), {"patient": patient.pk}).status_code == 404


# --- Retraction ------------------------------------------------------------------------------------


def test_the_sender_retracts_a_message_within_five_minutes_and_everyone_sees_it_retracted(
    client, patient, doctor, care
):
    message = say(patient, care, "Wrong chat, sorry")
    signed_in(client, patient)
    assert "Retract" in text(client.get(url(care)))

    response = client.post(url(care, "retract", message.seq))

    assert response.status_code == 302
    page = text(client.get(url(care)))
    assert "Message retracted" in page
    assert "Wrong chat, sorry" not in page
    assert "Wrong chat, sorry" not in text(signed_in(client, doctor).get(url(care)))
    assert "Message retracted" in text(client.get(url(care)))


def test_retracting_after_five_minutes_is_refused_on_the_page(client, patient, care):
    message = say(patient, care, "Too late to take back")
    later = timezone.now() + dt.timedelta(minutes=6)

    with time_machine.travel(later, tick=False):
        signed_in(client, patient)
        shown = text(client.get(url(care)))
        response = client.post(url(care, "retract", message.seq))

    assert "Retract" not in shown
    assert response.status_code == 409
    assert "A message can be retracted for 5 minutes after it was sent." in text(response)
    assert Message.objects.get(pk=message.pk).retracted_at is None


def test_no_one_retracts_someone_elses_message(client, patient, doctor, care):
    message = say(doctor, care, "Take two tablets")

    response = signed_in(client, patient).post(url(care, "retract", message.seq))

    assert response.status_code == 403
    assert "Only the sender retracts a message." in text(response)
    assert Message.objects.get(pk=message.pk).retracted_at is None


# --- Unread counts and receipts --------------------------------------------------------------------


def test_the_doctors_inbox_lists_the_conversation_with_its_unread_count_which_drops_once_opened(
    client, patient, doctor, care
):
    say(patient, care, "First")
    say(patient, care, "Second")
    signed_in(client, doctor)

    before = text(client.get(INBOX))
    client.get(url(care))
    after = text(client.get(INBOX))

    assert "Pat Patient 2 new messages" in before
    assert "Pat Patient" in after
    assert "new message" not in after


def test_the_patient_sees_who_read_their_last_message(client, patient, doctor, nurse, care):
    say(patient, care, "Can I run again?")
    signed_in(client, patient)
    assert "Read by" not in text(client.get(url(care)))

    signed_in(client, doctor).get(url(care))
    page = text(signed_in(client, patient).get(url(care)))

    assert "Can I run again?" in page
    assert re.search(
        r'data-testid="receipt">Read by Dr Dana Doctor<', signed_in(client, patient).get(url(care)).content.decode()
    )


def test_a_doctor_starts_a_conversation_with_a_patient_who_has_none(client, patient, doctor):
    signed_in(client, doctor)
    assert "Start a conversation" in text(client.get(INBOX))

    response = client.post(reverse("messaging:care_team"), {"patient": patient.pk})

    conversation = Conversation.objects.get(kind=ConversationKind.CARE_TEAM, patient=patient)
    assert response["Location"] == url(conversation)
    assert "Conversation with Pat Patient" in text(client.get(response["Location"]))


# --- Paging back -----------------------------------------------------------------------------------


def test_the_page_shows_the_last_fifty_messages_and_earlier_ones_on_request(client, patient, care):
    for number in range(1, 56):
        say(patient, care, f"Note number {number}.", client_msg_id=f"n-{number}")
    signed_in(client, patient)

    latest = client.get(url(care))
    earlier = client.get(f"{url(care)}?before=6")

    content = latest.content.decode()
    assert content.count('data-testid="message"') == 50
    assert "Note number 5." not in text(latest) and "Note number 6." in text(latest)
    assert f'href="{url(care)}?before=6"' in content
    assert 'data-last-seq="55"' in content and 'data-live="true"' in content
    assert earlier.content.decode().count('data-testid="message"') == 5
    assert "Note number 1." in text(earlier) and "Note number 6." not in text(earlier)
    assert "Show the newest messages" in text(earlier)
    assert 'data-live="false"' in earlier.content.decode()


def test_the_thread_carries_what_the_live_script_attaches_to(client, patient, care):
    say(patient, care, "Hi")

    response = signed_in(client, patient).get(url(care))

    content = response.content.decode()
    assert f'data-conversation="{care.pk}"' in content
    assert 'data-last-seq="1"' in content
    assert 'data-seq="1"' in content
    assert '<script src="/static/js/conversation.js" defer></script>' in content
    assert 'id="conversation-state" type="application/json"' in content
    # The CSP allows the script because it is a static file of our own: no inline script.
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert not re.search(r"<script(?![^>]*\b(src|type=\"application/json\"))[^>]*>", content)


# --- Questions to the clinic and the shared inbox --------------------------------------------------


def test_a_patients_question_is_claimed_and_answered_by_a_nurse_from_the_shared_inbox(client, patient, nurse):
    signed_in(client, patient)
    form_id = CLIENT_MSG_ID.search(client.get(ASK).content.decode()).group(1)
    asked = client.post(
        ASK,
        {
            "patient": patient.pk,
            "subject": "Parking",
            "body": "Is there parking at the clinic?",
            "client_msg_id": form_id,
        },
    )
    question = Conversation.objects.get(kind=ConversationKind.QUERY)
    assert asked["Location"] == url(question)

    signed_in(client, nurse)
    shared = text(client.get(SHARED))
    assert "Parking 1 new message Patient Pat Patient Status Open" in shared
    assert "Claimed by Nobody yet" in shared
    assert "Claim" in text(client.get(url(question)))

    claimed = client.post(url(question, "claim"))
    form_id = CLIENT_MSG_ID.search(client.get(url(question)).content.decode()).group(1)
    answered = client.post(url(question, "send"), {"body": "Yes, behind the building.", "client_msg_id": form_id})

    assert (claimed.status_code, answered.status_code) == (302, 302)
    question.refresh_from_db()
    assert (question.claimed_by, question.status) == (nurse, QueryStatus.ANSWERED)
    assert "Claimed by You" in text(client.get(SHARED))
    patient_view = text(signed_in(client, patient).get(url(question)))
    assert "Yes, behind the building." in patient_view
    assert "Claimed by Nico Nurse" in patient_view
    assert "Parking Question to the clinic · Answered" in text(client.get(INBOX))


def test_asking_twice_with_the_same_form_makes_one_question(client, patient):
    signed_in(client, patient)
    posted = {"patient": patient.pk, "subject": "Parking", "body": "Where?", "client_msg_id": "ask-1"}

    client.post(ASK, posted)
    client.post(ASK, posted)

    assert Conversation.objects.filter(kind=ConversationKind.QUERY).count() == 1


def test_a_question_without_a_subject_is_refused_on_the_form(client, patient):
    response = signed_in(client, patient).post(ASK, {"patient": patient.pk, "subject": "", "body": "Hello?"})

    assert response.status_code == 400
    assert "Give your question a subject." in text(response)
    assert not Conversation.objects.exists()


def test_a_proxy_asks_the_clinic_for_the_patient_they_act_for(client, patient, proxy):
    acting_for(client, proxy, patient)
    assert "You ask for Pat Patient" in text(client.get(ASK))

    client.post(ASK, {"patient": patient.pk, "subject": "Vaccines", "body": "Is she due?", "client_msg_id": "p-1"})

    question = Conversation.objects.get(kind=ConversationKind.QUERY)
    assert question.patient == patient
    assert Message.objects.get(conversation=question).on_behalf_of == patient


def test_staff_close_and_reopen_a_question_and_cannot_answer_it_while_closed(client, nurse, question):
    signed_in(client, nurse)

    client.post(url(question, "status"), {"status": "closed"})
    closed_page = text(client.get(url(question)))
    refused = client.post(url(question, "send"), {"body": "Late answer", "client_msg_id": "late-1"})
    client.post(url(question, "status"), {"status": "open"})

    assert "This question is closed. Reopen it to answer." in closed_page
    assert refused.status_code == 409
    assert "This question is closed; reopen it to answer." in text(refused)
    question.refresh_from_db()
    assert question.status == QueryStatus.OPEN


def test_a_patient_closes_their_question_but_cannot_claim_it_or_mark_it_answered(client, patient, question):
    signed_in(client, patient)

    claim = client.post(url(question, "claim"))
    answered = client.post(url(question, "status"), {"status": "answered"})
    closed = client.post(url(question, "status"), {"status": "closed"})

    assert (claim.status_code, answered.status_code, closed.status_code) == (403, 403, 302)
    question.refresh_from_db()
    assert (question.claimed_by, question.status) == (None, QueryStatus.CLOSED)


def test_a_status_that_does_not_exist_is_refused_on_the_page(client, nurse, question):
    response = signed_in(client, nurse).post(url(question, "status"), {"status": "deleted"})

    assert response.status_code == 400
    assert "Choose open, answered or closed." in text(response)


def test_the_shared_inbox_filters_by_status(client, patient, nurse, question):
    other = query_create(actor=patient, patient=patient, subject="Old one", body="Thanks", client_msg_id="q-2")
    signed_in(client, nurse)
    client.post(url(other.conversation, "status"), {"status": "closed"})

    everything = text(client.get(SHARED))
    closed = text(client.get(f"{SHARED}?status=closed"))

    assert everything.index("Bill for March") < everything.index("Old one")
    assert "Old one" in closed and "Bill for March" not in closed


# --- Query counts ----------------------------------------------------------------------------------


def _questions(patient, count):
    for _ in range(count):
        message = query_create(
            actor=patient, patient=patient, subject="A question", body="?", client_msg_id=str(uuid.uuid4())
        )
        say(patient, message.conversation, "More detail")


def _patients_writing(clinician, count):
    for _ in range(count):
        other = VerifiedPatientFactory()
        CareRelationshipFactory(patient=other, provider=clinician)
        say(other, care_conversation_ensure(actor=other, patient=other), "Hello")


def _reads(captured) -> int:
    # A list that shows staff other patients records one audit event per patient shown (their
    # access log says so): those writes grow with the rows, the reads must not.
    return sum(1 for query in captured if "audit_" not in query["sql"])


def _queries(client, page) -> int:
    client.get(page)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(page).status_code == 200
    return _reads(queries.captured_queries)


@pytest.mark.parametrize(
    ("persona", "page", "add_rows"),
    [
        ("patient", INBOX, lambda user, patient, count: _questions(patient, count)),
        ("nurse", INBOX, lambda user, patient, count: _patients_writing(user, count)),
        ("nurse", SHARED, lambda user, patient, count: _questions(patient, count)),
    ],
)
def test_the_inbox_pages_make_no_more_queries_for_many_rows_than_for_one(
    client, request, patient, persona, page, add_rows, django_assert_max_num_queries
):
    user = request.getfixturevalue(persona)
    add_rows(user, patient, 1)
    few = _queries(signed_in(client, user), page)
    add_rows(user, patient, 8)

    with CaptureQueriesContext(connection) as many:
        response = client.get(page)

    assert _reads(many.captured_queries) <= few
    assert response.content.decode().count('class="conv-row') >= 9
