"""Brute force: django-axes locks an account and an address after 5 failures, for 15 minutes."""

import datetime as dt
import json

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.utils import timezone

from accounts.tests.factories import TEST_PASSWORD, PatientFactory
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
WRONG = "not-the-password-1"


def attempt(client, email, password=WRONG, **meta):
    return client.post(LOGIN, {"username": email, "password": password}, **meta)


def is_lockout(response) -> bool:
    return response.status_code == 429 and "Sign-in is locked for now" in response.content.decode()


def test_the_fifth_wrong_password_shows_the_lockout_page_with_the_time_to_wait(client, patient):
    for _ in range(4):
        response = attempt(client, patient.email)
        assert response.status_code == 200 and not is_lockout(response)

    response = attempt(client, patient.email)

    assert is_lockout(response)
    html = response.content.decode()
    assert "Please wait <strong>15 minutes</strong>" in html
    assert response["Retry-After"] == str(15 * 60)


def test_the_right_password_does_not_open_a_locked_account(client, patient):
    for _ in range(5):
        attempt(client, patient.email)

    response = attempt(client, patient.email, TEST_PASSWORD)

    assert is_lockout(response)
    assert SESSION_KEY not in client.session


def test_the_account_is_locked_from_every_address(client, patient):
    for n in range(5):
        attempt(client, patient.email, REMOTE_ADDR=f"198.51.100.{n + 1}")

    response = attempt(client, patient.email, TEST_PASSWORD, REMOTE_ADDR="203.0.113.9")

    assert is_lockout(response)


def test_an_address_is_locked_whatever_account_it_tries(client, patient):
    for n in range(5):
        attempt(client, f"guess{n}@example.test", REMOTE_ADDR="198.51.100.7")

    response = attempt(client, patient.email, TEST_PASSWORD, REMOTE_ADDR="198.51.100.7")

    assert is_lockout(response)
    assert attempt(client, patient.email, TEST_PASSWORD, REMOTE_ADDR="198.51.100.8").status_code == 302


def test_case_variants_of_an_email_share_one_counter(client, patient):
    variants = [
        "patient@example.test",
        "PATIENT@example.test",
        "Patient@Example.test",
        " patient@EXAMPLE.test",
        "pAtient@example.test",
    ]
    for n, email in enumerate(variants):
        attempt(client, email, REMOTE_ADDR=f"198.51.100.{n + 1}")

    assert is_lockout(attempt(client, patient.email, TEST_PASSWORD, REMOTE_ADDR="203.0.113.9"))


def test_a_spoofed_x_forwarded_for_neither_dodges_nor_resets_the_address_counter(client, patient):
    # REMOTE_ADDR is not a trusted proxy: its X-Forwarded-For is the client's own invention.
    for n in range(5):
        attempt(client, f"guess{n}@example.test", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"192.0.2.{n + 1}")

    response = attempt(
        client, patient.email, TEST_PASSWORD, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="192.0.2.200"
    )

    assert is_lockout(response)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}


def test_behind_a_trusted_proxy_each_client_address_has_its_own_counter(client, settings, patient):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    for n in range(5):
        attempt(client, f"guess{n}@example.test", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{n + 1}")

    response = attempt(client, patient.email, TEST_PASSWORD, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.99")

    assert response.status_code == 302
    assert "10.0.0.1" not in set(AccessAttempt.objects.values_list("ip_address", flat=True))


def test_the_lock_lifts_after_fifteen_minutes(client, patient):
    for _ in range(5):
        attempt(client, patient.email)

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=16), tick=False):
        response = attempt(client, patient.email, TEST_PASSWORD)

    assert response.status_code == 302


def test_a_successful_sign_in_does_not_reset_the_counter(client, patient):
    for _ in range(4):
        attempt(client, patient.email)
    attempt(client, patient.email, TEST_PASSWORD)
    client.post("/accounts/logout/")

    assert is_lockout(attempt(client, patient.email))


def test_every_failure_is_audited_and_the_lockout_is_named(client, patient):
    for _ in range(5):
        attempt(client, patient.email)
    attempt(client, "nobody@example.test", REMOTE_ADDR="203.0.113.9")

    events = list(AuditEvent.objects.filter(action="accounts.login.fail").order_by("seq"))
    assert [e.outcome for e in events] == ["denied"] * 6
    assert [e.reason for e in events] == ["wrong password"] * 4 + ["locked out", "unknown account"]
    assert all(e.target_id == str(patient.pk) for e in events[:5])
    assert events[5].target_id == ""
    assert "nobody@example.test" not in events[5].reason


def test_other_accounts_are_not_locked_by_someone_elses_failures(client, patient):
    other = PatientFactory(email="other@example.test")
    for n in range(5):
        attempt(client, patient.email, REMOTE_ADDR=f"198.51.100.{n + 1}")

    assert attempt(client, other.email, TEST_PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 302


def test_an_api_caller_gets_the_lockout_as_json(rf):
    from accounts.views.login import lockout_response

    response = lockout_response(rf.post("/api/v1/auth/token/"), None)

    assert response.status_code == 429
    assert json.loads(response.content) == {
        "detail": "Too many failed sign-in attempts. Try again in 15 minutes.",
        "code": "locked_out",
    }
    assert response["Retry-After"] == str(15 * 60)


def test_one_lockout_is_json_for_the_api_and_the_html_page_for_the_browser(client, patient):
    for _ in range(5):
        attempt(client, patient.email)

    api = client.post(
        "/api/v1/auth/token/", {"email": patient.email, "password": TEST_PASSWORD}, content_type="application/json"
    )
    page = attempt(client, patient.email, TEST_PASSWORD)

    assert api.status_code == 429
    assert api["Content-Type"] == "application/json"
    assert api.json() == {"detail": "Too many failed sign-in attempts. Try again in 15 minutes.", "code": "locked_out"}
    assert api["Retry-After"] == str(15 * 60)
    assert is_lockout(page)
    assert page["Content-Type"].startswith("text/html")
