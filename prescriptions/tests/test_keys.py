"""Prescribers' signing keys: who holds one, rotation, encryption at rest, audit."""

from __future__ import annotations

import base64

import pytest
from django.db import connection

from accounts.tests.factories import otp_verified_user
from audit.models import AuditEvent
from prescriptions import signing
from prescriptions.models import PrescriberKey
from prescriptions.selectors import prescriber_key_by_fingerprint, prescriber_keys_for
from prescriptions.services.keys import prescriber_key_ensure, prescriber_key_rotate, signing_key
from telemed.errors import ApplicationError

pytestmark = pytest.mark.django_db

DOCUMENT = {"items": [{"medication": "Amoxicillin", "strength": "500 mg"}], "signed_on": "2026-11-23"}


@pytest.fixture
def prescriber(doctor):
    return otp_verified_user(doctor)


def test_a_doctor_gets_one_key_made_on_first_need_and_audited(prescriber):
    first = prescriber_key_ensure(actor=prescriber)
    again = prescriber_key_ensure(actor=prescriber)

    assert first.pk == again.pk and first.active
    assert first.fingerprint == signing.fingerprint(bytes.fromhex(first.public_key))
    event = AuditEvent.objects.get(action="prescriptions.key.create")
    assert (event.actor, event.outcome, event.patient) == (prescriber, "success", None)
    assert first.fingerprint in event.reason


@pytest.mark.parametrize("persona", ["nurse", "patient", "admin"])
def test_nobody_but_a_doctor_holds_a_key(request, persona):
    user = request.getfixturevalue(persona)
    if user.is_staff_role:
        user = otp_verified_user(user)

    with pytest.raises(ApplicationError) as refused:
        prescriber_key_ensure(actor=user)

    assert refused.value.status_code == 403
    assert not PrescriberKey.objects.exists()
    assert AuditEvent.objects.filter(actor=user, action="prescriptions.key.create", outcome="denied").exists()


def test_a_doctor_without_a_verified_sign_in_gets_no_key(doctor):
    with pytest.raises(ApplicationError):
        prescriber_key_ensure(actor=doctor)
    assert not PrescriberKey.objects.exists()


def test_rotation_retires_the_old_key_which_still_verifies_what_it_signed(prescriber):
    old = prescriber_key_ensure(actor=prescriber)
    signature = signing.sign(signing_key(old), DOCUMENT)

    new = prescriber_key_rotate(actor=prescriber)

    old.refresh_from_db()
    assert not old.active and new.active and new.fingerprint != old.fingerprint
    assert list(prescriber_keys_for(prescriber)) == [new, old]
    found = prescriber_key_by_fingerprint(old.fingerprint)
    assert signing.verify(bytes.fromhex(found.public_key), DOCUMENT, signature)
    with pytest.raises(ApplicationError):
        signing_key(old)
    assert prescriber_key_ensure(actor=prescriber).pk == new.pk
    assert AuditEvent.objects.filter(action="prescriptions.key.rotate", actor=prescriber).count() == 1


def test_the_private_key_is_encrypted_in_the_database(prescriber):
    key = prescriber_key_ensure(actor=prescriber)
    plain = base64.b64encode(signing.private_key_bytes(signing_key(key))).decode()

    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key FROM prescriptions_prescriberkey WHERE id = %s", [key.pk])
        [stored] = cursor.fetchone()

    assert stored.startswith("enc:v1:")
    assert plain not in stored


def test_an_unknown_fingerprint_finds_nothing():
    assert prescriber_key_by_fingerprint("0" * 32) is None
