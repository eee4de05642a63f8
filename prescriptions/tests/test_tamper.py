"""Every field of a signed prescription changed in the database makes verification say "invalid".

The changes are made behind the services' back, as someone with write access to the database
would make them: through the ORM's `update()` (which encrypts what it writes to an encrypted
column, as an attacker holding the key would) or raw SQL. On PostgreSQL the triggers of
migration 0002 refuse such writes (test_triggers.py); here they are lifted, as a superuser
could, to show that the signature alone still tells.
"""

from __future__ import annotations

import pytest
from django.db import connection

from prescriptions import document, signing
from prescriptions.models import PrescriberKey, Prescription, PrescriptionItem
from prescriptions.selectors import prescription_verify
from prescriptions.services.keys import signing_key
from prescriptions.tests.support import (
    ITEM_COLUMNS,
    LIFECYCLE_COLUMNS,
    METFORMIN,
    SIGNED_COLUMNS,
    stored,
    tamper_world,
    triggers_disabled,
)
from prescriptions.verification import Verdict, verdict_for
from telemed.crypto.fields import encrypt_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(prescriber, patient, sign):
    world = tamper_world(prescriber, patient, sign)
    assert verdict(world.rx) == Verdict.VALID
    return world


def verdict(prescription) -> Verdict:
    return prescription_verify(prescription.public_id, prescription.check_code).verdict


def assert_invalid(prescription) -> None:
    assert verdict_for(stored(prescription)).verdict == Verdict.INVALID
    assert verdict(prescription) == Verdict.INVALID


# --- The prescription's columns --------------------------------------------------------------


def test_every_column_of_a_prescription_is_signed_or_named_here_as_lifecycle():
    columns = {field.name for field in Prescription._meta.concrete_fields}

    assert columns == set(SIGNED_COLUMNS) | LIFECYCLE_COLUMNS | {"public_id"}


@pytest.mark.parametrize("column", sorted(SIGNED_COLUMNS))
def test_a_signed_column_changed_in_the_database_makes_the_prescription_invalid(world, column):
    value = SIGNED_COLUMNS[column](world)

    with triggers_disabled():
        assert Prescription.objects.filter(pk=world.rx.pk).update(**{column: value}) == 1

    changed = stored(world.rx)
    attribute = Prescription._meta.get_field(column).attname
    assert getattr(changed, attribute) != getattr(world.rx, attribute)
    assert_invalid(world.rx)


def test_a_changed_public_id_finds_nothing_under_the_old_one_and_is_invalid_under_the_new(world):
    with triggers_disabled():
        Prescription.objects.filter(pk=world.rx.pk).update(public_id="TAMPERED0000")

    assert verdict(world.rx) == Verdict.NOT_FOUND
    assert prescription_verify("TAMPERED0000", world.rx.check_code).verdict == Verdict.INVALID


def test_content_re_signed_with_another_doctors_key_is_invalid(world):
    forged = stored(world.rx)
    forged.patient_name = "Someone Else"
    body = document.signed_document(forged, list(forged.items.all()), world.colleague_key)
    signature = signing.sign(signing_key(world.colleague_key), body).hex()

    with triggers_disabled():
        Prescription.objects.filter(pk=world.rx.pk).update(
            patient_name="Someone Else", signing_key=world.colleague_key, signature=signature
        )

    assert_invalid(world.rx)


# --- The items -------------------------------------------------------------------------------


def test_every_column_of_an_item_is_signed():
    columns = {field.name for field in PrescriptionItem._meta.concrete_fields}

    assert columns == set(ITEM_COLUMNS) | {"id", "prescription"}
    assert set(document.item_document(PrescriptionItem(quantity=1))) == set(ITEM_COLUMNS)


@pytest.mark.parametrize("column", sorted(ITEM_COLUMNS))
def test_an_item_column_changed_in_the_database_makes_the_prescription_invalid(world, column):
    item = world.rx.items.get(position=1)

    with triggers_disabled():
        assert PrescriptionItem.objects.filter(pk=item.pk).update(**{column: ITEM_COLUMNS[column]}) == 1

    assert getattr(PrescriptionItem.objects.get(pk=item.pk), column) == ITEM_COLUMNS[column]
    assert_invalid(world.rx)


def test_an_encrypted_value_written_with_raw_sql_makes_the_prescription_invalid(world):
    item = world.rx.items.get(position=1)
    field = PrescriptionItem._meta.get_field("medication")
    token = encrypt_text("Oxycodone", context=field.encryption_context)

    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {PrescriptionItem._meta.db_table} SET medication = %s WHERE id = %s", [token, item.pk])

    assert PrescriptionItem.objects.get(pk=item.pk).medication == "Oxycodone"
    assert_invalid(world.rx)


def test_another_items_ciphertext_copied_in_decrypts_but_makes_the_prescription_invalid(world):
    # The cipher binds a value to its column, not to its row: only the signature tells.
    table = PrescriptionItem._meta.db_table
    ours = world.rx.items.get(position=1)
    theirs = world.unrelated.items.get()

    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET medication = (SELECT medication FROM {table} WHERE id = %s) WHERE id = %s",
            [theirs.pk, ours.pk],
        )

    assert PrescriptionItem.objects.get(pk=ours.pk).medication == "Levothyroxine"
    assert_invalid(world.rx)


def test_two_items_swapping_places_make_the_prescription_invalid(world):
    one, two = world.rx.items.get(position=1), world.rx.items.get(position=2)

    with triggers_disabled():
        PrescriptionItem.objects.filter(pk=one.pk).update(position=9)
        PrescriptionItem.objects.filter(pk=two.pk).update(position=1)
        PrescriptionItem.objects.filter(pk=one.pk).update(position=2)

    assert_invalid(world.rx)


def test_an_item_added_makes_the_prescription_invalid(world):
    with triggers_disabled():
        PrescriptionItem.objects.create(prescription=world.rx, position=3, **{**METFORMIN, "medication": "Oxycodone"})

    assert_invalid(world.rx)


def test_an_item_deleted_makes_the_prescription_invalid(world):
    with triggers_disabled():
        PrescriptionItem.objects.filter(prescription=world.rx, position=2).delete()

    assert_invalid(world.rx)


def test_an_unreadable_item_makes_the_prescription_invalid(world):
    # A flipped byte in the ciphertext: the item no longer decrypts.
    item = world.rx.items.get(position=1)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT dose FROM {PrescriptionItem._meta.db_table} WHERE id = %s", [item.pk])
        [stored_dose] = cursor.fetchone()
    middle = len(stored_dose) // 2
    damaged = stored_dose[:middle] + ("A" if stored_dose[middle] != "A" else "B") + stored_dose[middle + 1 :]

    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {PrescriptionItem._meta.db_table} SET dose = %s WHERE id = %s", [damaged, item.pk])

    assert verdict_for(Prescription.objects.get(pk=world.rx.pk)).verdict == Verdict.INVALID


# --- The key ---------------------------------------------------------------------------------


def test_a_changed_public_key_makes_what_it_signed_invalid(world):
    other = signing.public_key_bytes(signing.new_private_key()).hex()

    with triggers_disabled():
        PrescriberKey.objects.filter(pk=world.rx.signing_key_id).update(public_key=other)

    assert_invalid(world.rx)
    assert_invalid(world.first)


def test_a_key_replaced_whole_with_a_matching_fingerprint_makes_what_it_signed_invalid(world):
    public = signing.public_key_bytes(signing.new_private_key())

    with triggers_disabled():
        PrescriberKey.objects.filter(pk=world.rx.signing_key_id).update(
            public_key=public.hex(), fingerprint=signing.fingerprint(public)
        )

    assert_invalid(world.rx)


def test_a_key_moved_to_another_prescriber_makes_what_it_signed_invalid(world):
    with triggers_disabled():
        PrescriberKey.objects.filter(pk=world.colleague_key.pk).update(retired_at=world.rx.signed_at)
        PrescriberKey.objects.filter(pk=world.rx.signing_key_id).update(prescriber=world.colleague)

    assert_invalid(world.rx)
