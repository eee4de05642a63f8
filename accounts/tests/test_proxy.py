"""Proxy access: granting, revoking, acting for someone, and the pages that do it."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts.context_processors import ACTING_FOR_SESSION_KEY
from accounts.models import ProxyGrant, Scope
from accounts.policy import chart_access
from accounts.services import proxy_grant, proxy_revoke
from accounts.tests.factories import PatientFactory, ProxyGrantFactory, VerifiedPatientFactory
from audit.models import AuditEvent
from telemed.errors import ApplicationError, ConflictError

pytestmark = pytest.mark.django_db


def _in_days(days: int) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


@pytest.fixture
def parent(db):
    return VerifiedPatientFactory(email="parent@example.test", full_name="Parker Parent")


class TestGrant:
    def test_a_patient_grants_scoped_access_that_opens_the_chart_audited(self, patient, parent):
        grant = proxy_grant(
            actor=patient,
            patient=patient,
            proxy_email="PARENT@example.test",
            scopes=[Scope.RECORDS_VIEW, Scope.MESSAGING],
            expires_at=_in_days(30),
            relationship="parent",
        )

        assert (grant.proxy, grant.granted_by, grant.scopes) == (parent, patient, ["records.view", "messaging"])
        assert chart_access(parent, patient, scope=Scope.RECORDS_VIEW).allowed
        assert not chart_access(parent, patient, scope=Scope.APPOINTMENTS_MANAGE).allowed
        event = AuditEvent.objects.get(action="accounts.proxy.grant")
        assert (event.actor, event.patient) == (patient, patient)
        assert event.reason.startswith("Parker Parent as parent: records.view, messaging until ")

    def test_an_admin_grants_for_a_minor(self, verified, admin, parent):
        child = PatientFactory(full_name="Kim Kid")

        grant = proxy_grant(
            actor=verified(admin),
            patient=child,
            proxy_email=parent.email,
            scopes=[Scope.APPOINTMENTS_MANAGE],
            expires_at=_in_days(365),
            relationship="parent",
        )

        assert grant.granted_by == admin
        assert chart_access(parent, child, write=True, scope=Scope.APPOINTMENTS_MANAGE).allowed

    def test_a_new_grant_replaces_the_unrevoked_one_for_the_same_person(self, patient, parent):
        first = ProxyGrantFactory(patient=patient, proxy=parent, scopes=[Scope.RECORDS_VIEW])

        second = proxy_grant(
            actor=patient,
            patient=patient,
            proxy_email=parent.email,
            scopes=[Scope.MESSAGING],
            expires_at=_in_days(7),
            relationship="parent",
        )

        first.refresh_from_db()
        assert first.revoked_at is not None
        assert list(ProxyGrant.objects.active()) == [second]
        assert not chart_access(parent, patient, scope=Scope.RECORDS_VIEW).allowed

    @pytest.mark.parametrize(
        ("email", "scopes", "days", "relationship", "code"),
        [
            ("nobody@example.test", ["records.view"], 5, "parent", "proxy_unknown_user"),
            ("patient@example.test", ["records.view"], 5, "parent", "proxy_self"),
            ("parent@example.test", [], 5, "parent", "proxy_invalid"),
            ("parent@example.test", ["records.delete"], 5, "parent", "proxy_invalid"),
            ("parent@example.test", ["records.view"], -1, "parent", "proxy_invalid"),
            ("parent@example.test", ["records.view"], 5, "  ", "proxy_invalid"),
        ],
    )
    def test_bad_grants_are_refused(self, patient, parent, email, scopes, days, relationship, code):
        with pytest.raises(ApplicationError) as refused:
            proxy_grant(
                actor=patient,
                patient=patient,
                proxy_email=email,
                scopes=scopes,
                expires_at=_in_days(days),
                relationship=relationship,
            )

        assert refused.value.code == code
        assert not ProxyGrant.objects.exists()

    def test_a_deactivated_user_cannot_be_made_a_proxy(self, patient):
        gone = VerifiedPatientFactory(is_active=False)

        with pytest.raises(ApplicationError):
            proxy_grant(
                actor=patient,
                patient=patient,
                proxy_email=gone.email,
                scopes=["records.view"],
                expires_at=_in_days(3),
                relationship="carer",
            )

    @pytest.mark.parametrize("persona", ["outsider_patient", "doctor", "unverified"])
    def test_nobody_else_grants_access_to_a_patient(self, request, verified, patient, parent, persona):
        actor = PatientFactory() if persona == "unverified" else verified(request.getfixturevalue(persona))
        target = actor if persona == "unverified" else patient

        with pytest.raises(ApplicationError) as refused:
            proxy_grant(
                actor=actor,
                patient=target,
                proxy_email=parent.email,
                scopes=["records.view"],
                expires_at=_in_days(3),
                relationship="parent",
            )

        assert refused.value.status_code == 403
        assert AuditEvent.objects.get().outcome == "denied"

    def test_a_deactivated_proxy_loses_access(self, patient, proxy):
        proxy.is_active = False
        proxy.save()

        assert not chart_access(proxy, patient, scope=Scope.RECORDS_VIEW).allowed


class TestRevoke:
    def test_the_patient_revokes_and_access_stops_at_once_audited(self, patient, proxy):
        grant = ProxyGrant.objects.get(proxy=proxy)

        proxy_revoke(actor=patient, grant=grant)

        assert not chart_access(proxy, patient, scope=Scope.RECORDS_VIEW).allowed
        event = AuditEvent.objects.get(action="accounts.proxy.revoke")
        assert event.reason == "Paula Proxy no longer acts for Pat Patient"

    def test_an_admin_may_revoke(self, verified, admin, patient, proxy):
        proxy_revoke(actor=verified(admin), grant=ProxyGrant.objects.get(proxy=proxy))

        assert ProxyGrant.objects.get(proxy=proxy).revoked_by == admin

    def test_the_proxy_or_a_stranger_cannot_revoke(self, patient, proxy, outsider_patient):
        grant = ProxyGrant.objects.get(proxy=proxy)
        for actor in (proxy, outsider_patient):
            with pytest.raises(ApplicationError):
                proxy_revoke(actor=actor, grant=grant)

        assert chart_access(proxy, patient, scope=Scope.RECORDS_VIEW).allowed

    def test_revoking_twice_is_a_conflict(self, patient, proxy):
        grant = ProxyGrant.objects.get(proxy=proxy)
        proxy_revoke(actor=patient, grant=grant)

        with pytest.raises(ConflictError):
            proxy_revoke(actor=patient, grant=grant)


class TestPages:
    def test_a_patient_grants_access_on_the_proxies_page(self, client, patient, parent):
        client.force_login(patient)
        expires = (timezone.localdate() + dt.timedelta(days=10)).isoformat()

        response = client.post(
            "/accounts/proxies/",
            {"proxy_email": parent.email, "relationship": "parent", "scopes": ["records.view"], "expires_on": expires},
            follow=True,
        )

        assert "Parker Parent can now act for Pat Patient." in response.content.decode()
        assert "Parker Parent (parent)" in response.content.decode()
        assert ProxyGrant.objects.active().filter(patient=patient, proxy=parent).exists()

    def test_a_grant_form_with_errors_says_which_fields_and_links_them(self, client, patient):
        client.force_login(patient)

        response = client.post("/accounts/proxies/", {"proxy_email": "nope", "relationship": "", "expires_on": ""})

        html = response.content.decode()
        assert response.status_code == 400
        assert 'aria-describedby="id_proxy_email-error"' in html
        assert 'id="id_proxy_email-error"' in html
        assert 'id="scopes-error"' in html

    def test_an_unknown_proxy_email_is_a_form_error(self, client, patient):
        client.force_login(patient)
        expires = (timezone.localdate() + dt.timedelta(days=10)).isoformat()

        response = client.post(
            "/accounts/proxies/",
            {
                "proxy_email": "x@example.test",
                "relationship": "parent",
                "scopes": ["records.view"],
                "expires_on": expires,
            },
        )

        assert response.status_code == 400
        assert "no active account with that email address" in response.content.decode()

    def test_the_patient_revokes_from_the_page(self, client, patient, proxy):
        grant = ProxyGrant.objects.get(proxy=proxy)
        client.force_login(patient)

        response = client.post(f"/accounts/proxies/{grant.pk}/revoke/", follow=True)

        assert "Paula Proxy can no longer act for Pat Patient." in response.content.decode()
        assert not ProxyGrant.objects.active().exists()

    def test_another_patient_cannot_revoke_someone_elses_grant(self, client, outsider_patient, proxy):
        grant = ProxyGrant.objects.get(proxy=proxy)
        client.force_login(outsider_patient)

        assert client.post(f"/accounts/proxies/{grant.pk}/revoke/").status_code == 404
        assert ProxyGrant.objects.active().exists()

    def test_the_proxy_switches_to_acting_for_the_patient_and_back(self, client, patient, proxy):
        client.force_login(proxy)

        response = client.post("/accounts/proxies/switch/", {"patient_id": patient.pk}, follow=True)

        assert client.session[ACTING_FOR_SESSION_KEY] == patient.pk
        assert "You are acting for <strong>Pat Patient</strong>." in response.content.decode()
        event = AuditEvent.objects.get(action="accounts.proxy.switch")
        assert event.reason == "Paula Proxy acting for Pat Patient (parent)"

        response = client.post("/accounts/proxies/switch/", {"patient_id": "me"}, follow=True)

        assert ACTING_FOR_SESSION_KEY not in client.session
        assert "You are acting for <strong>" not in response.content.decode()

    def test_switching_to_someone_without_a_grant_is_a_404(self, client, outsider_patient, patient):
        client.force_login(outsider_patient)

        assert client.post("/accounts/proxies/switch/", {"patient_id": patient.pk}).status_code == 404
        assert ACTING_FOR_SESSION_KEY not in client.session

    def test_the_banner_disappears_when_the_grant_is_revoked(self, client, patient, proxy):
        client.force_login(proxy)
        client.post("/accounts/proxies/switch/", {"patient_id": patient.pk})
        ProxyGrant.objects.filter(proxy=proxy).update(revoked_at=timezone.now(), revoked_by=patient)

        response = client.get("/accounts/proxies/")

        assert "You are acting for <strong>" not in response.content.decode()

    def test_the_switch_never_redirects_off_site(self, client, patient, proxy):
        client.force_login(proxy)

        response = client.post("/accounts/proxies/switch/", {"patient_id": "me", "next": "https://evil.example/"})

        assert response["Location"] == "/accounts/proxies/"
