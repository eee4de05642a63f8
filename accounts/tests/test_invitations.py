"""Staff are invited by an OTP-verified admin; the invitee sets a password from a one-time link."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine

from accounts.mfa.testing import otp_force_login
from accounts.models import Role, User
from audit.models import AuditEvent

INVITE = "/accounts/staff/invite/"
PASSWORD = "a-long-staff-passphrase"


@pytest.fixture
def invite(client, admin, django_capture_on_commit_callbacks):
    otp_force_login(client, admin)

    def post(email="new.doctor@example.test", full_name="Dr New", role=Role.DOCTOR):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(INVITE, {"email": email, "full_name": full_name, "role": role})

    return post


def _link_path(message) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/invite/[^\s]+/)", message.body).group(1)


@pytest.mark.django_db
class TestInvitePage:
    def test_an_anonymous_visitor_is_sent_to_sign_in(self, client):
        response = client.get(INVITE)

        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")

    @pytest.mark.parametrize("persona", ["patient", "outsider_patient"])
    def test_a_patient_finds_no_such_page(self, client, persona, request):
        client.force_login(request.getfixturevalue(persona))

        assert client.get(INVITE).status_code == 404
        assert client.post(INVITE, {"email": "x@example.test", "full_name": "X", "role": "doctor"}).status_code == 404
        assert not User.objects.filter(email="x@example.test").exists()

    def test_a_verified_doctor_finds_no_such_page(self, client, doctor):
        otp_force_login(client, doctor)

        assert client.get(INVITE).status_code == 404

    def test_an_admin_without_a_verified_session_cannot_invite(self, client, admin):
        client.force_login(admin)

        response = client.post(INVITE, {"email": "x@example.test", "full_name": "X", "role": "doctor"})

        assert response.status_code in (302, 404)
        assert not User.objects.filter(email="x@example.test").exists()

    def test_a_verified_admin_sees_a_labelled_form(self, client, admin):
        otp_force_login(client, admin)

        html = client.get(INVITE).content.decode()

        for field, label in (("full_name", "Full name"), ("email", "Email"), ("role", "Role")):
            assert f'<label for="id_{field}">{label}</label>' in html
        assert '<option value="patient"' not in html

    def test_inviting_creates_an_inactive_account_without_password_and_emails_a_link(self, invite, admin, mailoutbox):
        response = invite()

        assert response.status_code == 302
        user = User.objects.get(email="new.doctor@example.test")
        assert (user.role, user.is_active, user.is_staff, user.has_usable_password()) == (
            Role.DOCTOR,
            False,
            False,
            False,
        )
        [message] = mailoutbox
        assert message.to == ["new.doctor@example.test"]
        assert "72 hours" in message.body
        assert _link_path(message)
        assert AuditEvent.objects.filter(action="accounts.user.invite", actor=admin, target_id=str(user.pk)).exists()

    def test_an_invited_admin_gets_admin_site_access(self, invite):
        invite(email="new.admin@example.test", role=Role.ADMIN)

        assert User.objects.get(email="new.admin@example.test").is_staff

    def test_an_address_with_an_account_is_refused_on_the_form(self, invite, patient, mailoutbox):
        response = invite(email="PATIENT@example.test")

        assert response.status_code == 200
        assert "already exists" in response.content.decode()
        assert mailoutbox == []
        patient.refresh_from_db()
        assert patient.role == Role.PATIENT

    def test_a_patient_role_cannot_be_invited(self, invite):
        response = invite(role=Role.PATIENT)

        assert response.status_code == 200
        assert not User.objects.filter(email="new.doctor@example.test").exists()


@pytest.mark.django_db
class TestInviteAccept:
    def test_the_invitee_sets_a_password_and_can_then_sign_in(self, client, invite, mailoutbox):
        invite()
        path = _link_path(mailoutbox[0])
        client.logout()

        page = client.get(path)
        response = client.post(path, {"password": PASSWORD, "password_again": PASSWORD})

        assert "Welcome, Dr New" in page.content.decode()
        assert response["Location"] == "/accounts/login/"
        user = User.objects.get(email="new.doctor@example.test")
        assert user.is_active and user.check_password(PASSWORD)
        assert user.email_verified_at is not None
        assert AuditEvent.objects.filter(action="accounts.invitation.accept", actor=user).exists()

    def test_the_link_works_once(self, client, invite, mailoutbox):
        invite()
        path = _link_path(mailoutbox[0])
        client.logout()
        client.post(path, {"password": PASSWORD, "password_again": PASSWORD})

        again = client.post(path, {"password": "another-long-passphrase", "password_again": "another-long-passphrase"})

        assert again.status_code == 400
        assert User.objects.get(email="new.doctor@example.test").check_password(PASSWORD)

    def test_the_link_expires_after_72_hours(self, client, invite, mailoutbox):
        invite()
        path = _link_path(mailoutbox[0])
        client.logout()
        with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=72, minutes=1)):
            response = client.get(path)

        assert response.status_code == 400
        assert "not valid" in response.content.decode()

    def test_inviting_again_voids_the_first_link(self, client, invite, mailoutbox):
        invite()
        invite()
        first, second = (_link_path(message) for message in mailoutbox)
        client.logout()

        assert client.get(first).status_code == 400
        assert client.get(second).status_code == 200

    def test_a_weak_password_is_refused_next_to_the_field(self, client, invite, mailoutbox):
        invite()
        path = _link_path(mailoutbox[0])
        client.logout()

        response = client.post(path, {"password": "short", "password_again": "short"})

        assert response.status_code == 200
        assert 'id="id_password-error"' in response.content.decode()
        assert not User.objects.get(email="new.doctor@example.test").is_active

    def test_a_link_for_an_active_account_is_refused(self, client, patient):
        from accounts.services.registration import invitation_tokens, user_uid

        response = client.get(f"/accounts/invite/{user_uid(patient)}/{invitation_tokens.make_token(patient)}/")

        assert response.status_code == 400


@pytest.mark.django_db
def test_the_service_refuses_an_inviter_who_is_not_an_admin_and_records_it(doctor):
    from accounts.services.registration import staff_invite
    from telemed.errors import ApplicationError

    with pytest.raises(ApplicationError) as refused:
        staff_invite(actor=doctor, email="x@example.test", full_name="X", role=Role.NURSE)

    assert refused.value.status_code == 403
    assert not User.objects.filter(email="x@example.test").exists()
    assert AuditEvent.objects.filter(action="accounts.user.invite", actor=doctor, outcome="denied").exists()
