"""A prescriber's key rotation: what the old key signed still verifies; the new key signs what
comes next; a retired key signs nothing."""

from __future__ import annotations

import pytest

from prescriptions import document
from prescriptions.models import PrescriberKey
from prescriptions.selectors import prescriber_key_active, prescription_verify
from prescriptions.services.keys import prescriber_key_rotate, signing_key
from prescriptions.services.prescribing import prescription_create
from prescriptions.tests.conftest import ATORVASTATIN
from prescriptions.tests.support import stored
from prescriptions.verification import Verdict
from telemed.errors import ApplicationError

pytestmark = pytest.mark.django_db

METFORMIN = {**ATORVASTATIN, "medication": "Metformin", "strength": "500 mg"}


def verdict(prescription) -> Verdict:
    return prescription_verify(prescription.public_id, prescription.check_code).verdict


def test_a_prescription_signed_before_a_rotation_still_verifies_and_the_next_uses_the_new_key(
    signed, prescriber, patient, sign
):
    old_key = signed.signing_key

    new_key = prescriber_key_rotate(actor=prescriber)
    later = sign(prescription_create(actor=prescriber, patient=patient, items=[METFORMIN]))

    old_key.refresh_from_db()
    assert not old_key.active and new_key.active
    assert stored(signed).signing_key == old_key
    assert stored(later).signing_key == new_key == prescriber_key_active(prescriber)
    assert verdict(signed) == verdict(later) == Verdict.VALID
    assert document.integrity_ok(stored(signed)) and document.integrity_ok(stored(later))


def test_after_two_rotations_everything_each_key_signed_verifies(signed, prescriber, patient, sign):
    prescriber_key_rotate(actor=prescriber)
    middle = sign(prescription_create(actor=prescriber, patient=patient, items=[METFORMIN]))
    prescriber_key_rotate(actor=prescriber)

    assert PrescriberKey.objects.filter(prescriber=prescriber).count() == 3
    assert verdict(signed) == verdict(middle) == Verdict.VALID


def test_a_retired_key_signs_nothing_new(signed, prescriber, patient, sign):
    old_key = signed.signing_key
    prescriber_key_rotate(actor=prescriber)
    old_key.refresh_from_db()

    with pytest.raises(ApplicationError) as refused:
        signing_key(old_key)
    later = sign(prescription_create(actor=prescriber, patient=patient, items=[METFORMIN]))

    assert (refused.value.status_code, refused.value.code) == (409, "prescriptions_key_retired")
    assert stored(later).signing_key != old_key
    assert not PrescriberKey.objects.filter(pk=old_key.pk, retired_at__isnull=True).exists()
