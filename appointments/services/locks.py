"""The one lock every change to a provider's calendar takes."""

from __future__ import annotations

from django.db import connection

# pg_advisory_xact_lock(key1, key2): key1 names this use, key2 is the provider's id.
_LOCK_NAMESPACE = 0x7E1E  # "Telemed appointments"


def provider_calendar_lock(provider_id: int) -> None:
    """Serialize bookings, reschedules and waitlist holds of one provider until the
    transaction ends.

    It closes the race the exclusion constraint cannot see: a booking and a waitlist hold
    (an offer row, not an appointment) for the same time, each checking the other's table
    before either committed. On PostgreSQL it is a transaction-scoped advisory lock (no row,
    released at commit or rollback); the exclusion constraint stays as the last word on
    appointments. On SQLite the IMMEDIATE transaction already holds the database's write
    lock from BEGIN, which serializes every writer.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, int(provider_id)])
