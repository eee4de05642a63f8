import base64
import datetime as dt
import json

import pytest
from django.conf import settings
from django.utils import timezone
from icalendar import Calendar

from accounts.tests.factories import PatientProfileFactory
from messaging.channels import message_id_for
from messaging.models import Channel, Notification, NotificationStatus
from messaging.services import (
    notification_cancel,
    notification_deliver,
    notifications_cancel_for,
    notifications_claim_due,
)
from messaging.tests.conftest import schedule_reminder

pytestmark = pytest.mark.django_db


def _deliver_due() -> list[bool]:
    return [
        notification_deliver(notification_id=claim.id, claim_token=claim.claim_token)
        for claim in notifications_claim_due()
    ]


def test_scheduling_the_same_key_twice_stores_one_notification_and_keeps_the_first(patient):
    first = schedule_reminder(patient, subject="First")
    second = schedule_reminder(patient, subject="Second")

    assert second.pk == first.pk
    assert Notification.objects.count() == 1
    assert Notification.objects.get().subject == "First"


def test_the_email_has_text_html_an_ics_that_icalendar_parses_and_a_message_id_from_its_key(patient, mailoutbox):
    schedule_reminder(patient)

    assert _deliver_due() == [True]

    [mail] = mailoutbox
    assert mail.to == ["patient@example.test"]
    assert "tomorrow at 10:00" in mail.body
    [(html, mimetype)] = mail.alternatives
    assert mimetype == "text/html"
    assert "<a href=" in html
    [(filename, content, content_type)] = mail.attachments
    assert (filename, content_type) == ("appointment.ics", "text/calendar")
    [event] = Calendar.from_ical(content).walk("VEVENT")
    assert str(event["summary"]) == "Telemed appointment"
    assert mail.extra_headers["Message-ID"] == message_id_for("appointment:42:reminder:1440:email")
    assert mail.message()["Message-ID"] == message_id_for("appointment:42:reminder:1440:email")
    notification = Notification.objects.get()
    assert notification.status == NotificationStatus.SENT
    assert notification.sent_at is not None
    assert notification.attempts == 1


def test_attachments_are_stored_as_base64_json(patient):
    notification = schedule_reminder(patient)

    [attachment] = Notification.objects.get(pk=notification.pk).attachments
    assert base64.b64decode(attachment["content"]).startswith(b"BEGIN:VCALENDAR")


def test_a_notification_not_yet_due_is_not_claimed(patient):
    schedule_reminder(patient, due_at=timezone.now() + dt.timedelta(minutes=1))

    assert notifications_claim_due() == []


def test_a_channel_the_user_turned_off_is_cancelled_with_the_reason_not_sent(patient, mailoutbox):
    patient.notify_email = False
    patient.save(update_fields=["notify_email"])
    schedule_reminder(patient)

    assert _deliver_due() == [False]

    notification = Notification.objects.get()
    assert mailoutbox == []
    assert notification.status == NotificationStatus.CANCELLED
    assert notification.last_error == "recipient turned off Email notifications"


def test_an_sms_lands_in_the_file_outbox_with_its_idempotency_key(patient):
    PatientProfileFactory(user=patient, phone="+15550100")
    patient.notify_sms = True
    patient.save(update_fields=["notify_sms"])
    outbox = settings.SMS_OUTBOX_PATH
    before = outbox.read_text().splitlines() if outbox.exists() else []
    schedule_reminder(patient, key="appointment:42:reminder:60:sms", channel=Channel.SMS, attachments=())

    assert _deliver_due() == [True]

    [line] = outbox.read_text().splitlines()[len(before) :]
    sms = json.loads(line)
    assert sms["to"] == "+15550100"
    assert sms["idempotency_key"] == "appointment:42:reminder:60:sms"
    assert "tomorrow at 10:00" in sms["body"]


def test_an_sms_to_a_user_without_a_phone_number_fails_without_retrying(patient):
    patient.notify_sms = True
    patient.save(update_fields=["notify_sms"])
    schedule_reminder(patient, key="appointment:42:reminder:60:sms", channel=Channel.SMS, attachments=())

    assert _deliver_due() == [False]

    notification = Notification.objects.get()
    assert notification.status == NotificationStatus.FAILED
    assert notification.last_error == "The recipient has no phone number."
    assert notifications_claim_due() == []


def test_an_in_app_notification_is_visible_as_sent(patient):
    schedule_reminder(patient, key="appointment:42:reminder:60:in_app", channel=Channel.IN_APP, attachments=())

    assert _deliver_due() == [True]

    assert list(patient.notifications.filter(status=NotificationStatus.SENT).values_list("kind", flat=True)) == [
        "appointment.reminder"
    ]


def test_a_provider_error_is_recorded_and_retried_later(patient, mailoutbox, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 9  # discard: nothing listens, the connection is refused
    schedule_reminder(patient)

    assert _deliver_due() == [False]

    notification = Notification.objects.get()
    assert notification.status == NotificationStatus.PENDING
    assert notification.attempts == 1
    assert "Connection" in notification.last_error or "refused" in notification.last_error
    assert notification.due_at > timezone.now()
    assert notifications_claim_due() == []


def test_cancelling_an_appointments_reminders_cancels_them_all_and_only_them(patient, mailoutbox):
    schedule_reminder(patient, key="appointment:42:reminder:1440:email")
    schedule_reminder(patient, key="appointment:42:reminder:60:email")
    schedule_reminder(patient, key="appointment:421:reminder:60:email")

    assert notifications_cancel_for("appointment:42:") == 2
    assert notification_cancel(idempotency_key="appointment:421:reminder:60:email") is True
    assert notification_cancel(idempotency_key="appointment:421:reminder:60:email") is False

    assert _deliver_due() == []
    assert mailoutbox == []
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.CANCELLED}


def test_a_reminder_cancelled_while_claimed_is_not_sent_by_its_worker(patient, mailoutbox):
    schedule_reminder(patient)
    [claim] = notifications_claim_due()

    notification_cancel(idempotency_key="appointment:42:reminder:1440:email")

    assert notification_deliver(notification_id=claim.id, claim_token=claim.claim_token) is False
    assert mailoutbox == []


def test_a_sent_reminder_cannot_be_cancelled(patient, mailoutbox):
    schedule_reminder(patient)
    _deliver_due()

    assert notification_cancel(idempotency_key="appointment:42:reminder:1440:email") is False
    assert Notification.objects.get().status == NotificationStatus.SENT
