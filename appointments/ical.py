"""iCalendar (RFC 5545) for appointments, built with the icalendar library.

No health details ever: the title is "Telemed appointment", the description a link to the
portal; no reason, no provider specialty. A reschedule raises SEQUENCE (the appointment's
`schedule_version`) so calendar apps update the event they already hold; a cancellation is a
METHOD:CANCEL calendar with STATUS:CANCELLED for the same UID.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event

from appointments.models import Appointment, Modality

TITLE = "Telemed appointment"
PRODID = "-//Telemed//Appointments//EN"


def appointment_url(appointment: Appointment) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("appointments:detail", args=[appointment.pk])


def appointment_uid(appointment: Appointment) -> str:
    domain = urlsplit(settings.SITE_URL).hostname or "telemed.invalid"
    return f"appointment-{appointment.pk}@{domain}"


def _location(appointment: Appointment) -> str:
    modality = appointment.appointment_type.modality
    if modality == Modality.VIDEO:
        return "Video call (join from the Telemed portal)"
    if modality == Modality.PHONE:
        return "Phone call"
    return settings.CLINIC_NAME


def _event(appointment: Appointment, *, cancelled: bool = False) -> Event:
    event = Event()
    event.add("uid", appointment_uid(appointment))
    event.add("sequence", appointment.schedule_version + (1 if cancelled else 0))
    event.add("dtstamp", timezone.now())
    event.add("dtstart", appointment.starts_at)
    event.add("dtend", appointment.ends_at)
    event.add("summary", TITLE)
    url = appointment_url(appointment)
    event.add("url", url)
    event.add("description", f"Open the appointment in the portal: {url}")
    event.add("location", _location(appointment))
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event


def _calendar(method: str | None = None) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    if method:
        calendar.add("method", method)
    return calendar


def appointment_ics(appointment: Appointment, *, cancelled: bool = False) -> bytes:
    """One appointment as a calendar file (an email attachment or the .ics download)."""
    calendar = _calendar("CANCEL" if cancelled else "PUBLISH")
    calendar.add_component(_event(appointment, cancelled=cancelled))
    return calendar.to_ical()


def feed_ics(appointments: Iterable[Appointment], *, name: str) -> bytes:
    """A personal feed: every listed appointment, for calendar apps that subscribe."""
    calendar = _calendar()
    calendar.add("x-wr-calname", name)
    for appointment in appointments:
        calendar.add_component(_event(appointment))
    return calendar.to_ical()
