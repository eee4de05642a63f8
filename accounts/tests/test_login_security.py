"""Web sign-in: no enumeration, session rotation, the OTP step, staff sent to MFA, the admin."""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.hashers import MD5PasswordHasher
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY

from accounts.mfa.testing import otp_force_login, totp_code, totp_device_enrol, totp_step_start
from accounts.services.mfa import backup_codes_generate
from accounts.tests.factories import TEST_PASSWORD
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

START = totp_step_start()


@pytest.fixture(autouse=True)
def _recent_start():
    """A fresh START per test: a long suite must not travel back past the session idle limit."""
    global START
    START = totp_step_start()


LOGIN = "/accounts/login/"
INVALID_LOGIN = "Please enter a correct email address and password."


class CountingHasher(MD5PasswordHasher):
    """A real hasher that counts how often it hashes (to show unknown emails cost a hash too)."""

    algorithm = "counting_md5"
    calls = 0

    def encode(self, password, salt):
        type(self).calls += 1
        return super().encode(password, salt)


def sign_in(client, email, password=TEST_PASSWORD, **extra):
    return client.post(LOGIN, {"username": email, "password": password}, **extra)


def error_block(response) -> str:
    html = response.content.decode()
    start = html.index('<div class="form-error"')
    return html[start : html.index("</div>", start)]


def test_an_unknown_email_and_a_wrong_password_get_the_same_answer(client, patient):
    unknown = sign_in(client, "nobody@example.test", "whatever-password-1")
    wrong = sign_in(client, patient.email, "not-the-password-1")

    assert unknown.status_code == wrong.status_code == 200
    assert INVALID_LOGIN in error_block(unknown)
    assert error_block(unknown) == error_block(wrong)


def test_an_unknown_email_costs_a_password_hash_like_a_wrong_password(client, settings, patient):
    settings.PASSWORD_HASHERS = ["accounts.tests.test_login_security.CountingHasher"]
    patient.set_password(TEST_PASSWORD)
    patient.save(update_fields=["password"])
    CountingHasher.calls = 0
    sign_in(client, "nobody@example.test", "whatever-password-1")
    unknown_calls, CountingHasher.calls = CountingHasher.calls, 0
    sign_in(client, patient.email, "not-the-password-1")

    assert unknown_calls == CountingHasher.calls == 1


def test_an_inactive_account_gets_the_same_answer_as_a_wrong_password(client, patient):
    patient.is_active = False
    patient.save(update_fields=["is_active"])

    response = sign_in(client, patient.email)

    assert INVALID_LOGIN in response.content.decode()
    assert SESSION_KEY not in client.session


def test_signing_in_rotates_the_session_id(client, patient):
    session = client.session
    session["before"] = "sign-in"
    session.save()
    before = client.cookies["sessionid"].value

    response = sign_in(client, patient.email)

    assert response.status_code == 302
    after = client.cookies["sessionid"].value
    assert after != before
    assert client.session[SESSION_KEY] == str(patient.pk)


def test_a_patient_without_mfa_goes_straight_to_the_page_they_asked_for(client, patient):
    form = {"username": patient.email, "password": TEST_PASSWORD, "next": "/accounts/sessions/"}
    response = client.post(f"{LOGIN}?next=/accounts/sessions/", form)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/sessions/"


def test_the_email_is_case_insensitive(client, patient):
    response = sign_in(client, "PATIENT@Example.TEST")

    assert response.status_code == 302


def test_a_next_url_to_another_site_is_ignored(client, patient):
    response = client.post(
        LOGIN, {"username": patient.email, "password": TEST_PASSWORD, "next": "https://evil.example/"}
    )

    assert response["Location"] == "/"


class TestOtpStep:
    def test_a_patient_with_mfa_is_not_signed_in_until_the_code_is_right(self, client, patient):
        device = totp_device_enrol(patient)

        response = sign_in(client, patient.email)

        assert response["Location"] == reverse("accounts:mfa_challenge")
        assert SESSION_KEY not in client.session
        assert "Hello," not in client.get("/").content.decode()
        with time_machine.travel(START, tick=False):
            response = client.post(reverse("accounts:mfa_challenge"), {"code": totp_code(device)})
        assert response.status_code == 302 and response["Location"] == "/"
        assert client.session[SESSION_KEY] == str(patient.pk)
        assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id

    def test_the_otp_step_rotates_the_session_id_again(self, client, doctor):
        device = totp_device_enrol(doctor)
        sign_in(client, doctor.email)
        pending = client.cookies["sessionid"].value

        with time_machine.travel(START, tick=False):
            client.post(reverse("accounts:mfa_challenge"), {"code": totp_code(device)})

        assert client.cookies["sessionid"].value != pending

    def test_a_doctor_with_totp_reaches_the_home_page_after_the_code(self, client, doctor):
        device = totp_device_enrol(doctor)
        sign_in(client, doctor.email)

        with time_machine.travel(START, tick=False):
            client.post(reverse("accounts:mfa_challenge"), {"code": totp_code(device)})
            response = client.get("/")

        assert response.status_code == 200
        assert "Hello, Dr Dana Doctor" in response.content.decode()

    def test_a_backup_code_passes_the_challenge(self, client, doctor):
        totp_device_enrol(doctor)
        code = backup_codes_generate(user=doctor)[0]
        sign_in(client, doctor.email)

        response = client.post(reverse("accounts:mfa_challenge"), {"code": code})

        assert response.status_code == 302
        assert client.get("/").status_code == 200

    def test_a_wrong_code_is_refused_with_an_error_and_audited(self, client, doctor):
        device = totp_device_enrol(doctor)
        sign_in(client, doctor.email)
        with time_machine.travel(START, tick=False):
            wrong = "000000" if totp_code(device) != "000000" else "111111"
            response = client.post(reverse("accounts:mfa_challenge"), {"code": wrong})

        assert response.status_code == 400
        assert "That code is not right." in response.content.decode()
        assert SESSION_KEY not in client.session
        assert AuditEvent.objects.filter(action="accounts.mfa.verify", outcome="denied").count() == 1

    def test_a_replayed_code_does_not_sign_in_a_second_browser(self, client, doctor, django_user_model):
        from django.test import Client

        device = totp_device_enrol(doctor)
        other = Client()
        with time_machine.travel(START, tick=False):
            code = totp_code(device)
            sign_in(client, doctor.email)
            client.post(reverse("accounts:mfa_challenge"), {"code": code})
            sign_in(other, doctor.email)
            response = other.post(reverse("accounts:mfa_challenge"), {"code": code})

        assert response.status_code == 400
        assert SESSION_KEY not in other.session

    def test_five_wrong_codes_send_the_person_back_to_the_password(self, client, patient):
        totp_device_enrol(patient)
        sign_in(client, patient.email)
        backup_like = "zzzzz-zzzzz"

        for _ in range(4):
            assert client.post(reverse("accounts:mfa_challenge"), {"code": backup_like}).status_code == 400
        response = client.post(reverse("accounts:mfa_challenge"), {"code": backup_like})

        assert response["Location"] == LOGIN
        assert client.get(reverse("accounts:mfa_challenge"))["Location"] == LOGIN

    def test_the_challenge_expires_after_five_minutes(self, client, patient):
        device = totp_device_enrol(patient)
        with time_machine.travel(START, tick=False):
            sign_in(client, patient.email)
        with time_machine.travel(START + dt.timedelta(minutes=6), tick=False):
            response = client.post(reverse("accounts:mfa_challenge"), {"code": totp_code(device)})

        assert response["Location"] == LOGIN
        assert SESSION_KEY not in client.session

    def test_the_challenge_without_a_password_step_goes_to_sign_in(self, client):
        response = client.get(reverse("accounts:mfa_challenge"))

        assert response["Location"] == LOGIN


class TestStaffMustUseMfa:
    @pytest.mark.parametrize("persona", ["doctor", "nurse", "admin"])
    def test_staff_without_a_device_are_sent_to_setup_before_any_page(self, client, request, persona):
        user = request.getfixturevalue(persona)

        response = sign_in(client, user.email)
        assert response["Location"].startswith(reverse("accounts:mfa_setup"))
        for path in ("/", "/accounts/sessions/", "/accounts/security/", "/admin/"):
            response = client.get(path)
            assert response.status_code == 302, path
            assert response["Location"].startswith(reverse("accounts:mfa_setup") + "?next="), path

    def test_staff_with_a_device_but_an_unverified_session_are_sent_to_the_challenge(self, client, nurse):
        totp_device_enrol(nurse)
        client.force_login(nurse)

        response = client.get("/accounts/sessions/")

        assert response["Location"] == reverse("accounts:mfa_challenge") + "?next=%2Faccounts%2Fsessions%2F"

    def test_a_signed_in_unverified_staff_member_verifies_and_continues(self, client, nurse):
        device = totp_device_enrol(nurse)
        client.force_login(nurse)

        with time_machine.travel(START, tick=False):
            response = client.post(
                reverse("accounts:mfa_challenge") + "?next=/accounts/sessions/", {"code": totp_code(device)}
            )

        assert response["Location"] == "/accounts/sessions/"
        assert client.get("/accounts/sessions/").status_code == 200

    def test_health_probes_static_files_and_the_api_are_not_redirected(self, client, doctor):
        client.force_login(doctor)

        assert client.get("/healthz").status_code == 200
        assert not client.get("/api/v1/").get("Location", "").startswith(reverse("accounts:mfa_setup"))
        assert client.get(reverse("accounts:mfa_setup")).status_code == 200

    def test_patients_are_not_forced_to_set_up_mfa(self, client, patient):
        client.force_login(patient)

        assert client.get("/").status_code == 200


class TestAdminSite:
    def test_an_unverified_admin_cannot_open_the_admin(self, client, admin):
        totp_device_enrol(admin)
        client.force_login(admin)

        response = client.get("/admin/")

        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:mfa_challenge"))

    def test_the_admin_site_itself_refuses_an_unverified_session(self, client, settings, admin):
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "accounts.middleware.StaffOtpRequiredMiddleware"]
        client.force_login(admin)

        response = client.get("/admin/", follow=True)

        assert response.redirect_chain[-1][0].startswith(LOGIN)
        assert "Telemed administration" not in response.content.decode()

    def test_a_verified_admin_opens_the_admin(self, client, admin):
        otp_force_login(client, admin)

        response = client.get("/admin/")

        assert response.status_code == 200
        assert "Telemed administration" in response.content.decode()

    def test_the_admin_login_sends_people_to_the_portal_sign_in(self, client):
        response = client.get("/admin/login/?next=/admin/accounts/user/")

        assert response["Location"] == f"{LOGIN}?next=/admin/accounts/user/"


def test_signing_out_ends_the_session_and_is_audited(client, patient):
    sign_in(client, patient.email)
    client.get("/")

    response = client.post(reverse("accounts:logout"))

    assert response.status_code == 302
    assert SESSION_KEY not in client.session
    event = AuditEvent.objects.get(action="accounts.session.close")
    assert (event.actor, event.reason) == (patient, "signed out")


def test_signing_out_needs_a_post(client, patient):
    client.force_login(patient)

    assert client.get(reverse("accounts:logout")).status_code == 405
    assert SESSION_KEY in client.session
