import datetime as dt

import pytest
from django.utils import timezone
from icalendar import Calendar, Event

from messaging.models import Channel
from messaging.services import notification_schedule
from messaging.tests.processes import outside  # noqa: F401 (a fixture: real workers as subprocesses)
from telemed.celery import app as celery_app


def ics_bytes(start: dt.datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Telemed//tests//EN")
    calendar.add("version", "2.0")
    event = Event()
    event.add("uid", "appointment-42@telemed.test")
    event.add("summary", "Telemed appointment")
    event.add("dtstart", start)
    event.add("dtend", start + dt.timedelta(minutes=20))
    event.add("dtstamp", start)
    calendar.add_component(event)
    return calendar.to_ical()


def schedule_reminder(recipient, *, key="appointment:42:reminder:1440:email", channel=Channel.EMAIL, due_at=None, **kw):
    start = timezone.now() + dt.timedelta(days=1)
    fields = {
        "recipient": recipient,
        "kind": "appointment.reminder",
        "channel": channel,
        "subject": "Your Telemed appointment tomorrow",
        "body_text": "Your appointment is tomorrow at 10:00. https://telemed.test/appointments/42/",
        "body_html": '<p>Your appointment is tomorrow at 10:00. <a href="https://telemed.test/appointments/42/">Open</a></p>',
        "attachments": [{"filename": "appointment.ics", "content_type": "text/calendar", "content": ics_bytes(start)}],
        "due_at": due_at or timezone.now(),
        "idempotency_key": key,
    }
    fields.update(kw)
    return notification_schedule(**fields)


@pytest.fixture
def eager_celery():
    """Run .delay() inline (Celery's own eager mode), for sweeps whose tasks the test wants run."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous
