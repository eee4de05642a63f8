"""Demo data of the records app: a realistic chart for each demo patient (records.services.demo).

Runs after `seed_demo` (which calls it at its end, after `seed_demo_appointments`) and needs
its users and care relationships. Idempotent: a section already holding entries is left
alone, so a second run writes nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import users_active_by_email
from records.services.demo import DEMO_CHARTS, demo_chart_ensure, demo_emails


class Command(BaseCommand):
    help = "Give each demo patient a realistic chart (idempotent; DEBUG only unless --force)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Run even when DEBUG is off (never on a production database)."
        )

    def handle(self, *args, force: bool, **options) -> None:
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo_records writes demo data; it runs only with DEBUG=1 (or --force).")
        emails = demo_emails()
        users = users_active_by_email(emails)
        missing = sorted(emails - set(users))
        if missing:
            raise CommandError(f"Demo users missing ({', '.join(missing)}): run `manage.py seed_demo` first.")

        total = 0
        for spec in DEMO_CHARTS:
            result = demo_chart_ensure(spec=spec, users=users)
            total += result.written
            if result.written:
                self.stdout.write(f"  {spec.patient}: {result.written} chart entries written")
            for warning in result.warnings:
                self.stderr.write(f"  warning: {warning}")
        self.stdout.write(f"Records: {total} chart entries written for {len(DEMO_CHARTS)} demo patients")
