"""Demo data of the prescriptions app (prescriptions.services.demo).

Runs after `seed_demo` (which calls it at its end, after the charts) and needs its users, care
relationships and charts. Idempotent: a patient who already has a prescription is left alone.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import users_active_by_email
from prescriptions.services.demo import DEMO_PRESCRIPTIONS, demo_emails, demo_prescriptions_ensure


class Command(BaseCommand):
    help = "Give the demo patients signed prescriptions (idempotent; DEBUG only unless --force)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Run even when DEBUG is off (never on a production database)."
        )

    def handle(self, *args, force: bool, **options) -> None:
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo_prescriptions writes demo data; it runs only with DEBUG=1 (or --force).")
        emails = demo_emails()
        users = users_active_by_email(emails)
        missing = sorted(emails - set(users))
        if missing:
            raise CommandError(f"Demo users missing ({', '.join(missing)}): run `manage.py seed_demo` first.")
        written = demo_prescriptions_ensure(users=users)
        self.stdout.write(
            f"Prescriptions: {written} signed for the demo patients ({len(DEMO_PRESCRIPTIONS)} in the demo set)"
        )
