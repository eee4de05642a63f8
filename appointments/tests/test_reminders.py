"""Appointment reminders from booking to delivery: the outbox rows a booking schedules, and what
the sweeper (messaging.tasks.notifications_sweep, run here with Celery's eager mode) sends when
time reaches them. The clock moves with time-machine; the doctor works 09:00-12:00 Paris time
and it is Monday 23 November 2026, 08:00."""

import datetime as dt
import json

import pytest
from icalendar import Calendar

from accounts.tests.factories import PatientProfileFactory
from appointments.models import ClinicSettings
from appointments.services import appointment_book, appointment_cancel, appointment_reschedule
from appointments.tests.conftest import PARIS, paris
from messaging.models import Notification, NotificationStatus
from messaging.tasks import notifications_sweep
from messaging.tests.conftest import eager_celery  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

TUESDAY_10 = paris(24, 10)


@pytest.fixture
def sms_outbox(settings, tmp_path):
    settings.SMS_OUTBOX_PATH = tmp_path / "sms" / "outbox.jsonl"
    return settings.SMS_OUTBOX_PATH


@pytest.fixture
def sms_patient(patient):
    """`patient`, with a phone number and SMS reminders turned on."""
    PatientProfileFactory(user=patient, phone="+33600000001")
    patient.notify_sms = True
    patient.save(update_fields=["notify_sms"])
    return patient


def _book(patient, doctor, video_type, starts_at=TUESDAY_10):
    return appointment_book(
        actor=patient, patient=patient, provider=doctor, appointment_type=video_type, starts_at=starts_at
    )


def _sweep_at(traveller, moment, mailoutbox) -> list:
    """Move the clock to `moment`, run the sweeper, return the emails it sent."""
    traveller.move_to(moment)
    mailoutbox.clear()
    notifications_sweep()
    return list(mailoutbox)


def _sms_lines(outbox) -> list[dict]:
    return [json.loads(line) for line in outbox.read_text().splitlines()] if outbox.exists() else []


def _reminders(appointment, **filters):
    return Notification.objects.filter(
        kind="appointment.reminder", idempotency_key__startswith=f"appointment:{appointment.pk}:", **filters
    )


def _booked_and_told(frozen_monday, mailoutbox, *, patient, doctor, video_type, starts_at=TUESDAY_10):
    """Book, then let the sweeper send the confirmation and the provider's notice."""
    appointment = _book(patient, doctor, video_type, starts_at)
    sent = _sweep_at(frozen_monday, paris(23, 8, 1), mailoutbox)
    assert sorted(mail.subject for mail in sent) == ["New appointment booked", "Your Telemed appointment is booked"]
    return appointment


def test_a_booking_schedules_a_reminder_per_offset_and_channel_and_sends_none_early(
    frozen_monday, schedule, video_type, sms_patient, mailoutbox, sms_outbox
):
    appointment = _booked_and_told(
        frozen_monday, mailoutbox, patient=sms_patient, doctor=schedule, video_type=video_type
    )

    due = sorted(_reminders(appointment).values_list("due_at", "channel"))
    assert due == [
        (TUESDAY_10 - dt.timedelta(hours=24), "email"),
        (TUESDAY_10 - dt.timedelta(hours=24), "in_app"),
        (TUESDAY_10 - dt.timedelta(hours=24), "sms"),
        (TUESDAY_10 - dt.timedelta(hours=1), "email"),
        (TUESDAY_10 - dt.timedelta(hours=1), "in_app"),
        (TUESDAY_10 - dt.timedelta(hours=1), "sms"),
    ]
    assert _sweep_at(frozen_monday, paris(23, 9, 59), mailoutbox) == []
    assert _sms_lines(sms_outbox) == []


def test_at_24_hours_before_the_sweeper_sends_the_24_hour_reminder_on_every_channel_once(
    frozen_monday, schedule, video_type, sms_patient, mailoutbox, sms_outbox
):
    appointment = _booked_and_told(
        frozen_monday, mailoutbox, patient=sms_patient, doctor=schedule, video_type=video_type
    )

    [mail] = _sweep_at(frozen_monday, paris(23, 10), mailoutbox)

    assert mail.to == ["patient@example.test"]
    assert mail.subject == "Reminder: your Telemed appointment in 24 h"
    # Patients keep no time zone yet: the clinic's (TIME_ZONE, UTC here), named in the text.
    assert "Tuesday 24 November 2026 at 10:00 (Europe/Paris)" in mail.body
    assert f"/appointments/{appointment.pk}/" in mail.body
    [(html, mimetype)] = mail.alternatives
    assert mimetype == "text/html"
    assert f"/appointments/{appointment.pk}/" in html
    [(filename, content, content_type)] = mail.attachments
    assert (filename, content_type) == ("appointment.ics", "text/calendar")
    [event] = Calendar.from_ical(content).walk("VEVENT")
    assert event.decoded("dtstart") == TUESDAY_10
    assert str(event["summary"]) == "Telemed appointment"
    [sms] = _sms_lines(sms_outbox)
    assert sms["to"] == "+33600000001"
    assert sms["idempotency_key"].endswith(":reminder:1440:sms")
    assert "Tuesday 24 November 2026 at 10:00 (Europe/Paris)" in sms["body"]
    assert set(_reminders(appointment, status=NotificationStatus.SENT).values_list("channel", flat=True)) == {
        "email",
        "sms",
        "in_app",
    }
    assert _reminders(appointment, status=NotificationStatus.SENT).count() == 3
    # Running the sweeper again, later, sends nothing more until the next offset.
    assert _sweep_at(frozen_monday, paris(24, 8, 59), mailoutbox) == []
    assert len(_sms_lines(sms_outbox)) == 1


def test_at_1_hour_before_the_sweeper_sends_the_1_hour_reminder(
    frozen_monday, schedule, video_type, sms_patient, mailoutbox, sms_outbox
):
    appointment = _booked_and_told(
        frozen_monday, mailoutbox, patient=sms_patient, doctor=schedule, video_type=video_type
    )
    _sweep_at(frozen_monday, paris(23, 10), mailoutbox)

    [mail] = _sweep_at(frozen_monday, paris(24, 9), mailoutbox)

    assert mail.subject == "Reminder: your Telemed appointment in 1 h"
    assert [sms["idempotency_key"].rsplit(":", 2)[1] for sms in _sms_lines(sms_outbox)] == ["1440", "60"]
    assert _reminders(appointment, status=NotificationStatus.SENT).count() == 6
    assert _reminders(appointment, channel="in_app", status=NotificationStatus.SENT).count() == 2


def test_a_reschedule_cancels_the_old_reminders_and_the_new_time_gets_its_own(
    frozen_monday, schedule, video_type, patient, mailoutbox
):
    appointment = _booked_and_told(frozen_monday, mailoutbox, patient=patient, doctor=schedule, video_type=video_type)
    old_version = appointment.schedule_version

    moved = appointment_reschedule(actor=patient, appointment=appointment, starts_at=paris(25, 10))

    old = _reminders(appointment, idempotency_key__contains=f":v{old_version}:")
    assert set(old.values_list("status", flat=True)) == {NotificationStatus.CANCELLED}
    new = _reminders(appointment, idempotency_key__contains=f":v{moved.schedule_version}:")
    assert sorted(set(new.values_list("due_at", flat=True))) == [paris(24, 10), paris(25, 9)]
    # The old 24-hour and 1-hour times pass in silence.
    sent = _sweep_at(frozen_monday, paris(23, 10), mailoutbox)
    assert sorted(mail.subject for mail in sent) == ["Appointment moved", "Your Telemed appointment has moved"]
    assert _sweep_at(frozen_monday, paris(24, 9), mailoutbox) == []
    [mail] = _sweep_at(frozen_monday, paris(24, 10), mailoutbox)
    assert mail.subject == "Reminder: your Telemed appointment in 24 h"
    assert "Wednesday 25 November 2026 at 10:00 (Europe/Paris)" in mail.body
    [event] = Calendar.from_ical(mail.attachments[0][1]).walk("VEVENT")
    assert event.decoded("dtstart").astimezone(PARIS) == paris(25, 10)
    assert int(event["sequence"]) == moved.schedule_version
    [mail] = _sweep_at(frozen_monday, paris(25, 9), mailoutbox)
    assert mail.subject == "Reminder: your Telemed appointment in 1 h"


def test_a_cancellation_cancels_the_pending_reminders(frozen_monday, schedule, video_type, patient, mailoutbox):
    appointment = _booked_and_told(frozen_monday, mailoutbox, patient=patient, doctor=schedule, video_type=video_type)

    appointment_cancel(actor=patient, appointment=appointment)

    assert set(_reminders(appointment).values_list("status", flat=True)) == {NotificationStatus.CANCELLED}
    sent = _sweep_at(frozen_monday, paris(23, 10), mailoutbox)
    assert sorted(mail.subject for mail in sent) == ["Appointment cancelled", "Your Telemed appointment is cancelled"]
    assert _sweep_at(frozen_monday, paris(24, 9), mailoutbox) == []


def test_the_clinics_reminder_offsets_decide_when_reminders_go_out(
    frozen_monday, schedule, video_type, patient, mailoutbox
):
    ClinicSettings.objects.create(pk=1, reminder_offsets_minutes=[120])
    appointment = _booked_and_told(frozen_monday, mailoutbox, patient=patient, doctor=schedule, video_type=video_type)

    assert set(_reminders(appointment).values_list("due_at", flat=True)) == {paris(24, 8)}
    assert _sweep_at(frozen_monday, paris(23, 10), mailoutbox) == []
    [mail] = _sweep_at(frozen_monday, paris(24, 8), mailoutbox)
    assert mail.subject == "Reminder: your Telemed appointment in 2 h"
    assert _sweep_at(frozen_monday, paris(24, 9), mailoutbox) == []


def test_a_patient_who_turned_email_off_gets_the_reminder_in_the_portal_but_no_email(
    frozen_monday, schedule, video_type, patient, mailoutbox
):
    patient.notify_email = False
    patient.save(update_fields=["notify_email"])
    appointment = _book(patient, schedule, video_type)

    sent = _sweep_at(frozen_monday, paris(23, 10), mailoutbox)

    assert [mail.to for mail in sent] == [["doctor@example.test"]]  # the provider's notice only
    email = _reminders(appointment, channel="email", due_at=paris(23, 10)).get()
    assert (email.status, email.last_error) == (
        NotificationStatus.CANCELLED,
        "recipient turned off Email notifications",
    )
    assert _reminders(appointment, channel="in_app", status=NotificationStatus.SENT).count() == 1
