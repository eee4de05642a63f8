from django.core.management.base import BaseCommand, CommandError

from audit.verify import audit_chain_verify


class Command(BaseCommand):
    help = "Recompute every link of the audit hash chain; exit 1 naming the first broken event."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000, help="events read per query (default 1000)")

    def handle(self, *args, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        report = audit_chain_verify(batch_size=batch_size)
        if not report.ok:
            raise CommandError(f"BROKEN after {report.verified} good events: {report.first_break}", returncode=1)
        self.stdout.write(f"OK: {report.verified} events verified")
