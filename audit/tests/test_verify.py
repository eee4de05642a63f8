import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from audit.chain import HASHED_FIELDS, compute_hash
from audit.models import AuditEvent
from audit.testing import audit_guards_lifted
from audit.verify import BreakKind, audit_chain_verify


@pytest.fixture
def chain(record_events, doctor, patient):
    return record_events(10, actor=doctor, patient=patient)


def tamper(fn):
    with transaction.atomic(), audit_guards_lifted():
        fn()


def broken_at(report):
    assert report.first_break is not None, "the chain was expected to be broken"
    return report.first_break.seq, report.first_break.event_id, report.first_break.kind


def test_every_model_field_but_the_id_and_hash_is_sealed_by_the_hash():
    attnames = {f.attname for f in AuditEvent._meta.concrete_fields}
    assert set(HASHED_FIELDS) == attnames - {"id", "hash"}


def test_a_long_chain_verifies_when_read_in_small_batches(record_events):
    record_events(120)

    report = audit_chain_verify(batch_size=7)

    assert report.ok
    assert report.verified == 120


def test_an_empty_trail_verifies(db):
    assert audit_chain_verify().verified == 0


def test_it_names_the_first_edited_event(chain):
    tamper(lambda: AuditEvent.objects.filter(seq__in=[4, 8]).update(reason="nothing to see here"))

    assert broken_at(audit_chain_verify(batch_size=3)) == (4, chain[3].pk, BreakKind.HASH_MISMATCH)


def test_it_names_an_edited_event_whose_hash_was_recomputed_without_the_key(chain, settings):
    settings.AUDIT_HMAC_KEY = "a-guessed-key"
    forged = {name: getattr(chain[5], name) for name in HASHED_FIELDS} | {"action": "records.chart.print"}
    forged_hash = compute_hash(forged)
    settings.AUDIT_HMAC_KEY = "insecure-audit-key-for-debug-and-tests"
    tamper(lambda: AuditEvent.objects.filter(pk=chain[5].pk).update(action="records.chart.print", hash=forged_hash))

    assert broken_at(audit_chain_verify()) == (6, chain[5].pk, BreakKind.HASH_MISMATCH)


def test_it_names_the_event_after_a_deleted_one(chain):
    tamper(lambda: AuditEvent.objects.filter(seq=5).delete())

    assert broken_at(audit_chain_verify(batch_size=4)) == (6, chain[5].pk, BreakKind.SEQ_GAP)


def test_it_notices_events_cut_off_the_end(chain):
    tamper(lambda: AuditEvent.objects.filter(seq__gte=9).delete())

    assert broken_at(audit_chain_verify()) == (9, None, BreakKind.SEQ_GAP)


def test_it_names_a_forged_event_appended_without_the_key(chain, settings):
    last = chain[-1]
    forged = AuditEvent(
        seq=11,
        occurred_at=timezone.now(),
        actor=None,
        actor_role="system",
        action="records.chart.view",
        outcome="success",
        prev_hash=last.hash,
    )
    settings.AUDIT_HMAC_KEY = "a-guessed-key"
    forged.hash = compute_hash({name: getattr(forged, name) for name in HASHED_FIELDS})
    settings.AUDIT_HMAC_KEY = "insecure-audit-key-for-debug-and-tests"
    forged.save(force_insert=True)  # no guard needed: appending is allowed

    assert broken_at(audit_chain_verify()) == (11, forged.pk, BreakKind.HASH_MISMATCH)


def test_it_names_a_forged_event_inserted_in_the_middle(chain):
    def insert_at_four():
        for event in reversed(chain[3:]):  # make room, last first so seq stays unique
            AuditEvent.objects.filter(pk=event.pk).update(seq=event.seq + 1)
        AuditEvent.objects.create(
            seq=4,
            occurred_at=chain[3].occurred_at,
            actor_role="system",
            action="records.chart.view",
            prev_hash=chain[2].hash,
            hash="f" * 64,
        )

    tamper(insert_at_four)

    report = audit_chain_verify()
    assert broken_at(report) == (4, AuditEvent.objects.get(seq=4).pk, BreakKind.HASH_MISMATCH)
    assert report.verified == 3


def test_it_names_the_first_of_two_reordered_events(chain):
    def swap_three_and_seven():
        AuditEvent.objects.filter(seq=3).update(seq=1_000_000)
        AuditEvent.objects.filter(seq=7).update(seq=3)
        AuditEvent.objects.filter(seq=1_000_000).update(seq=7)

    tamper(swap_three_and_seven)

    assert broken_at(audit_chain_verify()) == (3, chain[6].pk, BreakKind.HASH_MISMATCH)


def test_it_names_an_event_sealed_with_the_key_but_linked_to_another_chain(chain):
    # Someone holding the key (a restored backup of another environment) can make a row whose
    # own hash is right; it still has to point at the event before it.
    row = {name: getattr(chain[-1], name) for name in HASHED_FIELDS} | {"seq": 11, "prev_hash": "e" * 64}
    foreign = AuditEvent(**row)
    foreign.hash = compute_hash(row)
    foreign.save(force_insert=True)

    assert broken_at(audit_chain_verify()) == (11, foreign.pk, BreakKind.PREV_HASH_MISMATCH)


def test_it_notices_a_valid_looking_event_past_the_chain_head(chain):
    row = {name: getattr(chain[-1], name) for name in HASHED_FIELDS} | {"seq": 11, "prev_hash": chain[-1].hash}
    extra = AuditEvent(**row)
    extra.hash = compute_hash(row)
    extra.save(force_insert=True)

    assert broken_at(audit_chain_verify()) == (11, extra.pk, BreakKind.HEAD_MISMATCH)


def test_a_chain_made_under_another_key_does_not_verify(chain, settings):
    settings.AUDIT_HMAC_KEY = "the-key-of-someone-else"

    assert broken_at(audit_chain_verify()) == (1, chain[0].pk, BreakKind.HASH_MISMATCH)


def test_the_command_says_ok_with_the_number_of_events(chain, capsys):
    call_command("audit_verify", "--batch-size", "3")

    assert capsys.readouterr().out.strip() == "OK: 10 events verified"


def test_the_command_fails_naming_the_first_broken_event(chain):
    tamper(lambda: AuditEvent.objects.filter(seq=2).update(target_id="999"))

    with pytest.raises(CommandError) as exc:
        call_command("audit_verify")

    assert exc.value.returncode == 1
    assert f"event seq=2 id={chain[1].pk}: hash mismatch" in str(exc.value)
