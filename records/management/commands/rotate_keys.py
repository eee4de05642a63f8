"""`manage.py rotate_keys`: re-encrypt everything still under an older key (records.services.keys)."""

from django.core.management.base import BaseCommand, CommandError

from records.services.keys import keys_rotate
from telemed.crypto import current_key_id
from telemed.crypto.rotation import DEFAULT_BATCH_SIZE


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field value and every document under the current key (the first of "
        "FIELD_ENCRYPTION_KEYS). Safe to run again; remove an old key only after a run that reports no failure."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"rows per transaction (default {DEFAULT_BATCH_SIZE})",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count (and test-decrypt) what would change; write nothing"
        )

    def handle(self, *args, batch_size, dry_run, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        self.stdout.write(f"Current key: {current_key_id()}")
        report = keys_rotate(batch_size=batch_size, dry_run=dry_run, progress=self.stdout.write)
        if dry_run:
            self.stdout.write(f"Dry run, nothing written: {report.summary()}.")
        else:
            self.stdout.write(f"Rotated: {report.summary()}.")
        if report.values_unreadable or report.documents_failed:
            raise CommandError(
                "Some values or documents could not be read and are still under an older key: "
                "keep every old key in FIELD_ENCRYPTION_KEYS, fix them (restore from backup), and run again."
            )
        if report.values_changed:
            self.stdout.write("Some values were edited during the run: run rotate_keys again before removing a key.")
        elif not dry_run:
            done = f"Everything is under key {report.key_id}: older keys may be removed (keep any a backup needs)."
            self.stdout.write(self.style.SUCCESS(done))
