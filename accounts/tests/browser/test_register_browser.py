"""A patient registers, confirms the address from the email, signs in and is greeted by name."""

from __future__ import annotations

import email
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from telemed.testing.browser import assert_accessible

pytestmark = pytest.mark.browser

PASSWORD = "a-long-enough-passphrase"


@pytest.fixture
def live_asgi_with_mail_files(request, transactional_db, settings, tmp_path):
    """The live server, writing its mail to files: it is a forked process, so its outbox is not
    ours. The settings must change before the fork, hence before `live_asgi` is requested.

    It names `transactional_db` itself: `live_asgi` is asked for by name inside, so the root
    conftest would not see that this test commits (and its audit rows would outlive it)."""
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(mail_dir)
    return request.getfixturevalue("live_asgi"), mail_dir


def _mail_to(mail_dir: Path, address: str) -> str:
    for path in sorted(mail_dir.iterdir()):
        # One file per connection; messages are separated by a line of dashes.
        for raw in path.read_text().split("-" * 79):
            message = email.message_from_string(raw.strip())
            if message["To"] == address:
                for part in message.walk():
                    if part.get_content_type() == "text/plain":
                        return part.get_payload(decode=True).decode()
    raise AssertionError(f"no email to {address} in {mail_dir}")


def test_a_patient_registers_verifies_the_address_and_signs_in(page, live_asgi_with_mail_files):
    live_asgi, mail_dir = live_asgi_with_mail_files

    page.goto(f"{live_asgi.url}/accounts/register/")
    assert_accessible(page)
    page.get_by_label("Full name").fill("Nina New")
    page.get_by_label("Email").fill("nina.new@example.test")
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    assert_accessible(page)

    link = re.search(r"https?://\S+?(/accounts/verify/\S+/)", _mail_to(mail_dir, "nina.new@example.test")).group(1)
    page.goto(f"{live_asgi.url}{link}")
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Email address confirmed")
    with page.expect_navigation():
        page.get_by_role("link", name="Sign in").last.click()

    page.get_by_label("Email").fill("nina.new@example.test")
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live_asgi.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Nina New")
    assert_accessible(page)


def test_a_weak_password_is_announced_and_linked_to_the_field(page, live_asgi):
    page.goto(f"{live_asgi.url}/accounts/register/")
    page.get_by_label("Full name").fill("Nina New")
    page.get_by_label("Email").fill("nina.new@example.test")
    page.get_by_label("Password").fill("short")
    with page.expect_navigation():
        page.get_by_role("button", name="Create account").click()

    field = page.get_by_label("Password")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile("at least 12 characters"))
    assert_accessible(page)
