"""Prescribers' signing keys through the API: the public parts only, and rotation."""

from __future__ import annotations

import pytest

from prescriptions.models import PrescriberKey
from records.tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/prescriber-keys/"


def test_a_doctor_lists_the_public_parts_of_their_key(doctor_api, signed):
    response = doctor_api.get(KEYS)

    assert response.status_code == 200, response.content
    [key] = response.json()["results"]
    assert set(key) == {"fingerprint", "fingerprint_display", "public_key", "created_at", "retired_at", "active"}
    assert (key["fingerprint"], key["active"], key["retired_at"]) == (signed.signing_key.fingerprint, True, None)
    assert key["fingerprint_display"].replace(" ", "") == key["fingerprint"].upper()
    assert len(key["public_key"]) == 64


def test_a_rotation_makes_a_new_active_key_and_keeps_the_old_one_retired(doctor_api, prescriber, signed, api):
    response = doctor_api.post(f"{KEYS}rotate/")

    assert response.status_code == 201, response.content
    new = response.json()
    assert new["active"] is True and new["fingerprint"] != signed.signing_key.fingerprint
    keys = doctor_api.get(KEYS).json()["results"]
    assert [(key["fingerprint"], key["active"]) for key in keys] == [
        (new["fingerprint"], True),
        (signed.signing_key.fingerprint, False),
    ]
    # What the old key signed still verifies.
    verdict = api.get(f"/api/v1/verify/rx/{signed.public_id}/", {"c": signed.check_code}).json()["verdict"]
    assert verdict == "valid"


@pytest.mark.parametrize("persona", ["nurse", "patient"])
def test_only_a_doctor_rotates(request, as_user, persona):
    client = as_user(request.getfixturevalue(persona))

    assert_error(client.post(f"{KEYS}rotate/"), 403, "prescriptions_forbidden")
    assert not PrescriberKey.objects.exists()


def test_anyone_else_has_no_key(as_user, patient, signed):
    assert as_user(patient).get(KEYS).json()["results"] == []


def test_anonymous_callers_are_told_to_sign_in(api):
    assert_error(api.get(KEYS), 401, "not_authenticated")
    assert_error(api.post(f"{KEYS}rotate/"), 401, "not_authenticated")
