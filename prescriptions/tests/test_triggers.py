"""The database's own guard of signed content (prescriptions migration 0002).

On PostgreSQL, triggers refuse: an UPDATE of a signed column, a status going back, any change
to the items of a signed prescription, any change to a dispense, a change to a key (beyond
retiring it once, or re-encrypting it during `manage.py rotate_keys`), deleting a key. They
allow what the services do: editing drafts, cancelling and superseding, retiring a key,
re-encrypting during key rotation.

SQLite has no such triggers. Each test says what each database does with the same write: on
SQLite it lands, and what still tells is the signature (verification says "invalid") — or,
for what is not signed (a status, a dispense, a key's lifecycle), nothing but the services.
"""

from __future__ import annotations

import io
import os

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError, TextField
from django.db.models.functions import Cast

from accounts.tests.factories import DoctorFactory
from prescriptions.models import Dispense, PrescriberKey, Prescription, PrescriptionItem, PrescriptionStatus
from prescriptions.selectors import prescription_verify
from prescriptions.services.dispensing import dispense_record
from prescriptions.services.keys import prescriber_key_rotate
from prescriptions.services.prescribing import (
    prescription_cancel,
    prescription_create,
    prescription_revise,
    prescription_update,
)
from prescriptions.tests.conftest import AMOXICILLIN
from prescriptions.tests.support import ITEM_COLUMNS, METFORMIN, SIGNED_COLUMNS, stored, tamper_world
from prescriptions.verification import Verdict
from telemed.crypto.fields import stored_key_id
from telemed.crypto.rotation import encrypted_fields

pytestmark = pytest.mark.django_db


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def refused(write, match: str) -> bool:
    """True when the database refused `write` with its guard's message `match`; False when the
    write landed."""
    try:
        with transaction.atomic():
            write()
    except IntegrityError as error:
        assert match in str(error), error
        return True
    return False


def verdict(prescription) -> Verdict:
    return prescription_verify(prescription.public_id, prescription.check_code).verdict


@pytest.fixture
def world(prescriber, patient, sign):
    return tamper_world(prescriber, patient, sign)


def update(model, pk, **values):
    return lambda: model.objects.filter(pk=pk).update(**values)


# --- Refused on PostgreSQL -------------------------------------------------------------------


@pytest.mark.parametrize("column", sorted(SIGNED_COLUMNS))
def test_a_signed_column_is_never_updated(world, column):
    value = SIGNED_COLUMNS[column](world)

    landed = not refused(update(Prescription, world.rx.pk, **{column: value}), "its content is never updated")

    assert landed is not on_postgresql()
    assert verdict(world.rx) == (Verdict.INVALID if landed else Verdict.VALID)


@pytest.mark.parametrize(("column", "value"), [("public_id", "TAMPERED0000"), ("created_at", None)])
def test_the_id_and_creation_time_of_a_signed_prescription_never_change(world, column, value):
    value = value or world.rx.created_at.replace(year=2000)

    landed = not refused(update(Prescription, world.rx.pk, **{column: value}), "its content is never updated")

    assert landed is not on_postgresql()
    assert (getattr(stored(world.rx), column) == value) is landed


@pytest.mark.parametrize("status", [PrescriptionStatus.SIGNED, PrescriptionStatus.DRAFT])
def test_a_cancelled_prescription_never_comes_back(world, status):
    prescription_cancel(actor=world.prescriber, prescription=world.rx, reason="Wrong strength.")

    landed = not refused(update(Prescription, world.rx.pk, status=status), "cannot become")

    assert landed is not on_postgresql()
    assert stored(world.rx).status == (status if landed else PrescriptionStatus.CANCELLED)


def test_a_superseded_prescription_never_becomes_signed_again(world):
    assert stored(world.first).status == PrescriptionStatus.SUPERSEDED

    landed = not refused(update(Prescription, world.first.pk, status="signed"), "cannot become")

    assert landed is not on_postgresql()
    assert verdict(world.first) == (Verdict.VALID if landed else Verdict.SUPERSEDED)


def test_a_signed_prescription_is_never_deleted(world):
    landed = not refused(lambda: Prescription.objects.filter(pk=world.unrelated.pk).delete(), "never change (DELETE)")

    assert landed is not on_postgresql()
    assert verdict(world.unrelated) == (Verdict.NOT_FOUND if landed else Verdict.VALID)


@pytest.mark.parametrize("column", sorted(ITEM_COLUMNS))
def test_an_item_of_a_signed_prescription_is_never_updated(world, column):
    item = world.rx.items.get(position=1)

    landed = not refused(update(PrescriptionItem, item.pk, **{column: ITEM_COLUMNS[column]}), "never change (UPDATE)")

    assert landed is not on_postgresql()
    assert verdict(world.rx) == (Verdict.INVALID if landed else Verdict.VALID)


def test_an_item_is_not_even_re_encrypted_outside_key_rotation(world):
    # The same plaintext, a new ciphertext: harmless, but only rotate_keys may do it.
    item = world.rx.items.get(position=1)

    landed = not refused(update(PrescriptionItem, item.pk, medication=item.medication), "never change (UPDATE)")

    assert landed is not on_postgresql()
    assert verdict(world.rx) == Verdict.VALID


def test_an_item_is_never_added_to_a_signed_prescription(world):
    landed = not refused(
        lambda: PrescriptionItem.objects.create(prescription=world.rx, position=3, **METFORMIN), "never change (INSERT)"
    )

    assert landed is not on_postgresql()
    assert verdict(world.rx) == (Verdict.INVALID if landed else Verdict.VALID)


def test_an_item_is_never_deleted_from_a_signed_prescription(world):
    landed = not refused(
        lambda: PrescriptionItem.objects.filter(prescription=world.rx, position=2).delete(), "never change (DELETE)"
    )

    assert landed is not on_postgresql()
    assert verdict(world.rx) == (Verdict.INVALID if landed else Verdict.VALID)


@pytest.fixture
def dispensed(world):
    dispense_record(
        prescription=world.rx, dispense_code=world.rx.dispense_code, lines=[(1, 28)], pharmacy="P", pharmacist="Q"
    )
    return Dispense.objects.get()


def test_a_dispense_is_never_changed(world, dispensed):
    landed = not refused(update(Dispense, dispensed.pk, quantity=1), "append-only")

    assert landed is not on_postgresql()
    assert Dispense.objects.get().quantity == (1 if landed else 28)


def test_a_dispense_is_never_deleted(world, dispensed):
    landed = not refused(lambda: Dispense.objects.filter(pk=dispensed.pk).delete(), "append-only")

    assert landed is not on_postgresql()
    assert Dispense.objects.exists() is not landed


@pytest.mark.parametrize("column", ["public_key", "fingerprint", "prescriber", "private_key", "created_at"])
def test_a_key_never_changes(world, column):
    key = world.rx.signing_key
    values = {
        "public_key": "00" * 32,
        "fingerprint": "0" * 32,
        # A doctor with no key of their own (one active key per prescriber).
        "prescriber": DoctorFactory(),
        "private_key": "not the key",
        "created_at": key.created_at.replace(year=2000),
    }

    landed = not refused(update(PrescriberKey, key.pk, **{column: values[column]}), "never changes")

    assert landed is not on_postgresql()
    if column not in ("created_at", "private_key"):
        assert verdict(world.rx) == (Verdict.INVALID if landed else Verdict.VALID)


def test_a_key_is_retired_once(world):
    old = world.rx.signing_key
    prescriber_key_rotate(actor=world.prescriber)
    retired_at = PrescriberKey.objects.get(pk=old.pk).retired_at
    # Moved back before the prescription was signed, as if it had been signed with a retired key.
    earlier = world.rx.signed_at.replace(year=2000)

    landed = not refused(update(PrescriberKey, old.pk, retired_at=earlier), "never changes")

    assert landed is not on_postgresql()
    assert PrescriberKey.objects.get(pk=old.pk).retired_at == (earlier if landed else retired_at)


def test_a_key_is_never_deleted(world):
    # The colleague's key signed nothing: only the trigger stands in the way.
    def delete():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {PrescriberKey._meta.db_table} WHERE id = %s", [world.colleague_key.pk])

    landed = not refused(delete, "never deleted")

    assert landed is not on_postgresql()
    assert PrescriberKey.objects.filter(pk=world.colleague_key.pk).exists() is not landed


def test_a_key_that_signed_is_protected_on_every_database(world):
    with pytest.raises(ProtectedError):
        PrescriberKey.objects.filter(pk=world.rx.signing_key_id).delete()

    assert verdict(world.rx) == Verdict.VALID


# --- Allowed ---------------------------------------------------------------------------------


def test_drafts_are_edited_and_dropped_freely(prescriber, patient):
    draft = prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN])

    prescription_update(actor=prescriber, prescription=draft, items=[METFORMIN, AMOXICILLIN], valid_days=30)
    PrescriptionItem.objects.filter(prescription=draft, position=2).delete()
    prescription_cancel(actor=prescriber, prescription=draft, reason="Not needed.")

    assert [item.medication for item in stored(draft).items.all()] == ["Metformin"]
    assert stored(draft).status == PrescriptionStatus.CANCELLED


def test_the_lifecycle_moves_forward(world, sign):
    revision = prescription_revise(actor=world.prescriber, prescription=world.unrelated)
    sign(revision)
    prescription_cancel(actor=world.prescriber, prescription=world.rx, reason="Stopped.")
    prescriber_key_rotate(actor=world.prescriber)

    assert verdict(world.unrelated) == Verdict.SUPERSEDED
    assert verdict(revision) == Verdict.VALID
    assert verdict(world.rx) == Verdict.CANCELLED


KEY_A = os.urandom(32)
KEY_B = os.urandom(32)


def prescriptions_key_ids() -> set[str]:
    """The key ids of every stored value of the prescriptions app's encrypted columns."""
    found = set()
    for model, field in encrypted_fields():
        if model._meta.app_label != "prescriptions":
            continue
        stored_texts = model._base_manager.annotate(raw=Cast(field.name, TextField())).values_list("raw", flat=True)
        found |= {stored_key_id(raw) for raw in stored_texts if raw}
    return found


def test_key_rotation_re_encrypts_signed_prescriptions_which_still_verify(settings, prescriber, patient, sign):
    settings.FIELD_ENCRYPTION_KEYS = {"A": KEY_A, **settings.FIELD_ENCRYPTION_KEYS}
    world = tamper_world(prescriber, patient, sign)
    dispense_record(
        prescription=world.rx, dispense_code=world.rx.dispense_code, lines=[(1, 28)], pharmacy="P", pharmacist="Q"
    )
    prescription_cancel(actor=prescriber, prescription=world.unrelated, reason="Stopped.")
    before = {rx.public_id: verdict(rx) for rx in Prescription.objects.all()}
    assert prescriptions_key_ids() == {"A"}

    settings.FIELD_ENCRYPTION_KEYS = {"B": KEY_B, **settings.FIELD_ENCRYPTION_KEYS}
    output = io.StringIO()
    call_command("rotate_keys", "--batch-size", "2", stdout=output)

    assert "Current key: B" in output.getvalue() and "cannot decrypt" not in output.getvalue()
    assert prescriptions_key_ids() == {"B"}
    assert {rx.public_id: verdict(rx) for rx in Prescription.objects.all()} == before
    assert set(before.values()) == {Verdict.VALID, Verdict.SUPERSEDED, Verdict.CANCELLED}
    # The re-encrypted private key still signs.
    later = sign(
        prescription_create(actor=prescriber, patient=patient, items=[{**METFORMIN, "medication": "Omeprazole"}])
    )
    assert verdict(later) == Verdict.VALID
