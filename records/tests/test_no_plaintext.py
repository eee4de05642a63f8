"""No plaintext at rest: a raw look at the database and at the storage backend finds no health text.

A chart gets a distinctive marker in every encrypted field of the records app and in a
document's content; then the database's bytes (SQLite: the file itself after a WAL checkpoint;
PostgreSQL: `pg_dump --data-only`) and every object under `documents/` in the default storage
(the filesystem, or S3 on moto in the services leg) are searched for the markers. Each test
also proves it can fail: a marker written on purpose where nothing is encrypted (a user's
name, a plain file) is found by the same search.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

from accounts.tests.factories import PatientFactory
from records.services.documents import PREFIX
from records.tests.full_chart import full_chart
from telemed.crypto.rotation import encrypted_fields

# Committed for real: rows still inside a test's open transaction would not be in the file.
pytestmark = pytest.mark.django_db(transaction=True)


def new_marker() -> str:
    return f"ZQXMARK{secrets.token_hex(8).upper()}"


def marked_chart(patient, doctor):
    markers: dict[str, str] = {}

    def text(label: str) -> str:
        marker = new_marker()
        markers[marker] = label
        return f"{label} {marker}"

    chart = full_chart(patient, doctor, text)
    return chart, markers


def pg_dump_binary() -> str:
    installed = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), key=lambda path: int(path.split("/")[4]))
    found = shutil.which("pg_dump") or (installed[-1] if installed else None)
    assert found, "pg_dump is needed to look at the PostgreSQL database (apt-get install postgresql-client)"
    return found


def database_bytes() -> bytes:
    """What someone with a copy of the database sees."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy, _log, _checkpointed = cursor.fetchone()
        assert busy == 0, "the WAL checkpoint did not complete"
        path = Path(settings["NAME"])
        # Read by another process: SQLite's locks are POSIX locks, which this process would drop
        # for every connection it holds (other threads' too) the moment it closed any
        # descriptor of the file — later tests then met "disk I/O error".
        files = [str(p) for p in (path, Path(f"{path}-wal")) if p.exists()]
        return subprocess.run(["cat", *files], check=True, capture_output=True, timeout=60).stdout
    assert connection.vendor == "postgresql"
    env = {**os.environ, "PGPASSWORD": settings.get("PASSWORD") or ""}
    command = [pg_dump_binary(), "--data-only", "--no-owner", "--dbname", settings["NAME"]]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if settings.get(key):
            command += [option, str(settings[key])]
    return subprocess.run(command, env=env, check=True, capture_output=True, timeout=120).stdout


def stored_objects(prefix: str) -> dict[str, bytes]:
    """Every object under `prefix` in the default storage, as the backend holds it."""
    _dirs, names = default_storage.listdir(prefix)
    objects = {}
    for name in names:
        with default_storage.open(f"{prefix}/{name}", "rb") as stored:
            objects[f"{prefix}/{name}"] = stored.read()
    return objects


def found_in(data: bytes, markers) -> list[str]:
    return [marker for marker in markers if marker.encode() in data]


def test_the_chart_fills_every_encrypted_field_of_the_records_app(patient, doctor):
    chart, _markers = marked_chart(patient, doctor)

    records_fields = {
        f"{model._meta.label}.{field.name}" for model, field in encrypted_fields() if model._meta.app_label == "records"
    }
    assert set(chart.written) == records_fields


def test_a_raw_look_at_the_database_finds_no_health_text(patient, doctor):
    chart, markers = marked_chart(patient, doctor)
    # Not health data, not encrypted: what the look must find, or it proves nothing.
    control = new_marker()
    PatientFactory(full_name=f"Control {control}")

    raw = database_bytes()

    assert found_in(raw, [control]) == [control]
    leaked = {markers[marker] for marker in found_in(raw, markers)}
    assert leaked == set()
    assert len(markers) == len(chart.texts()) + 1  # every field, and the document's content


def test_a_raw_look_at_the_storage_finds_no_document_content(patient, doctor):
    chart, markers = marked_chart(patient, doctor)
    document = chart.objects["document"]
    control = new_marker()
    control_key = default_storage.save(f"no-plaintext-control/{secrets.token_hex(8)}.txt", ContentFile(control))
    try:
        # The same reading finds a plaintext object: it looks at the real bytes.
        assert found_in(b"".join(stored_objects("no-plaintext-control").values()), [control]) == [control]
    finally:
        default_storage.delete(control_key)

    objects = stored_objects(PREFIX)

    assert document.storage_key in objects
    assert objects[document.storage_key] != chart.document_content
    assert chart.document_content not in objects[document.storage_key]
    leaked = {name: found_in(data, markers) for name, data in objects.items() if found_in(data, markers)}
    assert leaked == {}
