"""Demo data of the appointments app: appointment types, the demo doctors' working week and a
few bookings for the demo patients in the coming days.

Runs after `seed_demo` (which calls it at its end) and needs its users. Idempotent: types and
hours already in place are kept, and a patient who already has an upcoming appointment with a
doctor gets no new one, so a second run writes nothing. Dates are relative to now.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import Role, User
from appointments.models import Modality, Weekday
from appointments.services.demo import (
    TypeSpec,
    WindowSpec,
    appointment_type_ensure,
    demo_booking_ensure,
    provider_time_zone_ensure,
    weekly_hours_ensure,
)
from telemed.timezones import zone_or_default

VIDEO = "Video consultation"
IN_PERSON = "In-person visit"
PHONE = "Phone follow-up"

DEMO_TYPES = [
    TypeSpec(VIDEO, Modality.VIDEO, duration_minutes=20, buffer_after_minutes=10),
    TypeSpec(IN_PERSON, Modality.IN_PERSON, duration_minutes=30, buffer_after_minutes=10),
    TypeSpec(PHONE, Modality.PHONE, duration_minutes=15),
]

WORKING_WEEK = [
    WindowSpec(day, start, end)
    for day in (Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY, Weekday.FRIDAY)
    for start, end in ((dt.time(9), dt.time(12)), (dt.time(14), dt.time(17)))
]

# Dr Adams sees patients at the clinic in Paris; Dr Baker works remotely from New York, so
# only video and phone appointments (None: every type).
DEMO_DOCTORS = {
    "dr.adams@demo.telemed.test": ("Europe/Paris", None),
    "dr.baker@demo.telemed.test": ("America/New_York", [VIDEO, PHONE]),
}

# (patient, doctor, type, days from now, reason): only pairs that seed_demo already links by
# a care relationship, so the bookings start none.
DEMO_BOOKINGS = [
    ("paula.patel@demo.telemed.test", "dr.adams@demo.telemed.test", VIDEO, 1, "Blood pressure follow-up"),
    ("sam.silva@demo.telemed.test", "dr.adams@demo.telemed.test", IN_PERSON, 3, "Annual check-up"),
    ("sam.silva@demo.telemed.test", "dr.baker@demo.telemed.test", PHONE, 2, "Questions about a new prescription"),
    ("lee.lopez@demo.telemed.test", "dr.baker@demo.telemed.test", VIDEO, 4, "Cough for two weeks"),
]


class Command(BaseCommand):
    help = "Create the demo clinic's appointment types, doctors' hours and a few bookings (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Run even when DEBUG is off (never on a production database)."
        )

    def handle(self, *args, force: bool, **options) -> None:
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo_appointments writes demo data; it runs only with DEBUG=1 (or --force).")
        emails = set(DEMO_DOCTORS) | {patient for patient, *_ in DEMO_BOOKINGS}
        users = {user.email: user for user in User.objects.filter(email__in=emails, is_active=True)}
        missing = sorted(emails - set(users))
        if missing:
            raise CommandError(f"Demo users missing ({', '.join(missing)}): run `manage.py seed_demo` first.")
        if any(users[email].role != Role.DOCTOR for email in DEMO_DOCTORS):
            raise CommandError("A demo doctor is no longer a doctor: run `manage.py seed_demo` to restore them.")

        types = {}
        types_created = 0
        for spec in DEMO_TYPES:
            types[spec.name], created = appointment_type_ensure(spec=spec)
            types_created += created

        windows_created = 0
        for email, (time_zone, type_names) in DEMO_DOCTORS.items():
            provider_time_zone_ensure(provider=users[email], time_zone=time_zone)
            offered = [types[name] for name in type_names] if type_names else None
            windows_created += weekly_hours_ensure(
                provider=users[email], windows=WORKING_WEEK, appointment_types=offered
            )

        booked = []
        now = timezone.now()
        for patient_email, doctor_email, type_name, days, reason in DEMO_BOOKINGS:
            appointment = demo_booking_ensure(
                patient=users[patient_email],
                provider=users[doctor_email],
                appointment_type=types[type_name],
                not_before=now + dt.timedelta(days=days),
                reason=reason,
            )
            if appointment is not None:
                booked.append(appointment)

        noun = "appointment" if len(booked) == 1 else "appointments"
        self.stdout.write(
            f"Appointments: {types_created} types and {windows_created} weekly windows created, "
            f"{len(booked)} {noun} booked"
        )
        for appointment in booked:
            zone = zone_or_default(DEMO_DOCTORS[appointment.provider.email][0])
            self.stdout.write(
                f"  {appointment.starts_at.astimezone(zone):%a %d %b %H:%M} {zone.key:<16} "
                f"{appointment.appointment_type.name}: {appointment.patient.email} with {appointment.provider.email}"
            )
