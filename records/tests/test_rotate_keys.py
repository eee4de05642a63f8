"""`manage.py rotate_keys`: every encrypted value and document moves to the new key and still reads."""

from __future__ import annotations

import io
import os

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db.models import TextField
from django.db.models.functions import Cast

from audit.models import AuditEvent
from records.models import Allergy, ClinicalNote, Document
from records.services.chart import entry_update
from records.services.documents import document_open, document_stored_key_id
from records.services.notes import content_sha256
from records.tests.full_chart import full_chart
from telemed.crypto import UnknownKeyError
from telemed.crypto.fields import decrypt_text, stored_key_id
from telemed.crypto.rotation import encrypted_fields, rotate_field, write_if_unchanged

KEY_A = os.urandom(32)
KEY_B = os.urandom(32)


@pytest.fixture
def chart_under_a(settings, patient, doctor):
    settings.FIELD_ENCRYPTION_KEYS = {"A": KEY_A}
    return full_chart(patient, doctor, lambda label: f"{label}: réaction sévère, naïve café №7")


def stored_values() -> dict[str, list[str]]:
    """Every non-empty stored (encrypted) value of every encrypted column, as the database holds it."""
    values = {}
    for model, field in encrypted_fields():
        rows = model._base_manager.annotate(raw=Cast(field.name, TextField())).values_list("raw", flat=True)
        values[f"{model._meta.label}.{field.name}"] = sorted(raw for raw in rows if raw)
    return values


def key_ids() -> set[str]:
    return {stored_key_id(raw) for raws in stored_values().values() for raw in raws}


def plaintexts() -> dict[str, list[str]]:
    """Every non-empty value read back through the ORM (which decrypts)."""
    values = {}
    for model, field in encrypted_fields():
        read = [getattr(row, field.name) for row in model._base_manager.all()]
        if any(read):
            values[f"{model._meta.label}.{field.name}"] = sorted(value for value in read if value)
    return values


def rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_keys", *args, stdout=out)
    return out.getvalue()


def download(document: Document, patient) -> bytes:
    document.refresh_from_db()
    return b"".join(document_open(document, actor=patient))


def test_it_reencrypts_every_value_and_document_under_the_new_key_and_everything_reads_the_same(
    settings, chart_under_a, patient
):
    document = chart_under_a.objects["document"]
    old_object = document.storage_key
    before = plaintexts()
    assert key_ids() == {"A"}
    assert before == {label: sorted(values) for label, values in chart_under_a.written.items()}

    settings.FIELD_ENCRYPTION_KEYS = {"B": KEY_B, "A": KEY_A}
    output = rotate("--batch-size", "1")

    assert "Current key: B" in output
    assert f"{len(chart_under_a.texts())} values and 1 documents re-encrypted under key B" in output
    assert key_ids() == {"B"}
    assert plaintexts() == before
    document.refresh_from_db()
    assert (document.key_id, document_stored_key_id(document)) == ("B", "B")
    assert not default_storage.exists(old_object)
    assert download(document, patient) == chart_under_a.document_content
    # The signed note's digest (taken over its plaintext at signing) still matches.
    note = ClinicalNote.objects.get(pk=chart_under_a.objects["note"].pk)
    assert content_sha256(note) == note.content_sha256
    event = AuditEvent.objects.get(action="records.keys.rotate")
    assert event.actor is None
    assert event.target_id == "B"
    assert f"{len(chart_under_a.texts())} values and 1 documents re-encrypted" in event.reason


def test_a_second_run_rotates_nothing(settings, chart_under_a):
    settings.FIELD_ENCRYPTION_KEYS = {"B": KEY_B, "A": KEY_A}
    rotate()
    after_first = stored_values()

    output = rotate()

    assert "0 values and 0 documents re-encrypted under key B" in output
    assert stored_values() == after_first


def test_once_rotated_the_old_key_can_be_removed(settings, chart_under_a, patient):
    settings.FIELD_ENCRYPTION_KEYS = {"B": KEY_B, "A": KEY_A}
    before = plaintexts()
    rotate()

    settings.FIELD_ENCRYPTION_KEYS = {"B": KEY_B}

    assert plaintexts() == before
    assert download(chart_under_a.objects["document"], patient) == chart_under_a.document_content


def test_without_the_old_key_values_under_it_do_not_read_and_rotation_refuses_to_pretend(settings, chart_under_a):
    before = stored_values()
    settings.FIELD_ENCRYPTION_KEYS = {"B": KEY_B}

    with pytest.raises(UnknownKeyError, match="'A'"):
        plaintexts()
    with pytest.raises(CommandError, match="keep every old key"):
        rotate()

    assert stored_values() == before
    assert list(Document.objects.values_list("key_id", flat=True)) == ["A"]


def test_a_dry_run_counts_and_writes_nothing(settings, chart_under_a):
    before = stored_values()
    settings.FIELD_ENCRYPTION_KEYS = {"B": KEY_B, "A": KEY_A}

    output = rotate("--dry-run")

    assert f"{len(chart_under_a.texts())} values and 1 documents to re-encrypt under key B" in output
    assert "records.Allergy.substance: 1 to re-encrypt" in output
    assert "records.VitalSigns.note: 2 to re-encrypt" in output
    assert stored_values() == before
    assert list(Document.objects.values_list("key_id", flat=True)) == ["A"]
    assert not AuditEvent.objects.filter(action="records.keys.rotate").exists()


def test_a_run_stopped_part_way_is_finished_by_the_next(settings, chart_under_a):
    settings.FIELD_ENCRYPTION_KEYS = {"B": KEY_B, "A": KEY_A}
    before = plaintexts()
    # What a run killed after its first few batches leaves: some columns done, the rest not.
    # (The chart's columns: other apps' encrypted columns hold nothing in this test.)
    finished = [(model, field) for model, field in encrypted_fields() if model._meta.app_label == "records"][:3]
    done = sum(rotate_field(model, field, batch_size=1).rotated for model, field in finished)
    assert done > 0
    assert key_ids() == {"A", "B"}

    output = rotate()

    assert f"{len(chart_under_a.texts()) - done} values and 1 documents re-encrypted under key B" in output
    assert key_ids() == {"B"}
    assert plaintexts() == before


def test_an_edit_made_while_rotation_runs_is_kept(settings, chart_under_a, clinician):
    allergy = chart_under_a.objects["allergy"]
    field = Allergy._meta.get_field("reaction")
    (read_by_rotation,) = stored_values()["records.Allergy.reaction"]
    settings.FIELD_ENCRYPTION_KEYS = {"B": KEY_B, "A": KEY_A}
    plaintext = decrypt_text(read_by_rotation, context=field.encryption_context)
    # Between rotation's read and its write, a clinician corrects the reaction.
    entry_update(allergy, actor=clinician, reaction="Anaphylaxie (corrigé)")

    written = write_if_unchanged(Allergy, field, pk=allergy.pk, stored=read_by_rotation, plaintext=plaintext)

    assert written is False
    assert Allergy.objects.get(pk=allergy.pk).reaction == "Anaphylaxie (corrigé)"
