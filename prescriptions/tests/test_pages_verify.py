"""The public verify page, /verify/rx/<public id>?c=<check code>, and dispensing on it."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.services.profiles import patient_profile_update
from audit.models import AuditEvent
from prescriptions import signing
from prescriptions.models import Dispense
from prescriptions.services.dispensing import dispense_record
from prescriptions.services.prescribing import prescription_cancel, prescription_revise

pytestmark = pytest.mark.django_db

BIRTH_DATE = dt.date(1984, 3, 7)


def text(response) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def verdict(response) -> str:
    """The verdict heading, as a pharmacist reads it."""
    found = re.search(r'<h1 class="verdict__title"[^>]*>(.*?)</h1>', response.content.decode(), flags=re.S)
    assert found, "no verdict heading"
    return html.unescape(found[1]).strip()


def page(rx, code: str | None = None) -> str:
    return f"/verify/rx/{rx.public_id}?c={rx.check_code if code is None else code}"


def dispense_form(rx, **fields) -> dict[str, str]:
    return {
        "dispense_code": rx.dispense_code,
        "pharmacy": "High Street Pharmacy",
        "pharmacist": "Sam Chemist",
        **fields,
    }


def rates(settings, **scopes: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **scopes},
    }


@pytest.fixture(autouse=True)
def _rate_limits_start_empty():
    # The counters live in the cache, which outlives a test (and is shared with Redis runs).
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def rx(signed):
    return signed


@pytest.fixture
def signed(patient, draft, sign):
    # The patient's demographics are snapshotted at signing: set them first.
    patient_profile_update(actor=patient, user=patient, legal_name="Patricia Anne Patient", date_of_birth=BIRTH_DATE)
    return sign(draft)


def verify_events(**filters):
    return AuditEvent.objects.filter(action="prescriptions.verify", **filters)


# --- The verdicts -----------------------------------------------------------------------------


def test_the_qr_code_url_is_served_as_printed_without_a_slash_redirect(client, rx):
    assert reverse("rx_verify", args=[rx.public_id]) == f"/verify/rx/{rx.public_id}"

    response = client.get(page(rx))

    assert response.status_code == 200


def test_a_valid_prescription_shows_what_a_pharmacist_needs_and_nothing_more(client, rx, patient):
    response = client.get(page(rx))

    assert response.status_code == 200
    assert verdict(response) == "Valid"
    body = text(response)
    assert "Valid: signed by the prescriber and not altered." in body
    assert rx.public_id in body
    for shown in (
        "1. Atorvastatin 20 mg tablet",
        "Dose 1 tablet",
        "Route By mouth",
        "Frequency Once daily at night",
        "Duration 28 days",
        "Quantity 28 tablets",
        "Refills 2",
        "Substitution Allowed",
        "Dispensed 0 tablets Left 84 tablets Refills left 2",
        "Patient P.A.P., born 1984",
        "Prescriber Dr Dana Doctor",
        "Licence GMC 7654321 (United Kingdom)",
        f"Key fingerprint {signing.fingerprint_for_display(rx.signing_key.fingerprint)}",
        f"Signed {timezone.localtime(rx.signed_at):%-d %b %Y}",
        f"Valid until {rx.valid_until:%-d %b %Y}",
    ):
        assert shown in body
    for hidden in ("Patricia", "Pat Patient", patient.patient_profile.mrn, "1984-03-07", "7 Mar 1984", "Penicillin"):
        assert hidden not in body
    assert "Record a dispense" in body
    event = verify_events().get()
    assert (event.outcome, event.patient, event.actor) == ("success", patient, None)


def test_the_page_is_never_cached_nor_indexed(client, rx):
    response = client.get(page(rx))

    assert "no-store" in response["Cache-Control"]
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert '<meta name="robots" content="noindex, nofollow">' in response.content.decode()


def test_a_signed_in_visitor_is_named_in_the_audit_trail(client, rx, patient):
    client.force_login(patient)

    client.get(page(rx))

    assert verify_events(actor=patient, outcome="success").exists()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(lambda rx: page(rx, "WRONGCODE1"), id="wrong check code"),
        pytest.param(lambda rx: f"/verify/rx/ZZZZZZZZZZZZ?c={rx.check_code}", id="unknown id"),
        pytest.param(lambda rx: f"/verify/rx/{rx.public_id}", id="no check code"),
    ],
)
def test_without_the_right_codes_the_page_says_not_found_and_nothing_else(client, rx, url):
    response = client.get(url(rx))

    assert response.status_code == 404
    assert verdict(response) == "Not found"
    body = text(response)
    assert "No prescription matches this id and check code." in body
    for hidden in ("Atorvastatin", "Dr Dana Doctor", "GMC", "P.A.P.", "1984", "Record a dispense"):
        assert hidden not in body
    # The entry form asks for the codes on the paper.
    assert 'name="c"' in response.content.decode()


def test_a_wrong_check_code_is_audited_as_refused(client, rx):
    client.get(page(rx, "WRONGCODE1"))

    event = verify_events().get()
    assert (event.outcome, event.patient) == ("denied", None)


def test_the_entry_form_takes_the_id_and_check_code_typed_from_the_paper(client, rx):
    blank = client.get(f"/verify/rx/{rx.public_id}")
    assert f'value="{rx.public_id}"' in blank.content.decode()

    typed = f" {rx.public_id[:4]}-{rx.public_id[4:]} "
    response = client.get("/verify/rx/TYPO", {"id": typed, "c": rx.check_code.lower()})

    assert response.status_code == 302
    assert response["Location"] == page(rx, rx.check_code.lower())
    assert verdict(client.get(response["Location"])) == "Valid"


def test_a_cancelled_prescription_says_cancelled(client, rx, prescriber):
    prescription_cancel(actor=prescriber, prescription=rx, reason="Wrong strength")

    response = client.get(page(rx))

    assert verdict(response) == "Cancelled"
    body = text(response)
    assert "Cancelled by the prescriber. Do not dispense." in body
    assert "Atorvastatin" in body
    assert "Wrong strength" not in body
    assert "Record a dispense" not in body
    assert verify_events(outcome="success", reason__startswith="cancelled").exists()


def test_a_replaced_prescription_says_replaced(client, rx, prescriber, sign):
    sign(prescription_revise(actor=prescriber, prescription=rx))

    response = client.get(page(rx))

    assert verdict(response) == "Replaced"
    assert "Replaced by a newer prescription. Do not dispense this one." in text(response)
    assert "Record a dispense" not in text(response)


def test_an_expired_prescription_says_expired(client, rx):
    with time_machine.travel(timezone.now() + dt.timedelta(days=rx.valid_days + 2)):
        response = client.get(page(rx))

    assert verdict(response) == "Expired"
    assert "Expired. Do not dispense." in text(response)
    assert "Record a dispense" not in text(response)


def test_a_fully_dispensed_prescription_says_already_dispensed(client, rx):
    dispense_record(prescription=rx, dispense_code=rx.dispense_code, lines=[(1, 84)], pharmacy="P", pharmacist="Q")

    response = client.get(page(rx))

    assert verdict(response) == "Already dispensed"
    assert "Dispensed 84 tablets Left 0 tablets Refills left 0" in text(response)
    assert "Record a dispense" not in text(response)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            "UPDATE prescriptions_prescriptionitem SET quantity = 280 WHERE prescription_id = %s", id="item quantity"
        ),
        pytest.param(
            "UPDATE prescriptions_prescription SET prescriber_licence = 'GMC 1111111' WHERE id = %s",
            id="prescriber licence",
        ),
        pytest.param(
            "UPDATE prescriptions_prescription SET valid_until = '2099-12-31' WHERE id = %s", id="valid until"
        ),
    ],
)
def test_a_tampered_prescription_says_invalid_and_shows_nothing_from_its_rows(client, rx, tamper):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The signed-content triggers refuse this; an attacker with the database disables them.
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(tamper, [rx.pk])
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")

    response = client.get(page(rx))

    assert response.status_code == 200
    assert verdict(response) == "Invalid"
    body = text(response)
    assert "Invalid: this prescription does not match its signature. Do not dispense." in body
    for hidden in ("Atorvastatin", "Dr Dana Doctor", "GMC", "P.A.P.", "1984", "2099", "Record a dispense"):
        assert hidden not in body
    assert verify_events(outcome="success", reason__startswith="invalid").exists()


# --- Dispensing ---------------------------------------------------------------------------------


def test_a_partial_dispense_is_recorded_and_the_page_shows_what_is_left(client, rx, patient):
    response = client.post(page(rx), dispense_form(rx, quantity_1="28"))

    assert response.status_code == 302
    assert response["Location"] == page(rx)
    dispense = Dispense.objects.get()
    assert (dispense.quantity, dispense.pharmacy, dispense.pharmacist) == (28, "High Street Pharmacy", "Sam Chemist")
    event = AuditEvent.objects.get(action="prescriptions.dispense")
    assert (event.outcome, event.patient) == ("success", patient)

    after = client.get(response["Location"])

    body = text(after)
    assert verdict(after) == "Valid"
    assert (
        "Dispense recorded: Atorvastatin 28 tablets. Left to dispense: Atorvastatin 56 tablets (2 refills left)."
        in body
    )
    assert "Dispensed 28 tablets Left 56 tablets Refills left 2" in body

    client.post(page(rx), dispense_form(rx, quantity_1="30"))

    assert "Dispensed 58 tablets Left 26 tablets Refills left 0" in text(client.get(page(rx)))


def test_dispensing_more_than_is_left_is_refused_and_nothing_is_recorded(client, rx):
    response = client.post(page(rx), dispense_form(rx, quantity_1="85"))

    assert response.status_code == 409
    body = text(response)
    assert "Item 1 (Atorvastatin): 84 tablets left to dispense, 85 asked." in body
    # The form comes back as typed, to correct.
    assert 'value="High Street Pharmacy"' in response.content.decode()
    assert not Dispense.objects.exists()
    assert not AuditEvent.objects.filter(action="prescriptions.dispense", outcome="success").exists()


def test_a_wrong_dispense_code_is_refused_and_audited(client, rx, patient):
    response = client.post(page(rx), dispense_form(rx, dispense_code="WRONG123", quantity_1="10"))

    assert response.status_code == 403
    assert "That dispense code is not the one on this prescription." in text(response)
    assert not Dispense.objects.exists()
    event = AuditEvent.objects.get(action="prescriptions.dispense")
    assert (event.outcome, event.patient, event.reason) == ("denied", patient, "wrong dispense code")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "Enter a quantity for at least one item."),
        ({"quantity_1": "0"}, "Enter a quantity for at least one item."),
        ({"quantity_1": "-3"}, "Ensure this value is greater than or equal to 0."),
        ({"quantity_1": "ten"}, "Enter a whole number."),
        ({"quantity_1": "5", "pharmacy": ""}, "This field is required."),
    ],
)
def test_bad_input_is_refused_with_a_message(client, rx, fields, message):
    response = client.post(page(rx), dispense_form(rx, **fields))

    assert response.status_code == 400
    assert message in text(response)
    assert not Dispense.objects.exists()


def test_a_prescription_that_is_not_valid_cannot_be_dispensed(client, rx, prescriber):
    prescription_cancel(actor=prescriber, prescription=rx, reason="Wrong strength")

    response = client.post(page(rx), dispense_form(rx, quantity_1="5"))

    assert response.status_code == 409
    assert verdict(response) == "Cancelled"
    assert "Not dispensable: Cancelled by the prescriber. Do not dispense." in text(response)
    assert not Dispense.objects.exists()


def test_a_dispense_without_the_right_check_code_finds_nothing(client, rx):
    response = client.post(page(rx, "WRONGCODE1"), dispense_form(rx, quantity_1="5"))

    assert response.status_code == 404
    assert verdict(response) == "Not found"
    assert "Atorvastatin" not in text(response)
    assert not Dispense.objects.exists()


def test_a_dispense_needs_the_pages_csrf_token(rx):
    browser = Client(enforce_csrf_checks=True)

    refused = browser.post(page(rx), dispense_form(rx, quantity_1="5"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', browser.get(page(rx)).content.decode())[1]
    accepted = browser.post(page(rx), dispense_form(rx, quantity_1="5", csrfmiddlewaretoken=token))

    assert refused.status_code == 403
    assert accepted.status_code == 302
    assert Dispense.objects.get().quantity == 5


# --- Rate limits -------------------------------------------------------------------------------


@pytest.fixture
def frozen():
    # One rate-limit window for the whole test, however slow the machine.
    with time_machine.travel(timezone.now(), tick=False):
        yield


def test_checks_are_limited_per_client_address(client, rx, settings, frozen):
    rates(settings, rx_verify="3/min")

    answers = [client.get(page(rx), REMOTE_ADDR="198.51.100.7").status_code for _ in range(4)]
    other = client.get(page(rx), REMOTE_ADDR="198.51.100.8")

    assert answers == [200, 200, 200, 429]
    assert other.status_code == 200
    limited = client.get(page(rx), REMOTE_ADDR="198.51.100.7")
    assert "Wait a minute, then try again." in text(limited)
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited["X-Robots-Tag"] == "noindex, nofollow"
    assert "Atorvastatin" not in text(limited)
    # Over the limit nothing was looked up, so nothing was audited.
    assert verify_events().count() == 4


def test_a_client_cannot_take_a_new_identity_with_its_own_forwarded_for_header(client, rx, settings, frozen):
    rates(settings, rx_verify="3/min")

    answers = [
        client.get(page(rx), REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(4)
    ]

    assert answers == [200, 200, 200, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(client, rx, settings, frozen):
    rates(settings, rx_verify="3/min")
    settings.TRUSTED_PROXIES = ["10.0.0.2"]

    def check(client_address: str) -> int:
        return client.get(page(rx), REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=client_address).status_code

    assert [check("203.0.113.1") for _ in range(4)] == [200, 200, 200, 429]
    assert check("203.0.113.2") == 200


def test_dispenses_are_limited_per_client_address(client, rx, settings, frozen):
    rates(settings, rx_dispense="2/min")

    answers = [
        client.post(page(rx), dispense_form(rx, quantity_1="1"), REMOTE_ADDR="198.51.100.7").status_code
        for _ in range(3)
    ]
    other = client.post(page(rx), dispense_form(rx, quantity_1="1"), REMOTE_ADDR="198.51.100.8")

    assert answers == [302, 302, 429]
    assert other.status_code == 302
    assert Dispense.objects.count() == 3
    assert AuditEvent.objects.filter(action="prescriptions.dispense").count() == 3


# --- In a browser -------------------------------------------------------------------------------


@pytest.mark.browser
def test_a_pharmacist_checks_and_dispenses_on_a_phone_without_javascript(make_page, live_asgi, transactional_db, rx):
    from playwright.sync_api import expect

    from telemed.testing.browser import assert_accessible

    size = {"viewport": {"width": 360, "height": 740}, "has_touch": True}
    phone = make_page(**size, java_script_enabled=False)

    phone.goto(f"{live_asgi.url}{page(rx)}")

    expect(phone.get_by_role("heading", level=1)).to_have_text("Valid")
    expect(phone.get_by_test_id("rx-item-state")).to_contain_text("84 tablets")
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 360
    phone.get_by_label("1. Atorvastatin 20 mg").fill("28")
    phone.get_by_label("Pharmacy dispense code").fill(rx.dispense_code)
    phone.get_by_label("Pharmacy", exact=True).fill("High Street Pharmacy")
    phone.get_by_label("Pharmacist").fill("Sam Chemist")
    with phone.expect_navigation():
        phone.get_by_role("button", name="Record the dispense").click()

    expect(phone.get_by_role("status")).to_contain_text("Left to dispense: Atorvastatin 56 tablets (2 refills left).")
    expect(phone.get_by_test_id("rx-item-state")).to_contain_text("Left 56 tablets")
    assert Dispense.objects.get().quantity == 28

    # axe-core runs as a script, so it checks the same page in a context that has them.
    checked = make_page(**size)
    checked.goto(f"{live_asgi.url}{page(rx)}")
    assert_accessible(checked)
    checked.screenshot(path="/tmp/rx-verify-phone.png", full_page=True)
