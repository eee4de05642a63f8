"""Admin pages to manage accounts: deactivate, unlock, reset MFA. Admins only, OTP-verified."""

import pytest
from asgiref.sync import async_to_sync
from axes.models import AccessAttempt
from channels.layers import get_channel_layer
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.mfa.models import UserSession
from accounts.mfa.testing import otp_force_login, totp_device_enrol
from accounts.services.staff_admin import user_deactivate
from accounts.tests.factories import TEST_PASSWORD
from audit.models import AuditEvent
from telemed.errors import ApplicationError

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
USERS = "/accounts/staff/users/"


@pytest.fixture
def admin_client(client, admin):
    otp_force_login(client, admin)
    return client


def signed_in_client(user) -> Client:
    other = Client()
    if user.is_staff_role:
        otp_force_login(other, user)
    else:
        other.force_login(user)
    other.get("/")
    return other


def lock_out(email: str) -> None:
    client = Client()
    for n in range(5):
        client.post(LOGIN, {"username": email, "password": "wrong-password-1"}, REMOTE_ADDR=f"198.51.100.{n + 1}")


class TestAccess:
    def test_a_verified_admin_finds_accounts(self, admin_client, patient, doctor):
        response = admin_client.get(USERS, {"q": "doctor"})

        html = response.content.decode()
        assert response.status_code == 200
        assert "doctor@example.test" in html
        assert "patient@example.test" not in html

    @pytest.mark.parametrize("persona", ["patient", "doctor", "nurse", "outsider_patient"])
    def test_everyone_else_gets_a_404_recorded_as_denied(self, client, request, persona, patient):
        user = request.getfixturevalue(persona)
        other = signed_in_client(user)

        for path in (USERS, f"{USERS}{patient.pk}/"):
            assert other.get(path).status_code == 404
        assert other.post(f"{USERS}{patient.pk}/deactivate/", {"deactivate-reason": "x"}).status_code == 404
        patient.refresh_from_db()
        assert patient.is_active
        assert AuditEvent.objects.filter(action="accounts.staff_admin.open", outcome="denied", actor=user).count() == 3

    def test_anonymous_visitors_are_sent_to_sign_in(self, client, patient):
        for path in (USERS, f"{USERS}{patient.pk}/"):
            response = client.get(path)
            assert response.status_code == 302 and response["Location"].startswith(LOGIN)
        response = client.post(reverse("accounts:staff_unlock"), {"ip": "198.51.100.1"})
        assert response["Location"].startswith(LOGIN)

    def test_an_unverified_admin_is_sent_to_the_challenge(self, client, admin):
        totp_device_enrol(admin)
        client.force_login(admin)

        assert client.get(USERS)["Location"].startswith(reverse("accounts:mfa_challenge"))

    def test_an_unknown_account_is_a_404(self, admin_client):
        assert admin_client.get(f"{USERS}999999/").status_code == 404


class TestDeactivate:
    def test_deactivating_signs_the_person_out_everywhere_and_closes_their_sockets(
        self, admin_client, admin, patient, django_capture_on_commit_callbacks
    ):
        layer = get_channel_layer()
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(f"user.{patient.pk}", channel)
        their_browser = signed_in_client(patient)

        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(f"{USERS}{patient.pk}/deactivate/", {"deactivate-reason": "left the clinic"})

        assert response["Location"] == f"{USERS}{patient.pk}/"
        patient.refresh_from_db()
        assert patient.is_active is False
        assert their_browser.get("/accounts/sessions/")["Location"].startswith(LOGIN)
        assert "Hello," not in their_browser.get("/").content.decode()
        assert not UserSession.objects.filter(user=patient, ended_at__isnull=True).exists()
        assert async_to_sync(layer.receive)(channel) == {"type": "session.revoked"}
        event = AuditEvent.objects.get(action="accounts.user.deactivate")
        assert (event.actor, event.target_id, event.reason) == (admin, str(patient.pk), "left the clinic")
        page = admin_client.get(response["Location"]).content.decode()
        assert "is deactivated and signed out everywhere" in page

    def test_a_deactivated_person_cannot_sign_in(self, admin, patient):
        user_deactivate(actor=admin, user=patient, reason="left")

        response = Client().post(LOGIN, {"username": patient.email, "password": TEST_PASSWORD})

        assert response.status_code == 200
        assert "Please enter a correct email address and password." in response.content.decode()

    def test_a_reason_is_required_and_the_error_is_linked_to_the_field(self, admin_client, patient):
        response = admin_client.post(f"{USERS}{patient.pk}/deactivate/", {"deactivate-reason": ""})

        html = response.content.decode()
        assert response.status_code == 400
        assert 'aria-describedby="id_deactivate-reason-error"' in html
        patient.refresh_from_db()
        assert patient.is_active

    def test_an_admin_cannot_deactivate_themself(self, admin):
        with pytest.raises(ApplicationError):
            user_deactivate(actor=admin, user=admin, reason="oops")

        admin.refresh_from_db()
        assert admin.is_active


class TestUnlock:
    def test_an_admin_sees_a_locked_account_and_unlocks_it(self, admin_client, admin, patient):
        lock_out(patient.email)
        assert "Locked out" in admin_client.get(USERS).content.decode()

        response = admin_client.post(reverse("accounts:staff_unlock"), {"user_id": patient.pk})

        assert response["Location"] == f"{USERS}{patient.pk}/"
        assert not AccessAttempt.objects.filter(username=patient.email).exists()
        assert Client().post(LOGIN, {"username": patient.email, "password": TEST_PASSWORD}).status_code == 302
        assert AuditEvent.objects.get(action="accounts.user.unlock").actor == admin

    def test_an_admin_unlocks_an_address(self, admin_client, patient):
        client = Client()
        for n in range(5):
            client.post(LOGIN, {"username": f"guess{n}@example.test", "password": "x"}, REMOTE_ADDR="198.51.100.7")
        assert "198.51.100.7" in admin_client.get(USERS).content.decode()

        admin_client.post(reverse("accounts:staff_unlock"), {"ip": "198.51.100.7"})

        form = {"username": patient.email, "password": TEST_PASSWORD}
        response = client.post(LOGIN, form, REMOTE_ADDR="198.51.100.7")
        assert response.status_code == 302
        assert AuditEvent.objects.get(action="accounts.user.unlock").reason == "ip=198.51.100.7"

    def test_a_malformed_address_is_a_form_error(self, admin_client):
        response = admin_client.post(reverse("accounts:staff_unlock"), {"ip": "not-an-ip"})

        assert response.status_code == 400
        assert "Enter a valid IP address." in response.content.decode()


class TestResetMfa:
    def test_an_admin_resets_a_doctors_mfa_from_the_page(self, admin_client, admin, doctor):
        their_browser = signed_in_client(doctor)

        response = admin_client.post(f"{USERS}{doctor.pk}/reset-mfa/", {"reset-reason": "lost phone"})

        assert response["Location"] == f"{USERS}{doctor.pk}/"
        assert not TOTPDevice.objects.filter(user=doctor).exists()
        assert their_browser.get("/")["Location"].startswith(LOGIN)
        assert AuditEvent.objects.get(action="accounts.mfa.reset").reason == "lost phone"
        # At next sign-in the doctor is sent to set MFA up again.
        fresh = Client()
        response = fresh.post(LOGIN, {"username": doctor.email, "password": TEST_PASSWORD})
        assert response["Location"].startswith(reverse("accounts:mfa_setup"))
