"""Channel-layer group names of the appointments app: one helper, so that the services that
send and the consumers that listen (added with messaging) cannot disagree."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings


def provider_day(provider_id: int, day: dt.date) -> str:
    """The provider's day view for `day` (a date in the provider's time zone)."""
    return f"appointments.provider.{provider_id}.{day:%Y%m%d}"


def patient(patient_id: int) -> str:
    """The patient's own appointment list (proxies acting for them listen here too)."""
    return f"appointments.patient.{patient_id}"


def provider_zone(provider) -> zoneinfo.ZoneInfo:
    profile = getattr(provider, "provider_profile", None)
    return zoneinfo.ZoneInfo(getattr(profile, "time_zone", None) or settings.TIME_ZONE)


def for_appointment(appointment, *, previous_starts_at: dt.datetime | None = None) -> list[str]:
    """Every group that must hear about a change to `appointment` (and, after a reschedule,
    the provider's day it left)."""
    zone = provider_zone(appointment.provider)
    days = {appointment.starts_at.astimezone(zone).date()}
    if previous_starts_at is not None:
        days.add(previous_starts_at.astimezone(zone).date())
    return [patient(appointment.patient_id), *(provider_day(appointment.provider_id, d) for d in sorted(days))]
