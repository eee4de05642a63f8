"""Password reset by email: a one-time link, no account enumeration, an audited change."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from accounts.tests.factories import PatientFactory
from audit.models import AuditEvent

RESET = "/accounts/password/reset/"
NEW_PASSWORD = "a-completely-new-passphrase"


def _link_path(message) -> str:
    match = re.search(r"(https?://[^/\s]+)(/accounts/password/reset/[^\s]+/[^\s]+/)", message.body)
    assert match.group(1) == settings.SITE_URL.rstrip("/")
    return match.group(2)


def _set_password(client, link_path, password=NEW_PASSWORD, again=None):
    # Django moves the token into the session and redirects to a URL without it.
    form_url = client.get(link_path)["Location"]
    return client.post(form_url, {"new_password1": password, "new_password2": again or password}), form_url


@pytest.mark.django_db
class TestPasswordReset:
    def test_the_request_page_has_a_labelled_field(self, client):
        response = client.get(RESET)

        assert response.status_code == 200
        assert '<label for="id_email">Email</label>' in response.content.decode()

    def test_a_known_address_gets_a_link_to_the_configured_site(self, client, patient, mailoutbox):
        response = client.post(RESET, {"email": "Patient@Example.test"})

        assert response["Location"] == "/accounts/password/reset/done/"
        [message] = mailoutbox
        assert message.to == ["patient@example.test"]
        assert _link_path(message)
        assert message.alternatives and "Choose a new password" in message.alternatives[0][0]

    def test_an_unknown_address_gets_the_same_answer_and_no_email(self, client, mailoutbox):
        response = client.post(RESET, {"email": "nobody@example.test"})

        assert response["Location"] == "/accounts/password/reset/done/"
        assert mailoutbox == []
        assert "If an account uses the address" in client.get(response["Location"]).content.decode()

    def test_a_deactivated_account_gets_no_email(self, client, mailoutbox):
        PatientFactory(email="gone@example.test", is_active=False)

        client.post(RESET, {"email": "gone@example.test"})

        assert mailoutbox == []

    def test_following_the_link_sets_the_new_password_and_is_audited(self, client, patient, mailoutbox):
        client.post(RESET, {"email": patient.email})

        response, _ = _set_password(client, _link_path(mailoutbox[0]))

        assert response["Location"] == "/accounts/password/reset/complete/"
        patient.refresh_from_db()
        assert patient.check_password(NEW_PASSWORD)
        assert patient.email_verified_at is not None
        assert AuditEvent.objects.filter(action="accounts.password.reset", actor=patient).exists()
        assert "Password changed" in client.get(response["Location"]).content.decode()

    def test_the_link_works_once(self, client, patient, mailoutbox):
        client.post(RESET, {"email": patient.email})
        link = _link_path(mailoutbox[0])
        _set_password(client, link)

        response = client.get(link, follow=True)

        assert "This link is not valid" in response.content.decode()

    def test_a_weak_new_password_is_refused_next_to_the_field(self, client, patient, mailoutbox):
        client.post(RESET, {"email": patient.email})

        response, _ = _set_password(client, _link_path(mailoutbox[0]), password="short")

        html = response.content.decode()
        assert response.status_code == 200
        assert 'id="id_new_password2-error"' in html or 'id="id_new_password1-error"' in html
        patient.refresh_from_db()
        assert not patient.check_password("short")

    def test_a_made_up_link_shows_the_invalid_page(self, client, patient):
        response = client.get("/accounts/password/reset/Mw/set-password/", follow=True)

        assert "This link is not valid" in response.content.decode()
