"""Session timeouts, the sessions page, ending one session or all of them, the keep-alive ping."""

import datetime as dt

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.mfa.models import UserSession
from accounts.mfa.testing import otp_force_login
from accounts.tests.factories import TEST_PASSWORD
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def later(**delta):
    return time_machine.travel(timezone.now() + dt.timedelta(**delta), tick=False)


def signed_in(client) -> bool:
    return SESSION_KEY in client.session


class TestIdleTimeout:
    def test_a_patient_stays_signed_in_after_29_idle_minutes(self, client, patient):
        client.force_login(patient)
        client.get("/")

        with later(minutes=29):
            response = client.get("/")

        assert response.status_code == 200
        assert "Hello, Pat Patient" in response.content.decode()

    def test_a_patient_is_signed_out_after_31_idle_minutes_with_a_message(self, client, patient):
        client.force_login(patient)
        client.get("/")

        with later(minutes=31):
            response = client.get("/accounts/sessions/")
            assert response.status_code == 302
            assert response["Location"] == f"{LOGIN}?next=/accounts/sessions/"
            page = client.get(response["Location"]).content.decode()

        assert "You were signed out after 30 minutes without activity." in page
        assert not signed_in(client)
        event = AuditEvent.objects.get(action="accounts.session.close")
        assert (event.actor, event.reason) == (patient, "idle timeout")

    def test_staff_are_signed_out_after_15_idle_minutes(self, client, nurse):
        otp_force_login(client, nurse)
        client.get("/")

        with later(minutes=14):
            assert client.get("/").status_code == 200
        with later(minutes=14 + 16):
            response = client.get("/")

        assert response["Location"] == f"{LOGIN}?next=/"
        assert not signed_in(client)

    def test_activity_moves_the_idle_clock(self, client, nurse):
        otp_force_login(client, nurse)
        client.get("/")

        with later(minutes=10):
            client.get("/")
        with later(minutes=20):
            response = client.get("/")

        assert response.status_code == 200

    def test_the_idle_limits_come_from_settings(self, client, settings, patient):
        settings.SESSION_IDLE_TIMEOUT_PATIENT_SECONDS = 60
        client.force_login(patient)
        client.get("/")

        with later(seconds=61):
            response = client.get("/")

        assert response.status_code == 302

    def test_a_post_after_the_timeout_is_refused_as_signed_out(self, client, patient):
        client.force_login(patient)
        client.get("/")

        with later(minutes=31):
            response = client.post(reverse("accounts:sessions_end_all"))

        assert response.status_code == 302
        assert response["Location"].startswith(LOGIN)
        assert not AuditEvent.objects.filter(action="accounts.session.end_all").exists()


class TestAbsoluteLimit:
    def test_twelve_hours_after_sign_in_the_session_ends_even_when_busy(self, client, patient):
        client.force_login(patient)
        client.get("/")
        for minutes in range(20, 12 * 60, 20):
            with later(minutes=minutes):
                assert client.get("/").status_code == 200, minutes

        with later(hours=12, minutes=1):
            response = client.get("/")
            page = client.get(LOGIN).content.decode()

        assert response.status_code == 302
        assert "because you had been signed in for 12 hours" in page
        assert AuditEvent.objects.get(action="accounts.session.close").reason == "absolute limit"


class TestWarningBeforeTimeout:
    def test_the_page_tells_the_script_the_idle_limit_of_the_role(self, client, patient, nurse):
        client.force_login(patient)
        html = client.get("/").content.decode()
        assert 'data-idle-seconds="1800"' in html
        assert 'data-session-ping-url="/accounts/sessions/ping/"' in html
        assert '<script src="/static/js/session-timeout.js" defer></script>' in html

        staff = Client()
        otp_force_login(staff, nurse)
        assert 'data-idle-seconds="900"' in staff.get("/").content.decode()

    def test_anonymous_pages_have_no_timeout_script(self, client):
        html = client.get("/").content.decode()

        assert "data-idle-seconds" not in html
        assert "session-timeout.js" not in html

    def test_stay_signed_in_pings_the_server_and_moves_the_idle_clock(self, client, patient):
        client.force_login(patient)
        client.get("/")

        with later(minutes=25):
            response = client.post(reverse("accounts:session_ping"))
            assert response.status_code == 200
            assert response.json() == {"idle_seconds": 1800}
        with later(minutes=50):
            assert client.get("/").status_code == 200

    def test_the_ping_of_an_ended_session_answers_401(self, client):
        response = client.post(reverse("accounts:session_ping"))

        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"

    def test_the_ping_needs_a_post(self, client, patient):
        client.force_login(patient)

        assert client.get(reverse("accounts:session_ping")).status_code == 405


class TestSessionsPage:
    def test_signing_in_lists_the_session_with_its_device_and_address(self, client, patient):
        client.post(LOGIN, {"username": patient.email, "password": TEST_PASSWORD}, HTTP_USER_AGENT="Firefox on Linux")

        html = client.get(reverse("accounts:sessions")).content.decode()

        row = UserSession.objects.get(user=patient)
        assert row.ip == "127.0.0.1"
        assert "Firefox on Linux <strong>(this device)</strong>" in html
        assert "127.0.0.1" in html
        assert AuditEvent.objects.filter(action="accounts.login.success", actor=patient).count() == 1

    def test_the_session_key_is_stored_only_as_a_hash(self, client, patient):
        client.force_login(patient)
        client.get("/")

        row = UserSession.objects.get(user=patient)
        key = client.cookies["sessionid"].value
        assert len(row.session_key_hash) == 64
        assert key not in row.session_key_hash

    def test_a_user_sees_only_their_own_sessions(self, client, patient, outsider_patient):
        other = Client()
        other.force_login(outsider_patient)
        other.get("/", HTTP_USER_AGENT="Outsider browser")
        client.force_login(patient)

        html = client.get(reverse("accounts:sessions")).content.decode()

        assert "Outsider browser" not in html

    def test_ending_another_devices_session_signs_that_device_out(self, client, patient):
        phone = Client()
        phone.force_login(patient)
        phone.get("/", HTTP_USER_AGENT="Phone")
        client.force_login(patient)
        client.get("/")
        phone_row = UserSession.objects.get(user=patient, user_agent="Phone")

        response = client.post(reverse("accounts:session_end"), {"session_id": phone_row.pk})

        assert response["Location"] == reverse("accounts:sessions")
        assert signed_in(client)
        response = phone.get("/accounts/sessions/")
        assert response["Location"].startswith(LOGIN)
        assert not signed_in(phone)
        assert AuditEvent.objects.filter(action="accounts.session.end", outcome="success").count() == 1

    def test_ending_this_devices_session_signs_out(self, client, patient):
        client.force_login(patient)
        client.get("/")
        row = UserSession.objects.get(user=patient)

        response = client.post(reverse("accounts:session_end"), {"session_id": row.pk})

        assert response["Location"] == LOGIN
        assert not signed_in(client)

    def test_sign_out_everywhere_ends_every_session_and_tells_the_sockets(
        self, client, patient, django_capture_on_commit_callbacks
    ):
        layer = get_channel_layer()
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(f"user.{patient.pk}", channel)
        laptop = Client()
        laptop.force_login(patient)
        laptop.get("/")
        client.force_login(patient)
        client.get("/")

        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("accounts:sessions_end_all"))

        assert response["Location"] == LOGIN
        assert not signed_in(client)
        assert laptop.get("/accounts/sessions/")["Location"].startswith(LOGIN)
        assert not signed_in(laptop)
        assert not UserSession.objects.filter(user=patient, ended_at__isnull=True).exists()
        assert async_to_sync(layer.receive)(channel) == {"type": "session.revoked"}
        assert AuditEvent.objects.filter(action="accounts.session.end_all", actor=patient).count() == 1

    def test_another_users_session_id_is_a_404_and_is_audited(self, client, patient, outsider_patient):
        other = Client()
        other.force_login(outsider_patient)
        other.get("/")
        row = UserSession.objects.get(user=outsider_patient)
        client.force_login(patient)

        response = client.post(reverse("accounts:session_end"), {"session_id": row.pk})

        assert response.status_code == 404
        row.refresh_from_db()
        assert row.ended_at is None
        assert other.get("/").status_code == 200 and signed_in(other)
        assert AuditEvent.objects.filter(action="accounts.session.end", outcome="denied").count() == 1

    def test_a_malformed_session_id_is_a_404(self, client, patient):
        client.force_login(patient)

        assert client.post(reverse("accounts:session_end"), {"session_id": "1 OR 1=1"}).status_code == 404

    def test_anonymous_visitors_are_sent_to_sign_in(self, client):
        for name in ("accounts:sessions", "accounts:session_end", "accounts:sessions_end_all"):
            response = client.post(reverse(name)) if name != "accounts:sessions" else client.get(reverse(name))
            assert response.status_code == 302
            assert response["Location"].startswith(LOGIN)
