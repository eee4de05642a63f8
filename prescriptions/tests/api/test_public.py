"""The public verify and dispense endpoints: no sign-in, the paper's codes are the credential,
each attempt is audited and throttled per client address."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection

from accounts.services.profiles import patient_profile_update
from audit.models import AuditEvent
from prescriptions import signing
from prescriptions.api.views import ClientIpScopedRateThrottle
from prescriptions.models import Dispense
from prescriptions.services.prescribing import prescription_cancel
from prescriptions.tests.api.conftest import fresh_address
from records.tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db

BIRTH_DATE = dt.date(1984, 3, 7)


def verify_url(rx) -> str:
    return f"/api/v1/verify/rx/{rx.public_id}/"


def dispense_url(rx) -> str:
    return f"/api/v1/verify/rx/{rx.public_id}/dispense/"


def dispense_body(rx, *lines: tuple[int, int], **fields) -> dict:
    return {
        "c": rx.check_code,
        "dispense_code": rx.dispense_code,
        "pharmacy": "High Street Pharmacy",
        "pharmacist": "Sam Chemist",
        "lines": [{"position": position, "quantity": quantity} for position, quantity in lines],
        **fields,
    }


def verify_events(**filters):
    return AuditEvent.objects.filter(action="prescriptions.verify", **filters)


@pytest.fixture
def signed(patient, draft, sign):
    # The patient's demographics are snapshotted at signing: set them first.
    patient_profile_update(actor=patient, user=patient, legal_name="Patricia Anne Patient", date_of_birth=BIRTH_DATE)
    return sign(draft)


@pytest.fixture
def rates(monkeypatch):
    """rates(rx_verify="2/min"): DRF reads the rates once, into the class."""

    def set_rates(**scopes: str) -> None:
        monkeypatch.setattr(
            ClientIpScopedRateThrottle,
            "THROTTLE_RATES",
            {**ClientIpScopedRateThrottle.THROTTLE_RATES, **scopes},
        )

    return set_rates


# --- verify ------------------------------------------------------------------------------------


def test_a_valid_prescription_tells_only_what_a_pharmacist_needs(api, signed, patient):
    response = api.get(verify_url(signed), {"c": signed.check_code})

    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert (body["verdict"], body["dispensable"]) == ("valid", True)
    assert body["text"] == "Valid: signed by the prescriber and not altered."
    shown = body["prescription"]
    assert (shown["public_id"], shown["patient_initials"], shown["patient_birth_year"]) == (
        signed.public_id,
        "P.A.P.",
        1984,
    )
    assert shown["prescriber"] == {
        "name": "Dr Dana Doctor",
        "licence": "GMC 7654321",
        "jurisdiction": "United Kingdom",
        "key_fingerprint": signing.fingerprint_for_display(signed.signing_key.fingerprint),
    }
    [item] = shown["items"]
    assert (item["medication"], item["dispensed"], item["remaining"], item["refills_left"]) == (
        "Atorvastatin",
        0,
        84,
        2,
    )
    text = json.dumps(body)
    for hidden in ("Patricia", "Pat Patient", patient.patient_profile.mrn, "1984-03-07", signed.dispense_code):
        assert hidden not in text
    event = verify_events().get()
    assert (event.outcome, event.patient, event.actor) == ("success", patient, None)


def test_a_cancelled_prescription_verifies_as_cancelled(api, prescriber, signed):
    prescription_cancel(actor=prescriber, prescription=signed, reason="Wrong strength")

    body = api.get(verify_url(signed), {"c": signed.check_code}).json()

    assert (body["verdict"], body["dispensable"]) == ("cancelled", False)
    assert body["prescription"]["items"][0]["medication"] == "Atorvastatin"
    assert "Wrong strength" not in json.dumps(body)


@pytest.mark.parametrize(
    ("public_id", "code"),
    [
        pytest.param(lambda rx: rx.public_id, lambda rx: "WRONGCODE1", id="wrong check code"),
        pytest.param(lambda rx: "ZZZZZZZZZZZZ", lambda rx: rx.check_code, id="unknown id"),
    ],
)
def test_without_the_right_codes_it_is_not_found_and_audited(api, signed, public_id, code):
    response = api.get(f"/api/v1/verify/rx/{public_id(signed)}/", {"c": code(signed)})

    body = assert_error(response, 404, "not_found")
    assert body == {"detail": "No prescription matches this id and check code.", "code": "not_found"}
    event = verify_events().get()
    assert (event.outcome, event.patient) == ("denied", None)


def test_a_missing_check_code_is_invalid_input(api, signed):
    body = assert_error(api.get(verify_url(signed)), 400, "invalid")

    assert set(body["fields"]) == {"c"}


def test_a_tampered_prescription_is_invalid_and_tells_nothing(api, signed):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The signed-content triggers refuse this; an attacker with the database disables them.
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            "UPDATE prescriptions_prescriptionitem SET quantity = 280 WHERE prescription_id = %s", [signed.pk]
        )
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")

    response = api.get(verify_url(signed), {"c": signed.check_code})

    assert response.status_code == 200
    assert response.json() == {
        "verdict": "invalid",
        "text": "Invalid: this prescription does not match its signature. Do not dispense.",
        "dispensable": False,
        "prescription": None,
    }


def test_verifying_is_throttled_per_client_address(api, signed, rates):
    rates(rx_verify="2/min")
    address, other = fresh_address(), fresh_address()
    for _ in range(2):
        assert api.get(verify_url(signed), {"c": "WRONGCODE1"}, REMOTE_ADDR=address).status_code == 404

    throttled = api.get(verify_url(signed), {"c": signed.check_code}, REMOTE_ADDR=address)

    body = assert_error(throttled, 429, "throttled")
    assert int(throttled["Retry-After"]) > 0 and body["detail"]
    assert api.get(verify_url(signed), {"c": signed.check_code}, REMOTE_ADDR=other).status_code == 200
    # A refused request tells nothing and is not even looked up.
    assert verify_events().count() == 3


def test_a_spoofed_forwarded_for_header_does_not_reset_the_counter(api, signed, rates):
    rates(rx_verify="1/min")
    address = fresh_address()
    assert (
        api.get(verify_url(signed), {"c": "X"}, REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR="192.0.2.1").status_code
        == 404
    )

    response = api.get(verify_url(signed), {"c": "X"}, REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR="192.0.2.2")

    assert_error(response, 429, "throttled")


# --- dispense ----------------------------------------------------------------------------------


def test_a_pharmacy_records_a_partial_dispense_and_gets_the_new_state(api, signed):
    response = api.post(dispense_url(signed), dispense_body(signed, (1, 28)))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["verdict"], body["dispensable"]) == ("valid", True)
    [item] = body["prescription"]["items"]
    assert (item["dispensed"], item["remaining"], item["refills_left"]) == (28, 56, 2)
    dispense = Dispense.objects.get()
    assert (dispense.quantity, dispense.pharmacy, dispense.pharmacist) == (28, "High Street Pharmacy", "Sam Chemist")
    assert AuditEvent.objects.filter(action="prescriptions.dispense", outcome="success").exists()


def test_the_last_fill_leaves_it_dispensed(api, signed):
    body = api.post(dispense_url(signed), dispense_body(signed, (1, 84))).json()

    assert (body["verdict"], body["dispensable"]) == ("dispensed", False)


def test_dispensing_more_than_is_left_is_refused_and_records_nothing(api, signed):
    body = assert_error(
        api.post(dispense_url(signed), dispense_body(signed, (1, 85))), 409, "prescription_over_dispense"
    )

    assert "84 tablets left" in body["detail"]
    assert not Dispense.objects.exists()


def test_a_wrong_dispense_code_is_refused_and_audited(api, signed):
    response = api.post(dispense_url(signed), dispense_body(signed, (1, 28), dispense_code="WRONG123"))

    assert_error(response, 403, "dispense_code_invalid")
    assert not Dispense.objects.exists()
    assert AuditEvent.objects.filter(action="prescriptions.dispense", outcome="denied").exists()


def test_a_wrong_check_code_is_not_found(api, signed):
    assert_error(api.post(dispense_url(signed), dispense_body(signed, (1, 28), c="WRONGCODE1")), 404, "not_found")
    assert not Dispense.objects.exists()


def test_a_cancelled_prescription_is_not_dispensed(api, prescriber, signed):
    prescription_cancel(actor=prescriber, prescription=signed, reason="Wrong strength")

    response = api.post(dispense_url(signed), dispense_body(signed, (1, 28)))

    assert_error(response, 409, "prescription_not_dispensable")
    assert not Dispense.objects.exists()


def test_bad_input_names_the_fields(api, signed):
    body = assert_error(api.post(dispense_url(signed), dispense_body(signed, pharmacy="")), 400, "invalid")

    assert set(body["fields"]) == {"pharmacy", "lines"}


def test_an_unknown_item_is_refused(api, signed):
    assert_error(api.post(dispense_url(signed), dispense_body(signed, (2, 1))), 400, "prescriptions_invalid")


def test_dispensing_is_throttled_per_client_address(api, signed, rates):
    rates(rx_dispense="1/min")
    address = fresh_address()
    assert api.post(dispense_url(signed), dispense_body(signed, (1, 1)), REMOTE_ADDR=address).status_code == 200

    response = api.post(dispense_url(signed), dispense_body(signed, (1, 1)), REMOTE_ADDR=address)

    assert_error(response, 429, "throttled")
    assert Dispense.objects.count() == 1
