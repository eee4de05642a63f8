"""Writes behind `manage.py seed_demo_appointments`: appointment types, weekly hours and a few
bookings for the demo clinic. Each function is idempotent: what is already in place is left
alone and nothing is written, so a second run of the command changes nothing.

Bookings go through `appointment_book` (as the demo patient), so the demo data has the audit
events, notices and reminders a real booking has.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import ProviderProfile, User
from accounts.services import provider_profile_update
from appointments.models import Appointment, AppointmentType, WeeklyAvailability
from appointments.selectors import slots_between
from appointments.services.booking import appointment_book
from telemed.errors import ApplicationError


@dataclass(frozen=True)
class TypeSpec:
    name: str
    modality: str
    duration_minutes: int
    buffer_after_minutes: int = 0


@dataclass(frozen=True)
class WindowSpec:
    weekday: int
    start_time: dt.time
    end_time: dt.time


@transaction.atomic(durable=True)
def appointment_type_ensure(*, spec: TypeSpec) -> tuple[AppointmentType, bool]:
    """The appointment type named `spec.name`, created from `spec` when missing (an existing
    one is kept as the clinic may have edited it). Returns (type, created)."""
    existing = AppointmentType.objects.filter(name=spec.name).first()
    if existing is not None:
        return existing, False
    appointment_type = AppointmentType(
        name=spec.name,
        modality=spec.modality,
        duration_minutes=spec.duration_minutes,
        buffer_after_minutes=spec.buffer_after_minutes,
    )
    appointment_type.full_clean()
    appointment_type.save(force_insert=True)
    return appointment_type, True


def provider_time_zone_ensure(*, provider: User, time_zone: str) -> bool:
    """Set the provider's time zone (through the audited profile service, acting as the
    provider) unless it already is `time_zone`. Returns whether it changed."""
    current = ProviderProfile.objects.filter(user=provider).values_list("time_zone", flat=True).first()
    if current == time_zone:
        return False
    provider_profile_update(actor=provider, user=provider, time_zone=time_zone)
    return True


@transaction.atomic(durable=True)
def weekly_hours_ensure(
    *, provider: User, windows: list[WindowSpec], appointment_types: list[AppointmentType] | None = None
) -> int:
    """Give `provider` these weekly windows, unless they already have weekly hours of their own
    (an edited week is kept whole rather than merged). `appointment_types`: the types offered in
    the windows (none: every type). Returns how many windows were created."""
    if WeeklyAvailability.objects.filter(provider=provider).exists():
        return 0
    for spec in windows:
        window = WeeklyAvailability(
            provider=provider, weekday=spec.weekday, start_time=spec.start_time, end_time=spec.end_time
        )
        window.full_clean()
        window.save(force_insert=True)
        if appointment_types:
            window.appointment_types.set(appointment_types)
    return len(windows)


def _has_upcoming(patient: User, provider: User) -> bool:
    return Appointment.objects.filter(
        patient=patient,
        provider=provider,
        status__in=Appointment.ACTIVE_STATUSES,
        starts_at__gte=timezone.now(),
    ).exists()


def demo_booking_ensure(
    *,
    patient: User,
    provider: User,
    appointment_type: AppointmentType,
    not_before: dt.datetime,
    reason: str,
    search_days: int = 14,
) -> Appointment | None:
    """Book the first free slot from `not_before` on for `patient` with `provider`, booked by
    the patient, unless they already have an upcoming appointment together. Slots someone took
    in the meantime, or that clash with the patient's other appointments, are skipped. Returns
    the new appointment, or None when nothing was booked."""
    if _has_upcoming(patient, provider):
        return None
    slots = slots_between(
        provider_ids=[provider.pk],
        appointment_type=appointment_type,
        start=not_before,
        end=not_before + dt.timedelta(days=search_days),
    )
    for slot in slots:
        try:
            return appointment_book(
                actor=patient,
                patient=patient,
                provider=provider,
                appointment_type=appointment_type,
                starts_at=slot.starts_at,
                reason=reason,
            )
        except ApplicationError:
            # Taken since we listed it, or the patient is busy then: try the next one.
            continue
    return None
