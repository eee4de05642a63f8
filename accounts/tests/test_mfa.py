"""MFA: TOTP enrolment and verification, backup codes, disabling, an admin's reset, the pages."""

import base64
import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.mfa.models import BackupCode, UserSession
from accounts.mfa.testing import otp_force_login, totp_code, totp_device_enrol, totp_step_start
from accounts.services.mfa import (
    backup_code_use,
    backup_codes_generate,
    mfa_disable,
    mfa_reset,
    totp_enrol_confirm,
    totp_enrol_start,
    totp_verify,
)
from audit.models import AuditEvent
from telemed.errors import ApplicationError

pytestmark = pytest.mark.django_db

START = totp_step_start()


@pytest.fixture(autouse=True)
def _recent_start():
    """A fresh START per test: a long suite must not travel back past the session idle limit."""
    global START
    START = totp_step_start()


def audit_actions(outcome=None):
    events = AuditEvent.objects.order_by("seq")
    if outcome:
        events = events.filter(outcome=outcome)
    return list(events.values_list("action", flat=True))


class TestTotp:
    def test_enrolment_starts_with_an_unconfirmed_device_and_an_otpauth_uri_that_names_the_clinic(self, doctor):
        device, uri = totp_enrol_start(user=doctor)

        assert device.confirmed is False
        assert uri.startswith("otpauth://totp/Telemed%20Demo%20Clinic%3Adoctor%40example.test?secret=")
        assert "issuer=Telemed%20Demo%20Clinic" in uri

    def test_reloading_setup_keeps_the_same_secret_until_it_is_confirmed(self, doctor):
        first, _ = totp_enrol_start(user=doctor)
        second, _ = totp_enrol_start(user=doctor)

        assert first.pk == second.pk

    def test_a_right_code_confirms_the_device_and_is_audited(self, doctor):
        with time_machine.travel(START, tick=False):
            device, _ = totp_enrol_start(user=doctor)
            totp_enrol_confirm(user=doctor, device=device, code=totp_code(device))

        device.refresh_from_db()
        assert device.confirmed is True
        assert audit_actions("success") == ["accounts.mfa.enrol"]

    def test_a_wrong_code_does_not_confirm_and_the_refusal_is_audited(self, doctor):
        device, _ = totp_enrol_start(user=doctor)
        wrong = "000000" if totp_code(device) != "000000" else "111111"

        with pytest.raises(ApplicationError) as refused:
            totp_enrol_confirm(user=doctor, device=device, code=wrong)

        assert refused.value.code == "mfa_invalid_code"
        device.refresh_from_db()
        assert device.confirmed is False
        assert audit_actions("denied") == ["accounts.mfa.enrol"]

    def test_a_code_is_accepted_once_and_refused_when_replayed(self, doctor):
        device = totp_device_enrol(doctor)
        with time_machine.travel(START, tick=False):
            code = totp_code(device)
            assert totp_verify(user=doctor, code=code) == device
            with time_machine.travel(START + dt.timedelta(seconds=5), tick=False):
                assert totp_verify(user=doctor, code=code) is None

        assert audit_actions() == ["accounts.mfa.verify", "accounts.mfa.verify"]
        assert audit_actions("denied") == ["accounts.mfa.verify"]

    def test_the_next_time_step_gives_a_new_code_that_is_accepted(self, doctor):
        device = totp_device_enrol(doctor)
        with time_machine.travel(START, tick=False):
            assert totp_verify(user=doctor, code=totp_code(device)) is not None
        with time_machine.travel(START + dt.timedelta(seconds=30), tick=False):
            assert totp_verify(user=doctor, code=totp_code(device)) is not None

    def test_a_code_of_another_users_device_is_refused(self, doctor, nurse):
        totp_device_enrol(doctor)
        nurse_device = totp_device_enrol(nurse)

        with time_machine.travel(START, tick=False):
            assert totp_verify(user=doctor, code=totp_code(nurse_device)) is None

    def test_an_unconfirmed_device_does_not_verify(self, doctor):
        device, _ = totp_enrol_start(user=doctor)

        assert totp_verify(user=doctor, code=totp_code(device)) is None

    def test_wrong_codes_are_throttled_so_even_the_right_code_waits(self, doctor):
        device = totp_device_enrol(doctor)
        with time_machine.travel(START, tick=False):
            right = totp_code(device)
            wrong = "000000" if right != "000000" else "111111"
            assert totp_verify(user=doctor, code=wrong) is None
            assert totp_verify(user=doctor, code=wrong) is None
            # Two failures: the next try must wait 2 s.
            assert totp_verify(user=doctor, code=right) is None
        with time_machine.travel(START + dt.timedelta(seconds=3), tick=False):
            assert totp_verify(user=doctor, code=right) is not None


class TestBackupCodes:
    def test_ten_codes_are_shown_once_and_only_their_hashes_are_stored(self, patient):
        totp_device_enrol(patient)

        codes = backup_codes_generate(user=patient)

        assert len(codes) == 10 and len(set(codes)) == 10
        assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", code) for code in codes)
        stored = list(BackupCode.objects.filter(user=patient).values_list("code_hash", flat=True))
        assert len(stored) == 10
        for code in codes:
            plain = code.replace("-", "")
            assert all(plain not in value and code not in value for value in stored)
        assert all(value.startswith("hmac_sha256$") for value in stored)
        assert len({value.split("$")[1] for value in stored}) == 10, "one salt per code"

    def test_a_backup_code_works_once(self, patient):
        device = totp_device_enrol(patient)
        code = backup_codes_generate(user=patient)[3]

        assert backup_code_use(user=patient, code=code.upper()) == device
        assert backup_code_use(user=patient, code=code) is None
        assert BackupCode.objects.filter(user=patient, used_at__isnull=False).count() == 1
        assert audit_actions("denied") == ["accounts.mfa.verify"]

    def test_regenerating_replaces_the_whole_set(self, patient):
        totp_device_enrol(patient)
        old = backup_codes_generate(user=patient)

        backup_codes_generate(user=patient)

        assert BackupCode.objects.filter(user=patient).count() == 10
        assert backup_code_use(user=patient, code=old[0]) is None

    def test_backup_codes_need_an_authenticator_first(self, patient):
        with pytest.raises(ApplicationError):
            backup_codes_generate(user=patient)

    def test_another_users_backup_code_is_refused(self, patient, outsider_patient):
        totp_device_enrol(patient)
        totp_device_enrol(outsider_patient)
        code = backup_codes_generate(user=outsider_patient)[0]

        assert backup_code_use(user=patient, code=code) is None


class TestDisableAndReset:
    def test_a_patient_turns_mfa_off_with_a_current_code(self, patient):
        device = totp_device_enrol(patient)
        backup_codes_generate(user=patient)

        with time_machine.travel(START, tick=False):
            mfa_disable(user=patient, code=totp_code(device))

        assert not TOTPDevice.objects.filter(user=patient).exists()
        assert not BackupCode.objects.filter(user=patient).exists()
        assert "accounts.mfa.disable" in audit_actions("success")

    def test_staff_cannot_turn_mfa_off(self, doctor):
        device = totp_device_enrol(doctor)

        with pytest.raises(ApplicationError) as refused, time_machine.travel(START, tick=False):
            mfa_disable(user=doctor, code=totp_code(device))

        assert refused.value.code == "mfa_required_for_staff"
        assert TOTPDevice.objects.filter(user=doctor).exists()
        assert audit_actions("denied") == ["accounts.mfa.disable"]

    def test_an_admin_resets_mfa_which_removes_devices_codes_and_sessions(self, admin, doctor):
        totp_device_enrol(doctor)
        backup_codes_generate(user=doctor)
        UserSession.objects.create(user=doctor, session_key_hash="x" * 64)

        mfa_reset(actor=admin, user=doctor, reason="lost phone, identity checked in person")

        assert not TOTPDevice.objects.filter(user=doctor).exists()
        assert not BackupCode.objects.filter(user=doctor).exists()
        assert not UserSession.objects.filter(user=doctor, ended_at__isnull=True).exists()
        event = AuditEvent.objects.get(action="accounts.mfa.reset")
        assert (event.actor, event.target_id) == (admin, str(doctor.pk))
        assert event.reason == "lost phone, identity checked in person"

    def test_only_an_admin_may_reset_mfa(self, doctor, nurse):
        totp_device_enrol(nurse)

        with pytest.raises(ApplicationError):
            mfa_reset(actor=doctor, user=nurse, reason="because")

        assert TOTPDevice.objects.filter(user=nurse).exists()
        assert audit_actions("denied") == ["accounts.mfa.reset"]

    def test_a_reset_needs_a_reason(self, admin, doctor):
        totp_device_enrol(doctor)

        with pytest.raises(ApplicationError):
            mfa_reset(actor=admin, user=doctor, reason="  ")

        assert TOTPDevice.objects.filter(user=doctor).exists()


class TestSetupPage:
    def test_the_setup_page_shows_a_qr_code_as_inline_svg_and_the_key_as_text(self, client, patient):
        client.force_login(patient)

        response = client.get(reverse("accounts:mfa_setup"))

        html = response.content.decode()
        assert response.status_code == 200
        assert '<svg class="qr-code__image" role="img" aria-labelledby="qr-title"' in html
        assert '<title id="qr-title">QR code for your authenticator app</title>' in html
        device = TOTPDevice.objects.get(user=patient)
        key = re.search(r'<code class="secret-key" id="secret-key">([A-Z2-7 ]+)</code>', html).group(1)
        assert base64.b32decode(key.replace(" ", "")) == device.bin_key
        assert "<script>" not in html and " style=" not in html

    def test_confirming_shows_backup_codes_once_and_verifies_the_session(self, client, doctor):
        client.force_login(doctor)
        client.get(reverse("accounts:mfa_setup"))
        device = TOTPDevice.objects.get(user=doctor)

        with time_machine.travel(START, tick=False):
            response = client.post(reverse("accounts:mfa_setup"), {"code": totp_code(device), "next": "/"})

        html = response.content.decode()
        assert response.status_code == 200
        assert "shown only this time" in html
        assert len(re.findall(r"<li><code>[a-z2-9]{5}-[a-z2-9]{5}</code></li>", html)) == 10
        assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
        # The session is now verified: staff pages open.
        assert client.get("/").status_code == 200

    def test_a_wrong_code_on_setup_is_a_form_error_linked_to_the_field(self, client, patient):
        client.force_login(patient)
        client.get(reverse("accounts:mfa_setup"))
        device = TOTPDevice.objects.get(user=patient)
        wrong = "000000" if totp_code(device) != "000000" else "111111"

        response = client.post(reverse("accounts:mfa_setup"), {"code": wrong})

        html = response.content.decode()
        assert response.status_code == 400
        assert 'id="id_code-error"' in html
        assert 'aria-describedby="id_code-hint id_code-error"' in html
        assert 'aria-invalid="true"' in html

    def test_anonymous_visitors_are_sent_to_sign_in(self, client):
        for name in ("accounts:mfa_setup", "accounts:security"):
            response = client.get(reverse(name))
            assert response.status_code == 302
            assert response["Location"].startswith("/accounts/login/")


class TestSecurityPage:
    def test_a_patient_without_mfa_is_offered_to_turn_it_on(self, client, patient):
        client.force_login(patient)

        html = client.get(reverse("accounts:security")).content.decode()

        assert "Set up two-step verification" in html

    def test_a_patient_with_mfa_regenerates_backup_codes(self, client, patient):
        otp_force_login(client, patient)

        response = client.post(reverse("accounts:backup_codes_regenerate"))

        assert response.status_code == 200
        assert BackupCode.objects.filter(user=patient).count() == 10

    def test_a_patient_turns_mfa_off_from_the_page(self, client, patient):
        device = otp_force_login(client, patient)

        with time_machine.travel(START, tick=False):
            response = client.post(reverse("accounts:mfa_disable"), {"code": totp_code(device)})

        assert response.status_code == 302
        assert not TOTPDevice.objects.filter(user=patient).exists()

    def test_a_wrong_code_keeps_mfa_on_and_says_so(self, client, patient):
        device = otp_force_login(client, patient)
        wrong = "000000" if totp_code(device) != "000000" else "111111"

        response = client.post(reverse("accounts:mfa_disable"), {"code": wrong})

        assert response.status_code == 400
        assert "That code is not right." in response.content.decode()
        assert TOTPDevice.objects.filter(user=patient).exists()

    def test_staff_see_that_mfa_cannot_be_turned_off(self, client, nurse):
        otp_force_login(client, nurse)

        html = client.get(reverse("accounts:security")).content.decode()

        assert "Clinic staff cannot turn two-step verification off" in html
        assert reverse("accounts:mfa_disable") not in html
