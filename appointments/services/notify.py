"""What the appointments app tells people, put in the messaging outbox in the caller's
transaction (so a booking and its reminders commit together, or not at all).

Keys (unique per delivery, see docs/notifications.md):

    appointment:<id>:v<schedule_version>:<what>:<channel>

A reschedule raises `schedule_version`, so the new time gets new reminders while the old
ones are cancelled by prefix. No health details: times, the provider's name, the modality and
a link — never the reason for the visit.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone

from accounts.models import User
from appointments.ical import appointment_ics, appointment_url
from appointments.models import Appointment, ClinicSettings, WaitlistOffer
from appointments.selectors import provider_zones
from messaging.services import (
    CHANNEL_EMAIL,
    CHANNEL_IN_APP,
    CHANNEL_SMS,
    notification_schedule,
    notifications_cancel_for,
)

# Which channels each kind of notice goes out on. SMS only for reminders (short, and the
# recipient opted in); in-app always (it is the portal's own list).
PATIENT_CHANNELS = (CHANNEL_EMAIL, CHANNEL_IN_APP)
REMINDER_CHANNELS = (CHANNEL_EMAIL, CHANNEL_SMS, CHANNEL_IN_APP)
PROVIDER_CHANNELS = (CHANNEL_EMAIL, CHANNEL_IN_APP)


def appointment_key_prefix(appointment: Appointment) -> str:
    return f"appointment:{appointment.pk}:"


def _version_prefix(appointment: Appointment) -> str:
    return f"appointment:{appointment.pk}:v{appointment.schedule_version}:"


def _when(moment: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{formats.date_format(local, 'l j F Y')} at {local:%H:%M} ({zone.key})"


def _patient_zone(provider_id: int) -> zoneinfo.ZoneInfo:
    # Patients keep no time zone of their own yet: the provider's (where the visit is held, and
    # the best guess for a patient of that practice), which the text always names.
    return provider_zones([provider_id])[provider_id]


def _schedule(
    *,
    recipient: User,
    kind: str,
    key: str,
    channels: tuple[str, ...],
    subject: str,
    message: str,
    when: str = "",
    with_whom: str = "",
    modality: str = "",
    link: str,
    link_label: str,
    due_at: dt.datetime,
    ics: bytes | None = None,
) -> None:
    context = {
        "recipient_name": recipient.full_name or recipient.email,
        "message": message,
        "when": when,
        "with_whom": with_whom,
        "modality": modality,
        "link": link,
        "link_label": link_label,
        "clinic_name": settings.CLINIC_NAME,
    }
    text = render_to_string("appointments/email/notification.txt", context).strip() + "\n"
    html = render_to_string("appointments/email/notification.html", context)
    for channel in channels:
        is_email = channel == CHANNEL_EMAIL
        sms_text = f"{settings.CLINIC_NAME}: {message} {when} {link}".strip()
        notification_schedule(
            recipient=recipient,
            kind=kind,
            channel=channel,
            subject=subject,
            body_text=text if channel != CHANNEL_SMS else sms_text,
            body_html=html if is_email else "",
            attachments=[{"filename": "appointment.ics", "content_type": "text/calendar", "content": ics}]
            if (is_email and ics)
            else [],
            due_at=due_at,
            idempotency_key=f"{key}:{channel}",
        )


def _patient_recipients(appointment: Appointment, actor: User) -> list[User]:
    """The patient, and the proxy who acted for them (they asked, they hear back)."""
    recipients = [appointment.patient]
    if actor.pk != appointment.patient_id and actor.role == "patient":
        recipients.append(actor)
    return recipients


def _details(appointment: Appointment, zone: zoneinfo.ZoneInfo) -> dict[str, str]:
    return {
        "when": _when(appointment.starts_at, zone),
        "with_whom": appointment.provider.full_name or appointment.provider.email,
        "modality": appointment.appointment_type.get_modality_display(),
    }


def patient_notify(appointment: Appointment, *, actor: User, event: str, subject: str, message: str) -> None:
    """Tell the patient (and the acting proxy) about `event`, now, with the calendar file."""
    now = timezone.now()
    cancelled = appointment.status == Appointment.Status.CANCELLED
    ics = appointment_ics(appointment, cancelled=cancelled)
    for recipient in _patient_recipients(appointment, actor):
        suffix = "" if recipient.pk == appointment.patient_id else f":proxy{recipient.pk}"
        _schedule(
            recipient=recipient,
            kind=f"appointment.{event}",
            key=f"{_version_prefix(appointment)}{event}{suffix}",
            channels=PATIENT_CHANNELS,
            subject=subject,
            message=message,
            link=appointment_url(appointment),
            link_label="Open the appointment",
            due_at=now,
            ics=ics,
            **_details(appointment, _patient_zone(appointment.provider_id)),
        )


def provider_notify(appointment: Appointment, *, event: str, subject: str, message: str) -> None:
    """Tell the provider that the patient's side booked, moved or cancelled."""
    zone = provider_zones([appointment.provider_id])[appointment.provider_id]
    _schedule(
        recipient=appointment.provider,
        kind=f"appointment.provider_{event}",
        key=f"{_version_prefix(appointment)}provider_{event}",
        channels=PROVIDER_CHANNELS,
        subject=subject,
        message=message,
        link=appointment_url(appointment),
        link_label="Open the appointment",
        due_at=timezone.now(),
        ics=appointment_ics(appointment, cancelled=appointment.status == Appointment.Status.CANCELLED),
        when=_when(appointment.starts_at, zone),
        with_whom=appointment.patient.full_name or appointment.patient.email,
        modality=appointment.appointment_type.get_modality_display(),
    )


def reminders_schedule(appointment: Appointment) -> int:
    """Reminders at the clinic's offsets before the start (those not already past). Returns
    how many offsets were scheduled."""
    now = timezone.now()
    offsets = ClinicSettings.current().reminder_offsets_minutes
    ics = appointment_ics(appointment)
    details = _details(appointment, _patient_zone(appointment.provider_id))
    scheduled = 0
    for minutes in sorted(set(offsets), reverse=True):
        due_at = appointment.starts_at - dt.timedelta(minutes=minutes)
        if due_at <= now:
            continue
        hours, rest = divmod(minutes, 60)
        ahead = f"{hours} h" if not rest else f"{minutes} min"
        _schedule(
            recipient=appointment.patient,
            kind="appointment.reminder",
            key=f"{_version_prefix(appointment)}reminder:{minutes}",
            channels=REMINDER_CHANNELS,
            subject=f"Reminder: your Telemed appointment in {ahead}",
            message="This is a reminder of your upcoming appointment.",
            link=appointment_url(appointment),
            link_label="Open the appointment",
            due_at=due_at,
            ics=ics,
            **details,
        )
        scheduled += 1
    return scheduled


def pending_cancel(appointment: Appointment, *, version: int | None = None) -> int:
    """Cancel every notice of this appointment (of one schedule version) not yet sent."""
    if version is None:
        return notifications_cancel_for(appointment_key_prefix(appointment))
    return notifications_cancel_for(f"appointment:{appointment.pk}:v{version}:")


def waitlist_offer_notify(offer: WaitlistOffer) -> None:
    patient = offer.entry.patient
    zone = _patient_zone(offer.provider_id)
    link = settings.SITE_URL.rstrip("/") + reverse("appointments:waitlist_offer", args=[offer.pk])
    _schedule(
        recipient=patient,
        kind="waitlist.offer",
        key=f"waitlist-offer:{offer.pk}",
        channels=PATIENT_CHANNELS,
        subject="An earlier appointment is available for you",
        message=(
            "A time you were waiting for has become free. It is held for you until "
            f"{_when(offer.expires_at, zone)}; accept it to book, or decline to pass it on."
        ),
        when=_when(offer.starts_at, zone),
        with_whom=offer.provider.full_name or offer.provider.email,
        modality=offer.appointment_type.get_modality_display(),
        link=link,
        link_label="See the offer",
        due_at=timezone.now(),
    )
