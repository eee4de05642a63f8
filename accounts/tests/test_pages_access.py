"""The pages of profiles, proxies, care teams and break-glass: who gets in, who meets a 404."""

import datetime as dt

import pytest
import time_machine
from playwright.sync_api import expect as pw_expect

from accounts.models import BreakGlassAccess, CareRelationship
from accounts.tests.factories import (
    BreakGlassAccessFactory,
    CareRelationshipFactory,
    NurseFactory,
    ProviderProfileFactory,
)
from audit.models import AuditEvent
from telemed.testing.browser import assert_accessible, login

REASON = "Collapsed in the waiting room, chart needed"


def _login(client, otp_client, user):
    if user.is_staff_role:
        return otp_client(user)
    client.force_login(user)
    return client


@pytest.mark.django_db
class TestAnonymous:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("get", "/accounts/profile/"),
            ("get", "/accounts/proxies/"),
            ("post", "/accounts/proxies/switch/"),
            ("post", "/accounts/proxies/1/revoke/"),
            ("get", "/accounts/emergency-access/"),
            ("get", "/accounts/emergency-access/1/"),
            ("get", "/accounts/staff/emergency-access/"),
            ("post", "/accounts/staff/emergency-access/1/review/"),
            ("get", "/accounts/staff/care-teams/"),
            ("post", "/accounts/staff/care-teams/1/end/"),
        ],
    )
    def test_an_anonymous_visitor_is_sent_to_sign_in(self, client, method, path):
        response = getattr(client, method)(path)

        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.django_db
class TestClinicianPages:
    @pytest.mark.parametrize("persona", ["patient", "admin", "proxy"])
    def test_only_clinicians_reach_the_emergency_access_form(self, request, client, otp_client, persona):
        user = _login(client, otp_client, request.getfixturevalue(persona))

        assert user.get("/accounts/emergency-access/").status_code == 404
        assert AuditEvent.objects.filter(action="accounts.page.open", outcome="denied").exists()

    def test_a_doctor_without_a_verified_login_is_sent_to_the_mfa_step_first(self, client, outsider_doctor):
        client.force_login(outsider_doctor)

        response = client.get("/accounts/emergency-access/")

        assert response.status_code == 302
        assert "/accounts/mfa/" in response["Location"]

    def test_a_clinician_opens_emergency_access_and_sees_until_when(self, otp_client, outsider_doctor, patient):
        ProviderProfileFactory(user=outsider_doctor, time_zone="Europe/Zurich")
        client = otp_client(outsider_doctor)

        with time_machine.travel(dt.datetime(2026, 6, 1, 8, 30, tzinfo=dt.UTC)):
            form = client.get("/accounts/emergency-access/")
            response = client.post(
                "/accounts/emergency-access/", {"patient": patient.email, "reason": REASON}, follow=True
            )

        assert form.status_code == 200
        html = response.content.decode()
        # 09:30 UTC in Zurich (summer time) is 11:30.
        assert "You have emergency access to the chart of <strong>Pat Patient</strong> until <strong>11:30" in html
        assert BreakGlassAccess.objects.get().clinician == outsider_doctor

    def test_a_short_reason_is_a_form_error_linked_to_its_field(self, otp_client, outsider_doctor, patient):
        client = otp_client(outsider_doctor)

        response = client.post("/accounts/emergency-access/", {"patient": patient.email, "reason": "hurry"})

        html = response.content.decode()
        assert response.status_code == 400
        assert 'aria-describedby="id_reason-error"' in html
        assert not BreakGlassAccess.objects.exists()

    def test_an_unknown_patient_is_a_form_error(self, otp_client, outsider_doctor):
        client = otp_client(outsider_doctor)

        response = client.post("/accounts/emergency-access/", {"patient": "TM-ZZZZZZZZ", "reason": REASON})

        assert response.status_code == 400
        assert "No active patient has that email or medical record number." in response.content.decode()

    def test_another_clinicians_emergency_access_page_is_a_404(self, otp_client, doctor, outsider_doctor, patient):
        access = BreakGlassAccessFactory(clinician=outsider_doctor, patient=patient)
        client = otp_client(doctor)

        assert client.get(f"/accounts/emergency-access/{access.pk}/").status_code == 404


@pytest.mark.django_db
class TestAdminPages:
    @pytest.mark.parametrize("persona", ["patient", "doctor", "nurse", "outsider_doctor", "proxy"])
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("get", "/accounts/staff/emergency-access/"),
            ("post", "/accounts/staff/emergency-access/{access}/review/"),
            ("get", "/accounts/staff/care-teams/"),
            ("post", "/accounts/staff/care-teams/{care}/end/"),
        ],
    )
    def test_nobody_but_an_admin_reaches_the_admin_pages(
        self, request, client, otp_client, patient, persona, method, path
    ):
        access = BreakGlassAccessFactory(patient=patient)
        care = CareRelationshipFactory(patient=patient)
        user = _login(client, otp_client, request.getfixturevalue(persona))

        response = getattr(user, method)(path.format(access=access.pk, care=care.pk), {"review-1-note": "x"})

        assert response.status_code == 404
        access.refresh_from_db()
        care.refresh_from_db()
        assert (access.reviewed_at, care.ended_at) == (None, None)

    def test_an_admin_assigns_a_nurse_to_a_patient_and_ends_it(self, otp_client, admin, patient, outsider_patient):
        nurse = NurseFactory(email="new.nurse@example.test")
        client = otp_client(admin)

        response = client.post(
            "/accounts/staff/care-teams/", {"patient": outsider_patient.email, "provider": nurse.email}, follow=True
        )

        assert "is on the care team of Otto Outsider" in response.content.decode()
        relationship = CareRelationship.objects.get(provider=nurse, ended_at__isnull=True)
        assert relationship.kind == "assignment"

        client.post(f"/accounts/staff/care-teams/{relationship.pk}/end/")

        relationship.refresh_from_db()
        assert relationship.ended_at is not None

    def test_assigning_a_patient_as_provider_is_a_form_error(self, otp_client, admin, patient, outsider_patient):
        client = otp_client(admin)

        response = client.post(
            "/accounts/staff/care-teams/", {"patient": patient.email, "provider": outsider_patient.email}
        )

        assert response.status_code == 400
        assert 'aria-describedby="id_provider-error"' in response.content.decode()

    def test_an_admin_reviews_the_queue(self, otp_client, admin, outsider_doctor, patient):
        access = BreakGlassAccessFactory(clinician=outsider_doctor, patient=patient, reason=REASON)
        client = otp_client(admin)

        queue = client.get("/accounts/staff/emergency-access/").content.decode()
        response = client.post(
            f"/accounts/staff/emergency-access/{access.pk}/review/",
            {f"review-{access.pk}-note": "Checked with the ward: justified."},
            follow=True,
        )

        assert REASON in queue
        assert "Marked as reviewed." in response.content.decode()
        assert "Nothing to review." in response.content.decode()
        access.refresh_from_db()
        assert access.review_note == "Checked with the ward: justified."

    def test_an_admin_without_a_verified_login_is_sent_to_the_mfa_step(self, client, admin):
        client.force_login(admin)

        response = client.get("/accounts/staff/care-teams/")

        assert response.status_code == 302
        assert "/accounts/mfa/" in response["Location"]


@pytest.mark.django_db
class TestProfileAndProxyPages:
    @pytest.mark.parametrize("persona", ["patient", "outsider_patient", "proxy", "doctor", "nurse", "admin"])
    def test_every_signed_in_persona_sees_their_own_profile_and_proxy_pages(self, request, client, otp_client, persona):
        user = request.getfixturevalue(persona)
        signed_in = _login(client, otp_client, user)

        assert signed_in.get("/accounts/profile/").status_code == 200
        assert signed_in.get("/accounts/proxies/").status_code == 200

    def test_the_proxy_page_shows_no_one_elses_grants(self, client, outsider_patient, proxy):
        client.force_login(outsider_patient)

        html = client.get("/accounts/proxies/").content.decode()

        assert "Paula Proxy" not in html
        assert "Nobody can act for you." in html

    def test_switch_only_accepts_post(self, client, proxy):
        client.force_login(proxy)

        assert client.get("/accounts/proxies/switch/").status_code == 405


@pytest.mark.browser
class TestInChromium:
    """The same pages in real Chromium: accessible (axe-core), no CSP violation, no JavaScript."""

    def test_a_patient_edits_settings_and_opens_proxy_access(self, page, live_asgi, patient):
        login(page, live_asgi, patient)

        page.goto(f"{live_asgi.url}/accounts/profile/")
        assert_accessible(page)
        page.get_by_label("Phone", exact=True).fill("+41 79 111 22 33")
        page.get_by_label("Text message (SMS)").check()
        with page.expect_navigation():
            page.get_by_role("button", name="Save settings").click()
        pw_expect(page.get_by_role("status")).to_contain_text("Your settings are saved.")
        pw_expect(page.get_by_label("Phone", exact=True)).to_have_value("+41 79 111 22 33")

        page.goto(f"{live_asgi.url}/accounts/proxies/")
        with page.expect_navigation():
            page.get_by_role("button", name="Give access").click()
        pw_expect(page.get_by_label("Their email address")).to_have_attribute("aria-invalid", "true")
        assert_accessible(page)

    def test_a_clinician_opens_emergency_access_and_an_admin_reviews_it(
        self, page, make_page, live_asgi, outsider_doctor, patient, admin
    ):
        login(page, live_asgi, outsider_doctor)
        page.goto(f"{live_asgi.url}/accounts/emergency-access/")
        assert_accessible(page)
        page.get_by_label("Patient (email or medical record number)").fill(patient.email)
        page.get_by_label("Reason for emergency access").fill(REASON)
        with page.expect_navigation():
            page.get_by_role("button", name="Open emergency access").click()
        pw_expect(page.get_by_role("status")).to_contain_text(
            "You have emergency access to the chart of Pat Patient until"
        )
        assert_accessible(page)

        admin_page = make_page()
        login(admin_page, live_asgi, admin)
        admin_page.goto(f"{live_asgi.url}/accounts/staff/emergency-access/")
        pw_expect(admin_page.get_by_role("heading", level=2)).to_contain_text("opened the chart of Pat Patient")
        assert_accessible(admin_page)
        admin_page.get_by_label("Review note").fill("Justified: confirmed with the ward.")
        with admin_page.expect_navigation():
            admin_page.get_by_role("button", name="Mark reviewed").click()
        pw_expect(admin_page.get_by_text("Nothing to review.")).to_be_visible()

        admin_page.goto(f"{live_asgi.url}/accounts/staff/care-teams/")
        assert_accessible(admin_page)
