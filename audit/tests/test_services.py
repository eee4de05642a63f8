import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import Http404

from audit.context import audit_context
from audit.errors import AuditError, AuditErrorCode
from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent, Outcome
from audit.services import audit_record, audit_record_denied
from audit.verify import audit_chain_verify


def test_it_records_who_did_what_to_whose_data(doctor, patient):
    with audit_context(ip="198.51.100.4", user_agent="Mobile/2.1", request_id="abc12345"):
        event = audit_record(
            actor=doctor, action="records.note.view", target_type="records.note", target_id=42, patient=patient
        )

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.actor == doctor
    assert stored.actor_role == "doctor"
    assert stored.patient == patient
    assert (stored.target_type, stored.target_id) == ("records.note", "42")
    assert (stored.ip, stored.user_agent, stored.request_id) == ("198.51.100.4", "Mobile/2.1", "abc12345")
    assert stored.outcome == Outcome.SUCCESS
    assert stored.occurred_at.utcoffset().total_seconds() == 0


def test_the_first_event_links_to_genesis_and_the_next_to_it(db):
    first = audit_record(actor=None, action="system.reminder.send")
    second = audit_record(actor=None, action="system.reminder.send")

    assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert first.actor_role == "system"
    head = AuditChainHead.objects.get()
    assert (head.last_seq, head.last_hash) == (2, second.hash)


def test_the_actor_role_is_a_snapshot_that_survives_a_role_change(nurse, patient):
    event = audit_record(actor=nurse, action="records.vitals.view", patient=patient)
    nurse.role = "doctor"
    nurse.save()

    assert AuditEvent.objects.get(pk=event.pk).actor_role == "nurse"


def test_an_anonymous_attempt_is_recorded_without_an_actor(patient):
    event = audit_record(actor=AnonymousUser(), action="records.chart.view", patient=patient, outcome=Outcome.DENIED)

    assert (event.actor, event.actor_role) == (None, "anonymous")


def test_it_refuses_an_action_that_is_not_app_object_verb(doctor):
    with pytest.raises(AuditError) as exc:
        audit_record(actor=doctor, action="Viewed chart")

    assert exc.value.code == AuditErrorCode.INVALID_ACTION
    assert not AuditEvent.objects.exists()


def test_break_glass_access_needs_a_reason(outsider_doctor, patient):
    with pytest.raises(AuditError) as exc:
        audit_record(actor=outsider_doctor, action="records.chart.view", patient=patient, breakglass=True, reason=" ")
    assert exc.value.code == AuditErrorCode.REASON_REQUIRED

    event = audit_record(
        actor=outsider_doctor, action="records.chart.view", patient=patient, breakglass=True, reason="ER admission"
    )
    assert AuditEvent.objects.get(pk=event.pk).breakglass is True


def test_an_event_rolls_back_with_the_callers_failed_transaction(committed_db, doctor, patient):
    with pytest.raises(RuntimeError, match="boom"), transaction.atomic(durable=True):
        audit_record(actor=doctor, action="records.note.create", patient=patient)
        raise RuntimeError("boom")

    assert not AuditEvent.objects.exists()
    assert audit_chain_verify().ok


def test_a_denied_attempt_survives_the_callers_failure(committed_db, outsider_doctor, patient):
    def chart_for(user):
        # The pattern callers follow: decide, record the refusal on its own, then raise.
        audit_record_denied(
            actor=user, action="records.chart.view", target_type="records.chart", target_id=patient.pk, patient=patient
        )
        raise Http404

    with pytest.raises(Http404):
        chart_for(outsider_doctor)

    denied = AuditEvent.objects.get()
    assert (denied.actor, denied.outcome, denied.patient) == (outsider_doctor, Outcome.DENIED, patient)
    assert audit_chain_verify().verified == 1


def test_a_denied_record_refuses_to_run_inside_the_callers_transaction(committed_db, outsider_doctor, patient):
    # Inside an atomic block the record would vanish with the caller's rollback; it refuses instead.
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        audit_record_denied(actor=outsider_doctor, action="records.chart.view", patient=patient)

    assert not AuditEvent.objects.exists()
