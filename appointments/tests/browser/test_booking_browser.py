"""Booking on a phone in real Chromium against the live ASGI server: the patient books a video
appointment step by step, the confirmation email carries a calendar file, the doctor sees the
visit on their day, and when the patient cancels, the waitlisted patient is offered the time."""

import datetime as dt
import zoneinfo
from pathlib import Path

import icalendar
import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import ProviderProfile
from accounts.tests.factories import VerifiedPatientFactory
from appointments.models import Appointment, WaitlistOffer
from appointments.services import waitlist_join
from appointments.tests.factories import AppointmentTypeFactory, working_week
from messaging.services import notification_deliver, notifications_claim_due
from telemed.testing.browser import assert_accessible, login

pytestmark = pytest.mark.browser

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
PHONE = {"viewport": {"width": 390, "height": 844}, "timezone_id": "Europe/Paris", "has_touch": True}
SHOTS = Path("/tmp/helperB")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sweep_outbox() -> int:
    """What the beat sweeper and the workers do, in this process."""
    delivered = 0
    for claim in notifications_claim_due():
        delivered += notification_deliver(notification_id=claim.id, claim_token=claim.claim_token)
    return delivered


def day_heading(day: dt.date) -> str:
    return f"{day:%A} {day.day} {day:%B}"


def test_a_patient_books_on_a_phone_and_the_waitlist_gets_the_time_back(
    make_page, live_asgi, patient, doctor, mailoutbox
):
    working_week(doctor)
    ProviderProfile.objects.filter(user=doctor).update(specialty="General practice")
    kind = AppointmentTypeFactory(name="Video consultation", cancellation_window_hours=24)
    waiting = VerifiedPatientFactory(email="waiting@example.test", full_name="Wanda Waiting")
    today = timezone.now().astimezone(PARIS).date()
    waitlist_join(
        actor=waiting,
        patient=waiting,
        provider=doctor,
        appointment_type=kind,
        earliest_date=today,
        latest_date=today + dt.timedelta(days=13),
    )
    # Three days ahead: well outside the 24-hour cancellation window.
    visit_day = today + dt.timedelta(days=3)

    phone = make_page(**PHONE)
    login(phone, live_asgi, patient)
    phone.goto(f"{live_asgi.url}/appointments/")
    expect(phone.get_by_role("heading", level=1)).to_have_text("My appointments")
    phone.get_by_role("link", name="Book an appointment").click()

    expect(phone.get_by_role("heading", level=1)).to_have_text("Choose a doctor")
    assert_accessible(phone)
    shot(phone, "booking-1-doctor")
    phone.get_by_role("link", name="Dr Dana Doctor General practice").click()

    expect(phone.get_by_role("heading", level=1)).to_have_text("What kind of appointment?")
    assert_accessible(phone)
    phone.get_by_role("link", name="Video consultation").click()

    expect(phone.get_by_role("heading", level=1)).to_have_text("Choose a time")
    expect(phone.get_by_text("Times in Europe/Paris.")).to_be_visible()
    assert_accessible(phone)
    shot(phone, "booking-2-times")
    phone.get_by_role("region", name=day_heading(visit_day)).get_by_role("link", name="09:30").click()

    expect(phone.get_by_role("heading", level=1)).to_have_text("Reason for the visit")
    phone.get_by_label("Reason for the visit (optional)").fill("A cough that will not go away")
    assert_accessible(phone)
    shot(phone, "booking-3-reason")
    phone.get_by_role("button", name="Continue").click()

    expect(phone.get_by_role("heading", level=1)).to_have_text("Confirm the booking")
    expect(phone.get_by_test_id("booking-when")).to_contain_text(f"{day_heading(visit_day)}")
    expect(phone.get_by_test_id("booking-when")).to_contain_text("09:30")
    assert_accessible(phone)
    shot(phone, "booking-4-confirm")
    phone.get_by_role("button", name="Book this appointment").click()

    expect(phone.get_by_role("status").filter(has_text="Your appointment is booked")).to_be_visible()
    expect(phone.get_by_test_id("appointment-status")).to_have_text("Confirmed")
    expect(phone.get_by_role("link", name="Add to calendar (.ics)")).to_be_visible()
    expect(phone.get_by_text("Join from 15 minutes before")).to_be_visible()
    assert_accessible(phone)
    shot(phone, "booking-5-booked")

    appointment = Appointment.objects.get(patient=patient)
    assert appointment.starts_at == dt.datetime.combine(visit_day, dt.time(9, 30), tzinfo=PARIS)
    assert appointment.reason == "A cough that will not go away"

    # The outbox is swept as the beat task would: the confirmation email carries the .ics.
    assert sweep_outbox() >= 1
    confirmation = next(m for m in mailoutbox if m.to == [patient.email] and "booked" in m.subject)
    _filename, content, mimetype = next(a for a in confirmation.attachments if a[0].endswith(".ics"))
    assert mimetype.startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(content)
    event = next(iter(calendar.walk("VEVENT")))
    assert event.decoded("dtstart") == appointment.starts_at

    # The doctor, in a browser of their own, sees the visit on their day.
    desk = make_page()
    login(desk, live_asgi, doctor)
    desk.goto(f"{live_asgi.url}/appointments/schedule/day/?date={visit_day.isoformat()}")
    expect(desk.get_by_role("heading", level=1)).to_have_text("My schedule")
    row = desk.get_by_role("listitem").filter(has_text="Pat Patient")
    expect(row).to_contain_text("09:30")
    expect(row).to_contain_text("Confirmed")
    assert_accessible(desk)
    shot(desk, "schedule-day")
    desk.set_viewport_size({"width": 390, "height": 844})
    shot(desk, "schedule-day-phone")

    # The patient cancels; the freed time goes to the waitlisted patient.
    phone.get_by_role("link", name="Cancel the appointment").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Cancel the appointment?")
    assert_accessible(phone)
    shot(phone, "cancel-confirm")
    phone.get_by_role("button", name="Yes, cancel it").click()
    expect(phone.get_by_test_id("appointment-status")).to_have_text("Cancelled")

    offer = WaitlistOffer.objects.get(entry__patient=waiting)
    assert offer.status == WaitlistOffer.Status.PENDING
    assert offer.starts_at == appointment.starts_at
    assert waiting.notifications.filter(kind="waitlist.offer").exists()

    other = make_page(**PHONE)
    login(other, live_asgi, waiting)
    other.goto(f"{live_asgi.url}/appointments/")
    offers = other.get_by_role("region", name="Times offered to you")
    expect(offers).to_contain_text("Dr Dana Doctor")
    assert_accessible(other)
    shot(other, "waitlist-offer-listed")
    offers.get_by_role("link").first.click()
    expect(other.get_by_role("heading", level=1)).to_have_text("An appointment became free")
    expect(other.get_by_test_id("offer-status")).to_have_text("Pending")
