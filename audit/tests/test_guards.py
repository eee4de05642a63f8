"""The database refuses to change or remove audit rows (SQLite and PostgreSQL alike)."""

import pytest
from django.db import IntegrityError, connection, transaction

from audit.models import AuditEvent
from audit.services import audit_record

TABLE = AuditEvent._meta.db_table


@pytest.fixture
def event(doctor, patient):
    return audit_record(actor=doctor, action="records.chart.view", patient=patient, reason="follow-up")


def test_the_database_refuses_an_orm_update(event):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(reason="edited")

    event.reason = "edited"
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        event.save()

    assert AuditEvent.objects.get(pk=event.pk).reason == "follow-up"


def test_the_database_refuses_a_raw_update(event):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET reason = %s WHERE id = %s", ["edited", event.pk])

    assert AuditEvent.objects.get(pk=event.pk).reason == "follow-up"


def test_the_database_refuses_an_orm_delete(event):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()

    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_the_database_refuses_a_raw_delete(event):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [event.pk])

    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_the_database_refuses_to_empty_the_table(event):
    # PostgreSQL has TRUNCATE (which skips row triggers, hence its own statement trigger);
    # SQLite's equivalent is DELETE without WHERE.
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The test's own transaction still holds the insert's deferred foreign-key checks,
            # which PostgreSQL would name instead of our trigger; a committed row has none.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {TABLE}")
        else:
            cursor.execute(f"DELETE FROM {TABLE}")

    assert AuditEvent.objects.count() == 1


def test_appending_is_still_allowed(event, doctor, patient):
    audit_record(actor=doctor, action="records.chart.view", patient=patient)

    assert AuditEvent.objects.count() == 2
