"""Demo data for `make run`: a handful of staff and patients with known passwords.

Idempotent: a second run finds every row in place and writes nothing. It refuses to run
when DEBUG is off unless --force, because well-known passwords on a production database
would be an open door.

At the end it runs `seed_demo_appointments` (appointment types, the doctors' hours, a few
bookings) and `seed_demo_records` (the patients' charts), idempotent too, by name: accounts
sits below the domain apps and imports none.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import CareRelationship, Role
from accounts.services import care_relationship_start, patient_profile_ensure, user_ensure

DEMO_PASSWORD = "demo-password-2026"


@dataclass(frozen=True)
class DemoUser:
    email: str
    full_name: str
    role: str
    is_staff: bool = False
    is_superuser: bool = False


DEMO_USERS = [
    DemoUser("dr.adams@demo.telemed.test", "Dr Alice Adams", Role.DOCTOR),
    DemoUser("dr.baker@demo.telemed.test", "Dr Bruno Baker", Role.DOCTOR),
    DemoUser("nurse.nguyen@demo.telemed.test", "Nina Nguyen", Role.NURSE),
    DemoUser("admin@demo.telemed.test", "Ada Admin", Role.ADMIN, is_staff=True, is_superuser=True),
    DemoUser("paula.patel@demo.telemed.test", "Paula Patel", Role.PATIENT),
    DemoUser("sam.silva@demo.telemed.test", "Sam Silva", Role.PATIENT),
    DemoUser("lee.lopez@demo.telemed.test", "Lee Lopez", Role.PATIENT),
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
                patient_profile_ensure(user=user, legal_name=demo.full_name)
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
