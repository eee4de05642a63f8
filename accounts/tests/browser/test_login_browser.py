"""Signing in, MFA, lockout and the idle timeout in real Chromium against the live ASGI server."""

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.mfa.testing import totp_code, totp_device_enrol
from accounts.tests.factories import TEST_PASSWORD
from telemed.testing.browser import assert_accessible

pytestmark = pytest.mark.browser


def fill_login(page: Page, url: str, email: str, password: str = TEST_PASSWORD) -> None:
    page.goto(f"{url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def login_with_totp(page: Page, live_asgi, user, device) -> None:
    fill_login(page, live_asgi.url, user.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step verification")
    page.get_by_label("Code").fill(totp_code(device))
    with page.expect_navigation():
        page.get_by_role("button", name="Verify").click()


def test_a_doctor_signs_in_with_a_totp_code_and_reaches_the_home_page(page, live_asgi, doctor):
    device = totp_device_enrol(doctor)

    fill_login(page, live_asgi.url, doctor.email)

    expect(page).to_have_url(f"{live_asgi.url}/accounts/mfa/challenge/")
    assert_accessible(page)
    page.get_by_label("Code").fill(totp_code(device))
    with page.expect_navigation():
        page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(f"{live_asgi.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Dr Dana Doctor")
    assert_accessible(page)


def test_a_wrong_code_is_announced_and_linked_to_the_field(page, live_asgi, doctor):
    device = totp_device_enrol(doctor)
    fill_login(page, live_asgi.url, doctor.email)
    right = totp_code(device)

    page.get_by_label("Code").fill("000000" if right != "000000" else "111111")
    with page.expect_navigation():
        page.get_by_role("button", name="Verify").click()

    field = page.get_by_label("Code")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile("That code is not right"))
    assert_accessible(page)


def test_five_wrong_passwords_show_the_lockout_page_with_the_time_to_wait(page, live_asgi, patient):
    for _ in range(4):
        fill_login(page, live_asgi.url, patient.email, "not-the-password-1")
        expect(page.get_by_role("alert")).to_contain_text("Please enter a correct email address and password.")

    fill_login(page, live_asgi.url, patient.email, "not-the-password-1")

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in is locked for now")
    expect(page.get_by_role("main")).to_contain_text("Please wait 15 minutes and try again.")
    assert_accessible(page)
    # Even the right password does not get through now.
    fill_login(page, live_asgi.url, patient.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in is locked for now")


@pytest.fixture
def short_staff_idle(settings):
    """Set before live_asgi starts: the server process is forked with these settings."""
    settings.SESSION_IDLE_TIMEOUT_STAFF_SECONDS = 4


def test_the_idle_timeout_signs_a_staff_member_out_after_a_warning(short_staff_idle, live_asgi, page, nurse):
    device = totp_device_enrol(nurse)
    login_with_totp(page, live_asgi, nurse, device)
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Nico Nurse")

    dialog = page.get_by_role("dialog", name="Are you still there?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Stay signed in")).to_be_focused()
    assert_accessible(page)

    page.wait_for_url(re.compile(r"/accounts/login/"), timeout=15_000)
    expect(page.get_by_role("main")).to_contain_text("You were signed out after 4 seconds without activity.")
    page.goto(f"{live_asgi.url}/")
    expect(page.get_by_role("link", name="Sign in").first).to_be_visible()


@pytest.fixture
def short_patient_idle(settings):
    settings.SESSION_IDLE_TIMEOUT_PATIENT_SECONDS = 6
    settings.SESSION_TIMEOUT_WARNING_SECONDS = 4


def test_stay_signed_in_keeps_the_session(short_patient_idle, live_asgi, page, patient):
    fill_login(page, live_asgi.url, patient.email)
    dialog = page.get_by_role("dialog", name="Are you still there?")
    expect(dialog).to_be_hidden()
    # The warning opens 4 s before the 6 s limit.
    expect(dialog).to_be_visible(timeout=5_000)

    with page.expect_response(re.compile(r"/accounts/sessions/ping/")) as ping:
        dialog.get_by_role("button", name="Stay signed in").click()
    assert ping.value.status == 200
    expect(dialog).to_be_hidden()
    # More than 6 s since sign-in, under 6 s since the ping: still signed in.
    page.wait_for_timeout(4_500)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Pat Patient")


def test_a_patient_sets_up_mfa_and_the_security_pages_are_accessible(page, live_asgi, patient):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    fill_login(page, live_asgi.url, patient.email)
    page.goto(f"{live_asgi.url}/accounts/security/")
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("link", name="Set up two-step verification").click()

    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    assert_accessible(page)
    device = TOTPDevice.objects.get(user=patient)
    page.get_by_label("Code from the app").fill(totp_code(device))
    with page.expect_navigation():
        page.get_by_role("button", name="Turn on two-step verification").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Your backup codes")
    expect(page.get_by_role("list", name="Backup codes").get_by_role("listitem")).to_have_count(10)
    assert_accessible(page)
    page.goto(f"{live_asgi.url}/accounts/sessions/")
    expect(page.get_by_role("row", name=re.compile(r"\(this device\)"))).to_have_count(1)
    assert_accessible(page)


def test_an_admin_manages_accounts_on_accessible_pages(page, live_asgi, admin, doctor):
    device = totp_device_enrol(admin)
    login_with_totp(page, live_asgi, admin, device)

    page.goto(f"{live_asgi.url}/accounts/staff/users/")
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("link", name="doctor@example.test").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dr Dana Doctor")
    assert_accessible(page)
    page.get_by_label("Reason for deactivating").fill("left the clinic")
    with page.expect_navigation():
        page.get_by_role("button", name="Deactivate account").click()
    expect(page.get_by_role("status")).to_contain_text("doctor@example.test is deactivated")
    assert_accessible(page)
