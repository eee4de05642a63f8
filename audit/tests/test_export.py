import csv
import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.context import audit_context
from audit.errors import AuditErrorCode, AuditExportForbidden
from audit.models import AuditEvent, Outcome
from audit.services import EXPORT_COLUMNS, audit_export_csv, audit_record
from audit.verify import audit_chain_verify


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def trail(doctor, nurse, patient, outsider_patient):
    with time_machine.travel(dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC), tick=False):
        audit_record(actor=doctor, action="records.chart.view", patient=patient, target_type="records.chart")
    with time_machine.travel(dt.datetime(2025, 3, 2, 23, 59, tzinfo=dt.UTC), tick=False):
        audit_record(actor=nurse, action="records.vitals.create", patient=patient, target_id=7)
        audit_record(actor=doctor, action="records.chart.view", patient=outsider_patient)
    with time_machine.travel(dt.datetime(2025, 3, 3, 0, 0, tzinfo=dt.UTC), tick=False):
        audit_record(actor=None, action="appointments.reminder.send", patient=patient)


def test_it_exports_one_patients_events_by_id(trail, patient, doctor, tmp_path):
    out = tmp_path / "patient.csv"

    call_command("audit_export", "--patient", str(patient.pk), "--output", str(out))

    rows = read_csv(out)
    assert list(rows[0].keys()) == list(EXPORT_COLUMNS)
    assert [r["action"] for r in rows] == [
        "records.chart.view",
        "records.vitals.create",
        "appointments.reminder.send",
        "audit.export",  # the export is on record before the first row is written
    ]
    assert {r["patient_email"] for r in rows} == {patient.email}
    first = rows[0]
    assert (first["actor_email"], first["actor_role"], first["target_type"]) == (
        doctor.email,
        "doctor",
        "records.chart",
    )
    assert first["occurred_at"] == "2025-03-01T09:00:00+00:00"
    assert first["hash"] == AuditEvent.objects.get(seq=int(first["seq"])).hash


def test_it_finds_the_patient_by_email_too(trail, patient, tmp_path):
    out = tmp_path / "patient.csv"

    call_command("audit_export", "--patient", patient.email.upper(), "--output", str(out))

    assert len(read_csv(out)) == 4


def test_a_period_of_whole_days_includes_the_last_day(trail, tmp_path):
    out = tmp_path / "period.csv"

    call_command("audit_export", "--since", "2025-03-02", "--until", "2025-03-02", "--output", str(out))

    assert [r["action"] for r in read_csv(out)] == ["records.vitals.create", "records.chart.view"]


def test_the_export_is_itself_audited(trail, patient, tmp_path):
    with audit_context(ip="192.0.2.1", request_id="ops-00000001"):
        call_command("audit_export", "--patient", str(patient.pk), "--output", str(tmp_path / "x.csv"))

    export = AuditEvent.objects.get(action="audit.export")
    assert (export.actor, export.actor_role, export.outcome, export.patient) == (None, "system", "success", patient)
    assert f"patient={patient.pk}" in export.reason
    assert export.request_id == "ops-00000001"
    assert audit_chain_verify().ok


def test_it_refuses_to_export_without_a_filter(db):
    with pytest.raises(CommandError, match="--patient"):
        call_command("audit_export")

    assert not AuditEvent.objects.exists()


def test_it_refuses_an_unknown_patient(db, tmp_path):
    with pytest.raises(CommandError, match=r"nobody@example\.test"):
        call_command("audit_export", "--patient", "nobody@example.test", "--output", str(tmp_path / "x.csv"))


def test_it_refuses_a_period_that_ends_before_it_starts(db, tmp_path):
    with pytest.raises(CommandError, match="ends before"):
        call_command("audit_export", "--since", "2025-03-05", "--until", "2025-03-01", "--output", str(tmp_path / "x"))


def test_cells_that_a_spreadsheet_would_run_are_defused(patient, doctor):
    with audit_context(user_agent='=HYPERLINK("http://evil.example")'):
        audit_record(actor=doctor, action="records.chart.view", patient=patient)
    out = io.StringIO()

    audit_export_csv(actor=None, out=out, patient=patient)

    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0]["user_agent"] == '\'=HYPERLINK("http://evil.example")'


def test_a_user_without_audit_access_is_refused_and_the_attempt_is_kept(trail, doctor, patient):
    out = io.StringIO()

    with pytest.raises(AuditExportForbidden) as exc:
        audit_export_csv(actor=doctor, out=out, patient=patient)

    assert exc.value.code == AuditErrorCode.EXPORT_FORBIDDEN
    assert out.getvalue() == ""
    denied = AuditEvent.objects.get(action="audit.export")
    assert (denied.actor, denied.outcome) == (doctor, Outcome.DENIED)
