import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from audit.errors import AuditError
from audit.selectors import audit_subject_get
from audit.services import audit_export_csv


def _moment(value: str, *, end: bool) -> dt.datetime:
    """A date means the whole day (UTC): --since 2025-01-01 --until 2025-01-31 covers January 31st too."""
    # Date first: parse_datetime would also read "2025-01-31" as that day's midnight.
    try:
        day = parse_date(value)
        parsed = None if day else parse_datetime(value)
    except ValueError:
        day = parsed = None
    if day is not None:
        start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
        return start + dt.timedelta(days=1) if end else start
    if parsed is None:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD) or an ISO datetime.")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class Command(BaseCommand):
    help = "Export audit events as CSV, for one patient and/or a period. The export is itself audited."

    def add_arguments(self, parser):
        parser.add_argument("--patient", help="user id or email address")
        parser.add_argument("--since", help="first day (YYYY-MM-DD) or ISO datetime, inclusive")
        parser.add_argument("--until", help="last day (YYYY-MM-DD, inclusive) or ISO datetime (exclusive)")
        parser.add_argument("--output", help="file to write (default: standard output)")
        parser.add_argument("--reason", default="", help="why the export is made (stored in the audit trail)")

    def handle(self, *args, patient, since, until, output, reason, **options):
        if not (patient or since or until):
            raise CommandError("Give --patient and/or --since/--until.")
        try:
            subject = audit_subject_get(patient) if patient else None
            kwargs = {
                "actor": None,
                "patient": subject,
                "since": _moment(since, end=False) if since else None,
                "until": _moment(until, end=True) if until else None,
                "reason": reason or "manage.py audit_export",
            }
            if output:
                with open(output, "w", newline="", encoding="utf-8") as out:
                    written = audit_export_csv(out=out, **kwargs)
            else:
                written = audit_export_csv(out=self.stdout, **kwargs)
        except AuditError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"{written} events exported")
