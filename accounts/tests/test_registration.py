"""A patient registers, confirms the address from the email, and nobody learns who is registered."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core.cache import cache

from accounts.models import PatientProfile, Role, User
from accounts.services.registration import user_uid
from audit.models import AuditEvent

REGISTER = "/accounts/register/"
PASSWORD = "a-long-enough-passphrase"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


@pytest.fixture
def register(client, django_capture_on_commit_callbacks):
    def post(email="new.patient@example.test", full_name="Nina New", password=PASSWORD):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(REGISTER, {"email": email, "full_name": full_name, "password": password})

    return post


def _link_path(message) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/verify/[^\s]+/)", message.body).group(1)


def _verify(client, path, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(path)


@pytest.mark.django_db
class TestRegisterPage:
    def test_an_anonymous_visitor_sees_a_labelled_form(self, client):
        response = client.get(REGISTER)

        html = response.content.decode()
        assert response.status_code == 200
        for field, label in (("full_name", "Full name"), ("email", "Email"), ("password", "Password")):
            assert f'<label for="id_{field}">{label}</label>' in html

    def test_a_signed_in_user_is_sent_home(self, client, patient):
        client.force_login(patient)

        response = client.get(REGISTER)

        assert response.status_code == 302
        assert response["Location"] == "/"

    def test_registering_creates_an_unverified_patient_and_emails_a_link(self, client, register, mailoutbox):
        response = register(email="New.Patient@Example.test")

        assert response.status_code == 302
        assert response["Location"] == "/accounts/register/done/"
        user = User.objects.get(email="new.patient@example.test")
        assert (user.role, user.full_name, user.email_verified_at) == (Role.PATIENT, "Nina New", None)
        assert user.check_password(PASSWORD)
        [message] = mailoutbox
        assert message.to == ["new.patient@example.test"]
        assert "/accounts/verify/" in message.body
        assert "/accounts/verify/" in message.alternatives[0][0]
        assert AuditEvent.objects.filter(action="accounts.registration.create", actor=user).exists()

    def test_the_done_page_asks_to_check_the_email(self, client, register):
        response = client.get(register()["Location"])

        assert "Check your email" in response.content.decode()

    def test_a_taken_address_answers_the_same_and_tells_its_owner(self, client, register, patient, mailoutbox):
        new = register(email="brand.new@example.test")
        taken = register(email="PATIENT@example.test", full_name="Impostor")

        assert (taken.status_code, taken["Location"]) == (new.status_code, new["Location"])
        assert User.objects.filter(email__iexact="patient@example.test").count() == 1
        patient.refresh_from_db()
        assert patient.full_name == "Pat Patient"
        owner_mail = mailoutbox[-1]
        assert owner_mail.to == ["patient@example.test"]
        assert "tried to create" in owner_mail.body
        assert "/accounts/verify/" not in owner_mail.body
        assert AuditEvent.objects.filter(action="accounts.registration.duplicate", target_id=str(patient.pk)).exists()

    def test_a_weak_password_is_shown_next_to_the_field(self, client, register, mailoutbox):
        response = register(password="short")

        html = response.content.decode()
        assert response.status_code == 200
        assert 'id="id_password-error"' in html
        assert "at least 12 characters" in html
        assert 'aria-describedby="id_password-hint id_password-error"' in html
        assert not User.objects.filter(email="new.patient@example.test").exists()
        assert mailoutbox == []

    def test_a_password_like_the_email_address_is_refused(self, client, register):
        response = register(email="correcthorse@example.test", password="correcthorse1")

        assert response.status_code == 200
        assert "too similar" in response.content.decode()

    def test_a_common_password_is_refused(self, client, register):
        response = register(password="password1234")

        assert response.status_code == 200
        assert "too common" in response.content.decode()


@pytest.mark.django_db
class TestVerifyEmail:
    def test_opening_the_link_only_shows_a_button(self, client, register, mailoutbox):
        register()

        response = client.get(_link_path(mailoutbox[0]))

        assert response.status_code == 200
        assert "Confirm my email address" in response.content.decode()
        assert User.objects.get(email="new.patient@example.test").email_verified_at is None

    def test_confirming_verifies_the_address_and_creates_the_patient_profile(
        self, client, register, mailoutbox, django_capture_on_commit_callbacks
    ):
        register()

        response = _verify(client, _link_path(mailoutbox[0]), django_capture_on_commit_callbacks)

        assert response.status_code == 200
        assert "Email address confirmed" in response.content.decode()
        user = User.objects.get(email="new.patient@example.test")
        assert user.email_verified_at is not None
        assert PatientProfile.objects.filter(user=user).exists()
        assert AuditEvent.objects.filter(action="accounts.email.verify", actor=user).exists()

    def test_the_link_works_once(self, client, register, mailoutbox, django_capture_on_commit_callbacks):
        register()
        path = _link_path(mailoutbox[0])
        _verify(client, path, django_capture_on_commit_callbacks)

        again = _verify(client, path, django_capture_on_commit_callbacks)

        assert again.status_code == 400
        assert "not valid" in again.content.decode()

    def test_the_link_expires_after_three_days(self, client, register, mailoutbox, django_capture_on_commit_callbacks):
        register()
        with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=3, minutes=1)):
            response = _verify(client, _link_path(mailoutbox[0]), django_capture_on_commit_callbacks)

        assert response.status_code == 400
        assert User.objects.get(email="new.patient@example.test").email_verified_at is None

    def test_a_link_cannot_be_turned_onto_another_account(
        self, client, register, outsider_patient, mailoutbox, django_capture_on_commit_callbacks
    ):
        register()
        path = _link_path(mailoutbox[0])
        token = path.rstrip("/").split("/")[-1]

        response = _verify(
            client, f"/accounts/verify/{user_uid(outsider_patient)}/{token}/", django_capture_on_commit_callbacks
        )

        assert response.status_code == 400
        outsider_patient.refresh_from_db()
        assert outsider_patient.email_verified_at is None

    @pytest.mark.parametrize("path", ["/accounts/verify/bm90LWFuLWlk/abc-def/", "/accounts/verify/!!/x/"])
    def test_a_made_up_link_is_refused(self, client, path, django_capture_on_commit_callbacks):
        assert _verify(client, path, django_capture_on_commit_callbacks).status_code == 400


@pytest.mark.django_db
class TestResend:
    def _resend(self, client, email, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/accounts/verify/resend/", {"email": email})

    def test_an_unverified_account_gets_a_new_link(
        self, client, register, mailoutbox, django_capture_on_commit_callbacks
    ):
        register()

        response = self._resend(client, "NEW.patient@example.test", django_capture_on_commit_callbacks)

        assert response["Location"] == "/accounts/register/done/"
        assert len(mailoutbox) == 2
        assert "/accounts/verify/" in mailoutbox[1].body

    def test_verified_and_unknown_addresses_get_the_same_answer_and_no_email(
        self, client, patient, mailoutbox, django_capture_on_commit_callbacks
    ):
        patient.email_verified_at = dt.datetime.now(dt.UTC)
        patient.save()

        verified = self._resend(client, patient.email, django_capture_on_commit_callbacks)
        unknown = self._resend(client, "nobody@example.test", django_capture_on_commit_callbacks)

        assert verified["Location"] == unknown["Location"] == "/accounts/register/done/"
        assert mailoutbox == []

    def test_the_resend_page_has_a_labelled_field(self, client):
        assert '<label for="id_email">Email</label>' in client.get("/accounts/verify/resend/").content.decode()
