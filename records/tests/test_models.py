"""What the database itself enforces, even for code that bypasses the services."""

import datetime as dt
import decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from records.models import VITAL_RANGES, ClinicalNote, NoteStatus, VitalSigns
from records.tests.factories import (
    AllergyFactory,
    ClinicalNoteFactory,
    DocumentFactory,
    HomeReadingFactory,
    MedicationFactory,
    NoteAmendmentFactory,
    SignedNoteFactory,
    VitalSignsFactory,
)

pytestmark = pytest.mark.django_db


def refused_by_the_database(**fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        VitalSignsFactory(**fields)


# Blood pressure is stored as a pair: the other number is chosen so only the range is at stake.
COMPANIONS = {"systolic_mmhg": {"diastolic_mmhg": 20}, "diastolic_mmhg": {"systolic_mmhg": 300}}


@pytest.mark.parametrize(("name", "_label", "_unit", "low", "high"), VITAL_RANGES)
def test_the_database_refuses_a_vital_sign_outside_its_plausible_range(name, _label, _unit, low, high):
    fields = {"systolic_mmhg": None, "diastolic_mmhg": None, "heart_rate_bpm": None, **COMPANIONS.get(name, {})}
    step = decimal.Decimal("0.1") if name in ("temperature_c", "weight_kg", "height_cm") else 1

    refused_by_the_database(**{**fields, name: high + step})
    refused_by_the_database(**{**fields, name: low - step})
    assert VitalSignsFactory(**{**fields, name: low}).pk
    assert VitalSignsFactory(**{**fields, name: high}).pk


def test_the_database_refuses_half_a_blood_pressure():
    refused_by_the_database(systolic_mmhg=120, diastolic_mmhg=None)
    refused_by_the_database(systolic_mmhg=None, diastolic_mmhg=80)


def test_the_database_refuses_a_systolic_not_above_the_diastolic():
    refused_by_the_database(systolic_mmhg=80, diastolic_mmhg=80)
    refused_by_the_database(systolic_mmhg=70, diastolic_mmhg=90)
    assert VitalSignsFactory(systolic_mmhg=300, diastolic_mmhg=200).pk
    assert VitalSignsFactory(systolic_mmhg=50, diastolic_mmhg=20).pk


def test_the_database_refuses_an_empty_set_of_vital_signs():
    refused_by_the_database(systolic_mmhg=None, diastolic_mmhg=None, heart_rate_bpm=None)


def test_the_database_refuses_an_acknowledgement_without_its_author_or_time(doctor):
    with pytest.raises(IntegrityError), transaction.atomic():
        HomeReadingFactory(acknowledged_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        HomeReadingFactory(acknowledged_by=doctor)
    assert HomeReadingFactory(acknowledged_by=doctor, acknowledged_at=timezone.now()).pk


def test_the_database_refuses_a_half_signed_note():
    with pytest.raises(IntegrityError), transaction.atomic():
        ClinicalNoteFactory(status=NoteStatus.SIGNED)
    with pytest.raises(IntegrityError), transaction.atomic():
        ClinicalNoteFactory(status=NoteStatus.DRAFT, signed_at=timezone.now())
    note = ClinicalNoteFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        ClinicalNote.objects.filter(pk=note.pk).update(status=NoteStatus.SIGNED, signed_by=note.author)


def test_the_database_refuses_a_medication_stopped_before_it_started():
    today = timezone.localdate()
    with pytest.raises(IntegrityError), transaction.atomic():
        MedicationFactory(started_on=today, stopped_on=today - dt.timedelta(days=1))
    assert MedicationFactory(started_on=today, stopped_on=today).pk
    assert MedicationFactory(started_on=None, stopped_on=today).pk


def test_a_document_storage_key_and_public_id_are_unique():
    first = DocumentFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        DocumentFactory(storage_key=first.storage_key)
    with pytest.raises(IntegrityError), transaction.atomic():
        DocumentFactory(public_id=first.public_id)


def test_free_text_is_stored_encrypted_and_read_back_in_clear():
    allergy = AllergyFactory(substance="Penicillin", reaction="Hives")
    amendment = NoteAmendmentFactory(text="Chest X-ray clear.")

    with connection.cursor() as cursor:
        cursor.execute("SELECT substance, reaction FROM records_allergy WHERE id = %s", [allergy.pk])
        substance, reaction = cursor.fetchone()
        cursor.execute("SELECT text FROM records_noteamendment WHERE id = %s", [amendment.pk])
        (text,) = cursor.fetchone()
    assert all(value.startswith("enc:v1:") for value in (substance, reaction, text))
    assert "Penicillin" not in substance and "Hives" not in reaction and "X-ray" not in text
    stored = type(allergy).objects.get(pk=allergy.pk)
    assert (stored.substance, stored.reaction) == ("Penicillin", "Hives")


def test_bmi_is_weight_over_height_squared_to_one_decimal():
    assert VitalSigns(weight_kg=decimal.Decimal(70), height_cm=decimal.Decimal(175)).bmi == decimal.Decimal("22.9")
    assert VitalSigns(weight_kg=decimal.Decimal("92.4"), height_cm=decimal.Decimal("168.0")).bmi == decimal.Decimal(
        "32.7"
    )
    assert VitalSigns(weight_kg=decimal.Decimal(70)).bmi is None
    assert VitalSigns(height_cm=decimal.Decimal(175)).bmi is None


def test_a_signed_note_factory_carries_the_digest_the_signing_service_would_take():
    from records.services.notes import content_sha256

    note = SignedNoteFactory()
    assert ClinicalNote.objects.get(pk=note.pk).content_sha256 == content_sha256(note)
