"""Test support: lifting the append-only guards the way a database owner could.

Tests that commit (pytest `transactional_db`) leave audit rows that Django's flush between
tests cannot remove, because the guards refuse it; `audit_trail_purge()` removes them first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from audit.models import AuditChainHead, AuditEvent


@contextmanager
def audit_guards_lifted() -> Iterator[None]:
    """Inside the block the audit table accepts UPDATE and DELETE (call it in a transaction)."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # Put back exactly what was there, as an attacker covering their tracks would.
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [AuditEvent._meta.db_table],
            )
            triggers = cursor.fetchall()
            for name, _ in triggers:
                cursor.execute(f"DROP TRIGGER {connection.ops.quote_name(name)}")
            try:
                yield
            finally:
                for _, sql in triggers:
                    cursor.execute(sql)
        else:
            # ALTER TABLE refuses while Django's deferred foreign-key checks are queued in this
            # transaction; run them now (they would have run at commit anyway).
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            try:
                yield
            finally:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def audit_trail_purge() -> None:
    """Delete every audit event and the chain head, with the guards lifted then restored."""
    with transaction.atomic(), audit_guards_lifted():
        AuditEvent.objects.all().delete()
        AuditChainHead.objects.all().delete()
