"""Demo data for `make run`: a handful of staff and patients with known passwords.

Idempotent: a second run finds every row in place and writes nothing. It refuses to run
when DEBUG is off unless --force, because well-known passwords on a production database
would be an open door.

At the end it runs `seed_demo_appointments` (appointment types, the doctors' hours, a few
bookings) and `seed_demo_records` (the patients' charts), idempotent too, by name: accounts
sits below the domain apps and imports none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import CareRelationship, Role
from accounts.selectors import own_profile
from accounts.services import (
    care_relationship_start,
    patient_profile_ensure,
    patient_profile_update,
    provider_profile_update,
    user_ensure,
)

DEMO_PASSWORD = "demo-password-2026"


@dataclass(frozen=True)
class DemoUser:
    email: str
    full_name: str
    role: str
    is_staff: bool = False
    is_superuser: bool = False
    # Patients: printed on their prescriptions. Doctors: their licence (a prescription shows it).
    birth_date: dt.date | None = None
    licence: tuple[str, str] | None = None


DEMO_USERS = [
    DemoUser("dr.adams@demo.telemed.test", "Dr Alice Adams", Role.DOCTOR, licence=("GMC 7012345", "United Kingdom")),
    DemoUser("dr.baker@demo.telemed.test", "Dr Bruno Baker", Role.DOCTOR, licence=("GMC 7098765", "United Kingdom")),
    DemoUser("nurse.nguyen@demo.telemed.test", "Nina Nguyen", Role.NURSE),
    DemoUser("admin@demo.telemed.test", "Ada Admin", Role.ADMIN, is_staff=True, is_superuser=True),
    DemoUser("paula.patel@demo.telemed.test", "Paula Patel", Role.PATIENT, birth_date=dt.date(1968, 4, 12)),
    DemoUser("sam.silva@demo.telemed.test", "Sam Silva", Role.PATIENT, birth_date=dt.date(1991, 9, 3)),
    DemoUser("lee.lopez@demo.telemed.test", "Lee Lopez", Role.PATIENT, birth_date=dt.date(1957, 1, 27)),
]

# (provider, patient): each doctor has patients of their own and one shared; the nurse is
# on every demo patient's care team.
DEMO_CARE = [
    ("dr.adams@demo.telemed.test", "paula.patel@demo.telemed.test"),
    ("dr.adams@demo.telemed.test", "sam.silva@demo.telemed.test"),
    ("dr.baker@demo.telemed.test", "sam.silva@demo.telemed.test"),
    ("dr.baker@demo.telemed.test", "lee.lopez@demo.telemed.test"),
    ("nurse.nguyen@demo.telemed.test", "paula.patel@demo.telemed.test"),
    ("nurse.nguyen@demo.telemed.test", "sam.silva@demo.telemed.test"),
    ("nurse.nguyen@demo.telemed.test", "lee.lopez@demo.telemed.test"),
]


def own_profile_licence(user) -> str:
    return getattr(own_profile(user), "licence_number", "") or ""


class Command(BaseCommand):
    help = "Create the demo clinic's users and care relationships (idempotent; DEBUG only unless --force)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even when DEBUG is off (never on a production database).",
        )
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help=f"Set every demo user's password back to {DEMO_PASSWORD!r}.",
        )

    def handle(self, *args, force: bool, reset_passwords: bool, **options) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates users with a published password; it runs only with DEBUG=1 "
                "(or --force, never on a production database)."
            )

        users = {}
        created_count = 0
        for demo in DEMO_USERS:
            user, created = user_ensure(
                email=demo.email,
                password=DEMO_PASSWORD,
                role=demo.role,
                full_name=demo.full_name,
                is_staff=demo.is_staff,
                is_superuser=demo.is_superuser,
                reset_password=reset_passwords,
                # Demo patients are past email verification, so the policy shows them their chart.
                email_verified=demo.role == Role.PATIENT,
            )
            if demo.role == Role.PATIENT:
                profile = patient_profile_ensure(user=user, legal_name=demo.full_name)
                # Only where missing, so a second run writes nothing and a demo edit stays.
                if demo.birth_date and profile.date_of_birth is None:
                    patient_profile_update(actor=user, user=user, date_of_birth=demo.birth_date)
            if demo.licence and not own_profile_licence(user):
                number, jurisdiction = demo.licence
                provider_profile_update(actor=user, user=user, licence_number=number, licence_jurisdiction=jurisdiction)
            users[demo.email] = user
            created_count += created

        for provider_email, patient_email in DEMO_CARE:
            care_relationship_start(
                patient=users[patient_email],
                provider=users[provider_email],
                kind=CareRelationship.Kind.ASSIGNMENT,
            )

        self.stdout.write(f"Demo clinic: {settings.CLINIC_NAME} ({created_count} users created, {len(users)} in all)")
        width = max(len(d.email) for d in DEMO_USERS)
        for demo in DEMO_USERS:
            self.stdout.write(f"  {demo.email:<{width}}  {demo.role!s:<8} {demo.full_name}")
        self.stdout.write(f"Password for every demo user: {DEMO_PASSWORD}")

        # DEBUG (or --force) was checked above.
        call_command("seed_demo_appointments", force=True, stdout=self.stdout, stderr=self.stderr)
        # Charts last: the drafts of visit notes link to the appointments just booked.
        call_command("seed_demo_records", force=True, stdout=self.stdout, stderr=self.stderr)
        # Prescriptions after charts: the safety check reads the allergies just recorded.
        call_command("seed_demo_prescriptions", force=True, stdout=self.stdout, stderr=self.stderr)
