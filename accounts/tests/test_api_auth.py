"""Mobile sign-in over the API: tokens, their rejections, rotation with reuse detection, /me/."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading

import jwt
import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.mfa.testing import totp_code, totp_device_enrol, totp_step_start
from accounts.tests.factories import TEST_PASSWORD, PatientFactory
from audit.models import AuditEvent

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/me/"
PING = "/api/v1/ping/"


@pytest.fixture(autouse=True)
def _fresh_throttles():
    # Throttle counters live in the cache, which outlives a test (and a run, on Redis).
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api():
    return APIClient()


def _obtain(api, user, password=TEST_PASSWORD, **extra):
    return api.post(TOKEN, {"email": user.email, "password": password, **extra}, format="json")


def _pair(api, user, **extra) -> dict:
    response = _obtain(api, user, **extra)
    assert response.status_code == 200, response.json()
    return response.json()


def _bearer(access: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {access}"}


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _sign(payload: dict, **header) -> str:
    return jwt.encode(payload, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256", headers=header or None)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _assert_refused(response, code: str, status: int = 401) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]


class TestObtain:
    def test_a_patient_gets_a_pair_and_the_access_token_opens_me(self, api, patient):
        pair = _pair(api, patient)

        assert pair["token_type"] == "Bearer"
        assert pair["expires_in"] == 300
        assert pair["otp_verified"] is False
        me = api.get(ME, **_bearer(pair["access"]))
        assert me.status_code == 200
        assert me.json() == {
            "id": patient.pk,
            "email": "patient@example.test",
            "role": "patient",
            "full_name": "Pat Patient",
            "otp_verified": False,
            "email_verified": patient.email_verified_at is not None,
        }

    def test_the_access_token_lasts_five_minutes_and_names_audience_and_issuer(self, api, patient):
        claims = _claims(_pair(api, patient)["access"])

        assert claims["exp"] - claims["iat"] == 300
        assert claims["aud"] == settings.SIMPLE_JWT["AUDIENCE"]
        assert claims["iss"] == settings.SIMPLE_JWT["ISSUER"]
        assert claims["otp"] is False
        assert "family" not in claims

    def test_issuing_a_token_is_audited(self, api, patient):
        _pair(api, patient)

        assert AuditEvent.objects.filter(action="accounts.token.issue", actor=patient, outcome="success").exists()

    def test_a_wrong_password_an_unknown_email_and_a_deactivated_account_get_the_same_answer(self, api, patient):
        deactivated = PatientFactory(is_active=False)
        wrong = _obtain(api, patient, password="not-the-password-at-all")
        unknown = api.post(TOKEN, {"email": "nobody@example.test", "password": TEST_PASSWORD}, format="json")
        inactive = _obtain(api, deactivated)

        for response in (wrong, unknown, inactive):
            _assert_refused(response, "invalid_credentials")
        assert wrong.json() == unknown.json() == inactive.json()

    def test_a_failed_sign_in_is_audited(self, api, patient):
        _obtain(api, patient, password="not-the-password-at-all")

        assert AuditEvent.objects.filter(action="accounts.login.fail", outcome="denied").exists()

    def test_a_missing_field_is_a_validation_error(self, api):
        response = api.post(TOKEN, {"email": "patient@example.test"}, format="json")

        assert response.status_code == 400
        assert "password" in response.json()["fields"]

    def test_a_doctor_without_a_code_is_told_a_code_is_required(self, api, doctor):
        totp_device_enrol(doctor)

        _assert_refused(_obtain(api, doctor), "otp_required")

    def test_a_doctor_who_never_set_up_mfa_gets_no_token_either(self, api, doctor):
        _assert_refused(_obtain(api, doctor), "otp_required")

    def test_a_doctor_with_a_current_code_gets_an_otp_verified_token(self, api, doctor):
        device = totp_device_enrol(doctor)
        with time_machine.travel(totp_step_start(), tick=False):
            pair = _pair(api, doctor, otp=totp_code(device))
            me = api.get(ME, **_bearer(pair["access"])).json()
            ping = api.get(PING, **_bearer(pair["access"]))

        assert pair["otp_verified"] is True
        assert _claims(pair["access"])["otp"] is True
        assert me["otp_verified"] is True
        assert ping.status_code == 200

    def test_a_wrong_code_is_refused(self, api, doctor):
        totp_device_enrol(doctor)

        _assert_refused(_obtain(api, doctor, otp="000000"), "otp_invalid")

    def test_a_code_is_accepted_once(self, api, doctor):
        device = totp_device_enrol(doctor)
        with time_machine.travel(totp_step_start(), tick=False):
            code = totp_code(device)
            _pair(api, doctor, otp=code)
            again = _obtain(api, doctor, otp=code)

        _assert_refused(again, "otp_invalid")

    def test_a_patient_who_set_up_mfa_must_send_a_code(self, api, patient):
        device = totp_device_enrol(patient)
        _assert_refused(_obtain(api, patient), "otp_required")
        with time_machine.travel(totp_step_start(), tick=False):
            pair = _pair(api, patient, otp=totp_code(device))

        assert pair["otp_verified"] is True

    def test_sign_in_attempts_are_throttled_per_address_whatever_x_forwarded_for_says(self, api, patient):
        for n in range(10):
            api.post(TOKEN, {"email": patient.email, "password": TEST_PASSWORD}, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
        response = api.post(TOKEN, {"email": patient.email, "password": TEST_PASSWORD}, HTTP_X_FORWARDED_FOR="10.0.9.9")

        _assert_refused(response, "throttled", status=429)

    def test_five_wrong_passwords_lock_the_account_out_even_for_the_right_one(self, api, patient):
        for _ in range(5):
            _obtain(api, patient, password="not-the-password-at-all")

        response = _obtain(api, patient)

        _assert_refused(response, "locked_out", status=429)
        assert "15 minutes" in response.json()["detail"]

    def test_the_lockout_says_how_long_to_wait_and_sets_retry_after(self, api, patient):
        for _ in range(5):
            _obtain(api, patient, password="not-the-password-at-all")

        response = _obtain(api, patient)

        assert response.status_code == 429
        assert response["Content-Type"] == "application/json"
        assert response.json() == {
            "detail": "Too many failed sign-in attempts. Try again in 15 minutes.",
            "code": "locked_out",
        }
        assert response["Retry-After"] == str(15 * 60)


class TestStaffOtpPermission:
    def test_a_doctor_signed_in_without_otp_is_refused_health_endpoints_but_sees_me(self, api, doctor):
        api.force_login(doctor)

        _assert_refused(api.get(PING), "otp_required", status=403)
        me = api.get(ME)
        assert me.status_code == 200
        assert me.json()["otp_verified"] is False

    def test_a_token_whose_device_was_removed_no_longer_counts_as_verified(self, api, nurse):
        device = totp_device_enrol(nurse)
        with time_machine.travel(totp_step_start(), tick=False):
            access = _pair(api, nurse, otp=totp_code(device))["access"]
        TOTPDevice.objects.filter(pk=device.pk).delete()

        _assert_refused(api.get(PING, **_bearer(access)), "otp_required", status=403)

    def test_a_patient_needs_no_otp(self, api, patient):
        access = _pair(api, patient)["access"]

        assert api.get(PING, **_bearer(access)).status_code == 200

    def test_anonymous_callers_are_told_to_authenticate(self, api):
        _assert_refused(api.get(ME), "not_authenticated")
        _assert_refused(api.get(PING), "not_authenticated")


class TestAccessTokenRejections:
    def test_an_expired_access_token_is_refused(self, api, patient):
        access = _pair(api, patient)["access"]
        with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5, seconds=1)):
            response = api.get(ME, **_bearer(access))

        _assert_refused(response, "token_not_valid")

    def test_an_access_token_is_accepted_until_it_expires(self, api, patient):
        access = _pair(api, patient)["access"]
        with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4, seconds=50)):
            assert api.get(ME, **_bearer(access)).status_code == 200

    def test_a_tampered_token_is_refused(self, api, patient, outsider_patient):
        access = _pair(api, patient)["access"]
        header, _payload, signature = access.split(".")
        claims = _claims(access)
        claims["user_id"] = str(outsider_patient.pk)
        forged = ".".join([header, _b64(claims), signature])

        _assert_refused(api.get(ME, **_bearer(forged)), "token_not_valid")

    def test_a_token_signed_with_another_key_is_refused(self, api, patient):
        claims = _claims(_pair(api, patient)["access"])
        other = jwt.encode(claims, "another-key-" * 8, algorithm="HS256")

        _assert_refused(api.get(ME, **_bearer(other)), "token_not_valid")

    def test_a_token_for_another_audience_is_refused(self, api, patient):
        claims = _claims(_pair(api, patient)["access"])
        claims["aud"] = "another-service"

        _assert_refused(api.get(ME, **_bearer(_sign(claims))), "token_not_valid")

    def test_a_token_without_an_audience_is_refused(self, api, patient):
        claims = _claims(_pair(api, patient)["access"])
        del claims["aud"]

        _assert_refused(api.get(ME, **_bearer(_sign(claims))), "token_not_valid")

    def test_a_token_from_another_issuer_is_refused(self, api, patient):
        claims = _claims(_pair(api, patient)["access"])
        claims["iss"] = "https://evil.example"

        _assert_refused(api.get(ME, **_bearer(_sign(claims))), "token_not_valid")

    def test_a_refresh_token_is_not_an_access_token(self, api, patient):
        refresh = _pair(api, patient)["refresh"]

        _assert_refused(api.get(ME, **_bearer(refresh)), "token_not_valid")

    def test_an_unsigned_alg_none_token_is_refused(self, api, patient):
        claims = _claims(_pair(api, patient)["access"])
        unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."

        _assert_refused(api.get(ME, **_bearer(unsigned)), "token_not_valid")

    def test_a_token_is_refused_after_a_password_change(self, api, patient):
        access = _pair(api, patient)["access"]
        patient.set_password("a-brand-new-password-for-pat")
        patient.save()

        _assert_refused(api.get(ME, **_bearer(access)), "password_changed")

    def test_a_token_of_a_deactivated_user_is_refused(self, api, patient):
        access = _pair(api, patient)["access"]
        patient.is_active = False
        patient.save()

        _assert_refused(api.get(ME, **_bearer(access)), "user_inactive")

    def test_a_malformed_authorization_header_is_refused(self, api, patient):
        _assert_refused(api.get(ME, HTTP_AUTHORIZATION="Bearer not.a.jwt"), "token_not_valid")


class TestRefresh:
    def test_a_refresh_token_rotates_into_a_new_pair_of_the_same_login(self, api, patient):
        first = _pair(api, patient)

        response = api.post(REFRESH, {"refresh": first["refresh"]}, format="json")

        assert response.status_code == 200
        second = response.json()
        assert second["refresh"] != first["refresh"]
        assert _claims(second["refresh"])["family"] == _claims(first["refresh"])["family"]
        assert api.get(ME, **_bearer(second["access"])).status_code == 200

    def test_an_otp_verified_login_stays_verified_through_rotation(self, api, doctor):
        device = totp_device_enrol(doctor)
        with time_machine.travel(totp_step_start(), tick=False):
            first = _pair(api, doctor, otp=totp_code(device))
            second = api.post(REFRESH, {"refresh": first["refresh"]}, format="json").json()
            ping = api.get(PING, **_bearer(second["access"]))

        assert ping.status_code == 200

    def test_reusing_a_rotated_refresh_token_revokes_the_whole_login(self, api, patient):
        first = _pair(api, patient)
        second = api.post(REFRESH, {"refresh": first["refresh"]}, format="json").json()

        reuse = api.post(REFRESH, {"refresh": first["refresh"]}, format="json")
        after = api.post(REFRESH, {"refresh": second["refresh"]}, format="json")

        _assert_refused(reuse, "token_not_valid")
        _assert_refused(after, "token_not_valid")
        assert AuditEvent.objects.filter(action="accounts.token.revoke", target_id=str(patient.pk)).exists()

    def test_reuse_in_one_login_leaves_the_users_other_logins_alone(self, api, patient):
        phone = _pair(api, patient)
        tablet = _pair(api, patient)
        api.post(REFRESH, {"refresh": phone["refresh"]}, format="json")
        api.post(REFRESH, {"refresh": phone["refresh"]}, format="json")

        response = api.post(REFRESH, {"refresh": tablet["refresh"]}, format="json")

        assert response.status_code == 200

    def test_an_expired_refresh_token_is_refused(self, api, patient):
        refresh = _pair(api, patient)["refresh"]
        with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=14, seconds=1)):
            response = api.post(REFRESH, {"refresh": refresh}, format="json")

        _assert_refused(response, "token_not_valid")

    def test_an_access_token_cannot_refresh(self, api, patient):
        access = _pair(api, patient)["access"]

        _assert_refused(api.post(REFRESH, {"refresh": access}, format="json"), "token_not_valid")

    def test_a_refresh_token_is_refused_after_a_password_change(self, api, patient):
        refresh = _pair(api, patient)["refresh"]
        patient.set_password("a-brand-new-password-for-pat")
        patient.save()

        _assert_refused(api.post(REFRESH, {"refresh": refresh}, format="json"), "password_changed")

    def test_a_refresh_token_of_a_deactivated_user_is_refused(self, api, patient):
        refresh = _pair(api, patient)["refresh"]
        patient.is_active = False
        patient.save()

        _assert_refused(api.post(REFRESH, {"refresh": refresh}, format="json"), "user_inactive")

    def test_a_refresh_token_for_another_audience_is_refused(self, api, patient):
        claims = _claims(_pair(api, patient)["refresh"])
        claims["aud"] = "another-service"

        _assert_refused(api.post(REFRESH, {"refresh": _sign(claims)}, format="json"), "token_not_valid")

    def test_a_refresh_token_that_was_never_issued_is_refused(self, api, patient):
        claims = _claims(_pair(api, patient)["refresh"])
        claims["jti"] = "f" * 32

        _assert_refused(api.post(REFRESH, {"refresh": _sign(claims)}, format="json"), "token_not_valid")


class TestLogout:
    def test_logout_ends_the_login_and_is_audited(self, api, patient):
        pair = _pair(api, patient)

        response = api.post(LOGOUT, {"refresh": pair["refresh"]}, format="json")

        assert response.status_code == 204
        _assert_refused(api.post(REFRESH, {"refresh": pair["refresh"]}, format="json"), "token_not_valid")
        assert AuditEvent.objects.filter(action="accounts.token.revoke", actor=patient, reason="signed out").exists()

    def test_logout_with_a_rotated_token_still_ends_the_login(self, api, patient):
        first = _pair(api, patient)
        second = api.post(REFRESH, {"refresh": first["refresh"]}, format="json").json()

        assert api.post(LOGOUT, {"refresh": first["refresh"]}, format="json").status_code == 204
        _assert_refused(api.post(REFRESH, {"refresh": second["refresh"]}, format="json"), "token_not_valid")

    def test_logout_refuses_a_token_that_is_not_ours(self, api, db):
        _assert_refused(api.post(LOGOUT, {"refresh": "not.a.jwt"}, format="json"), "token_not_valid")
        assert OutstandingToken.objects.count() == 0

    def test_logout_without_a_token_is_a_validation_error(self, api):
        assert api.post(LOGOUT, {}, format="json").status_code == 400


class TestRegisterApi:
    def test_a_new_patient_registers_and_gets_a_verification_email(
        self, api, db, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                "/api/v1/auth/register/",
                {"email": "New.Person@Example.test", "full_name": "New Person", "password": "a-long-enough-passphrase"},
                format="json",
            )

        assert response.status_code == 201
        assert "email" in response.json()["detail"]
        assert [m.to for m in mailoutbox] == [["new.person@example.test"]]
        assert "/accounts/verify/" in mailoutbox[0].body

    def test_a_taken_email_gets_the_same_answer_and_its_owner_an_email(
        self, api, patient, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            new = api.post(
                "/api/v1/auth/register/",
                {"email": "someone.new@example.test", "full_name": "Someone", "password": "a-long-enough-passphrase"},
                format="json",
            )
            taken = api.post(
                "/api/v1/auth/register/",
                {"email": "PATIENT@example.test", "full_name": "Someone", "password": "a-long-enough-passphrase"},
                format="json",
            )

        assert (taken.status_code, taken.json()) == (new.status_code, new.json())
        assert mailoutbox[-1].to == ["patient@example.test"]
        assert "tried to create" in mailoutbox[-1].body

    def test_a_weak_password_is_refused_with_the_validators_message(self, api, db, mailoutbox):
        response = api.post(
            "/api/v1/auth/register/",
            {"email": "weak@example.test", "full_name": "Weak", "password": "short"},
            format="json",
        )

        assert response.status_code == 400
        assert "password" in response.json()["fields"]
        assert mailoutbox == []


class TestSchema:
    def test_the_auth_endpoints_are_in_the_openapi_schema(self, api):
        paths = api.get("/api/schema/", {"format": "json"}).json()["paths"]

        for path in (
            TOKEN,
            REFRESH,
            LOGOUT,
            ME,
            "/api/v1/me/profile/",
            "/api/v1/auth/register/",
            "/api/v1/auth/ws-ticket/",
        ):
            assert path in paths


class TestMeProfile:
    PROFILE = "/api/v1/me/profile/"

    def test_a_patient_without_a_profile_yet_sees_its_defaults(self, api, patient):
        api.force_login(patient)

        body = api.get(self.PROFILE).json()

        assert body["mrn"] is None
        assert body["legal_name"] == "Pat Patient"
        assert body["notifications"] == {"notify_email": True, "notify_sms": False, "notify_in_app": True}

    def test_a_patient_changes_their_contact_details_and_preferences(self, api, patient):
        access = _pair(api, patient)["access"]

        response = api.patch(
            self.PROFILE,
            {"phone": "+44 20 7946 0000", "date_of_birth": "1980-02-29", "notifications": {"notify_sms": True}},
            format="json",
            **_bearer(access),
        )

        assert response.status_code == 200, response.json()
        body = api.get(self.PROFILE, **_bearer(access)).json()
        assert body["phone"] == "+44 20 7946 0000"
        assert body["date_of_birth"] == "1980-02-29"
        assert body["mrn"]
        assert body["notifications"]["notify_sms"] is True
        assert AuditEvent.objects.filter(action="accounts.patient_profile.update", actor=patient).exists()

    def test_an_invalid_value_is_refused_field_by_field(self, api, patient):
        api.force_login(patient)

        response = api.patch(self.PROFILE, {"sex": "martian"}, format="json")

        assert response.status_code == 400
        assert "sex" in response.json()["fields"]

    def test_one_patient_changes_only_their_own_profile(self, api, patient, outsider_patient):
        api.force_login(outsider_patient)

        api.patch(self.PROFILE, {"phone": "+1 555 0100", "user": patient.pk, "id": patient.pk}, format="json")

        assert not hasattr(patient, "patient_profile") or patient.patient_profile.phone != "+1 555 0100"
        outsider_patient.refresh_from_db()
        assert outsider_patient.patient_profile.phone == "+1 555 0100"

    def test_a_verified_doctor_edits_their_provider_profile(self, api, doctor):
        device = totp_device_enrol(doctor)
        with time_machine.travel(totp_step_start(), tick=False):
            access = _pair(api, doctor, otp=totp_code(device))["access"]
            response = api.patch(
                self.PROFILE,
                {"specialty": "Dermatology", "time_zone": "Europe/Paris"},
                format="json",
                **_bearer(access),
            )

        assert response.status_code == 200, response.json()
        assert response.json()["specialty"] == "Dermatology"
        assert response.json()["time_zone"] == "Europe/Paris"

    def test_a_doctor_without_otp_is_refused(self, api, doctor):
        api.force_login(doctor)

        _assert_refused(api.get(self.PROFILE), "otp_required", status=403)

    def test_an_admin_has_no_profile(self, api, admin):
        device = totp_device_enrol(admin)
        with time_machine.travel(totp_step_start(), tick=False):
            access = _pair(api, admin, otp=totp_code(device))["access"]
            response = api.get(self.PROFILE, **_bearer(access))

        _assert_refused(response, "not_found", status=404)

    def test_an_anonymous_caller_is_told_to_authenticate(self, api, db):
        _assert_refused(api.get(self.PROFILE), "not_authenticated")
        _assert_refused(api.patch(self.PROFILE, {"phone": "1"}, format="json"), "not_authenticated")


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_refreshes_of_one_token_never_both_succeed(patient):
    refresh = _pair(APIClient(), patient)["refresh"]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def refresh_once() -> None:
        barrier.wait()
        try:
            statuses.append(APIClient().post(REFRESH, {"refresh": refresh}, format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(statuses) == [200, 401]
