"""Live chat in real Chromium against the live ASGI server: a patient and their doctor, in two
browser contexts, chat on the care-team conversation — the doctor sees the patient typing, the
message arrives without a reload, the patient sees it was read — and a question to the clinic
is claimed and answered by a nurse from the shared inbox. Screenshots go to /tmp/msg-*.png."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from messaging.models import Conversation, ConversationKind, Message, QueryStatus
from telemed.testing.browser import assert_accessible, login

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True}


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(Path("/tmp") / f"msg-{name}.png"), full_page=True)


def socket_ready(page: Page) -> None:
    expect(page.locator("#thread")).to_have_attribute("data-socket", "ready", timeout=10_000)


def test_a_patient_and_a_doctor_chat_live_and_a_nurse_answers_a_question(
    make_page, live_asgi, transactional_db, patient, doctor, nurse
):
    # --- The patient opens the care-team conversation and writes. ------------------------------
    phone = make_page(**PHONE)
    login(phone, live_asgi, patient)
    phone.get_by_role("navigation", name="Main").get_by_role("link", name="Messages").click()
    phone.get_by_role("button", name="Message my care team").click()
    socket_ready(phone)
    conversation = Conversation.objects.get(kind=ConversationKind.CARE_TEAM, patient=patient)

    desk = make_page()
    login(desk, live_asgi, doctor)
    desk.goto(f"{live_asgi.url}/messages/{conversation.pk}/")
    socket_ready(desk)

    # Typing shows on the other side, then the message arrives there without a reload.
    phone.get_by_label("Message").press_sequentially("My rash is spreading", delay=20)
    expect(desk.locator("#typing")).to_contain_text("is typing")
    phone.get_by_role("button", name="Send").click()
    arrived = desk.get_by_test_id("message").filter(has_text="My rash is spreading")
    expect(arrived).to_be_visible()
    expect(desk.locator("#typing")).to_have_text("")
    assert Message.objects.get(conversation=conversation).seq == 1
    # The doctor's page was visible: the patient sees it was read.
    expect(phone.get_by_test_id("receipt")).to_contain_text("Read by")

    desk.get_by_label("Message").fill("Please send a photo; I can see you tomorrow.")
    desk.get_by_role("button", name="Send").click()
    expect(phone.get_by_test_id("message").filter(has_text="send a photo")).to_be_visible()
    assert list(Message.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2]
    assert_accessible(phone)
    shot(phone, "care-team-phone")
    shot(desk, "care-team-desk")

    # --- A question to the clinic: a nurse claims and answers it from the shared inbox. --------
    phone.get_by_role("navigation", name="Main").get_by_role("link", name="Messages").click()
    phone.get_by_role("link", name="Ask the clinic a question").click()
    phone.get_by_label("Subject").fill("Parking at the clinic")
    phone.get_by_label("Message").fill("Is there parking for the 9:00 visit?")
    phone.get_by_role("button", name="Send question").click()
    question = Conversation.objects.get(kind=ConversationKind.QUERY, patient=patient)

    ward = make_page()
    login(ward, live_asgi, nurse)
    ward.goto(f"{live_asgi.url}/messages/inbox/")
    ward.get_by_test_id("question").filter(has_text="Parking at the clinic").get_by_role("link").first.click()
    ward.get_by_role("button", name="Claim").click()
    expect(ward.get_by_test_id("claimed-by")).to_have_text("You")
    socket_ready(ward)
    ward.get_by_label("Message").fill("Yes, behind the building; show your appointment at the gate.")
    ward.get_by_role("button", name="Send").click()
    expect(phone.get_by_test_id("message").filter(has_text="behind the building")).to_be_visible()
    question.refresh_from_db()
    assert (question.status, question.claimed_by) == (QueryStatus.ANSWERED, nurse)
    shot(ward, "shared-inbox-answer")
