"""The access policy as a decision table: every persona, every standing, every way it ends."""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.utils import timezone

from accounts.models import CareRelationship, Scope
from accounts.policy import chart_access
from accounts.selectors import access_patient_for_user, patients_list_for_provider
from accounts.tests.factories import (
    BreakGlassAccessFactory,
    CareRelationshipFactory,
    NurseFactory,
    PatientFactory,
    ProxyGrantFactory,
    VerifiedPatientFactory,
)
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(verified, doctor, nurse, admin, outsider_doctor):
    return {
        "doctor": verified(doctor),
        "nurse": verified(nurse),
        "admin": verified(admin),
        "outsider_doctor": verified(outsider_doctor),
    }


class TestDecisionTable:
    @pytest.mark.parametrize(
        ("persona", "write", "scope", "allowed", "via", "may_write"),
        [
            ("patient", False, None, True, "self", True),
            ("patient", True, None, True, "self", True),
            ("outsider_patient", False, None, False, "none", False),
            ("doctor", False, None, True, "care", True),
            ("doctor", True, None, True, "care", True),
            ("nurse", False, None, True, "care_team", False),
            ("nurse", True, None, False, "none", False),
            ("admin", False, None, False, "none", False),
            ("outsider_doctor", False, None, False, "none", False),
            ("proxy", False, Scope.RECORDS_VIEW, True, "proxy", False),
            ("proxy", True, Scope.RECORDS_VIEW, False, "none", False),
            ("proxy", True, Scope.APPOINTMENTS_MANAGE, True, "proxy", True),
            ("proxy", True, Scope.MESSAGING, True, "proxy", True),
            ("proxy", False, None, False, "none", False),
            ("anonymous", False, None, False, "none", False),
        ],
    )
    def test_each_persona_gets_the_standing_the_policy_promises(
        self, request, staff, patient, outsider_patient, proxy, persona, write, scope, allowed, via, may_write
    ):
        users = {**staff, "patient": patient, "outsider_patient": outsider_patient, "proxy": proxy}
        user = AnonymousUser() if persona == "anonymous" else users[persona]

        decision = chart_access(user, patient, write=write, scope=scope)

        assert (decision.allowed, decision.via, decision.write) == (allowed, via, may_write)
        assert decision.breakglass is False

    def test_a_proxy_acts_for_the_patient_and_says_so(self, patient, proxy):
        decision = chart_access(proxy, patient, scope=Scope.RECORDS_VIEW)

        assert decision.acting_for == patient
        assert decision.label == "Paula Proxy acting for Pat Patient (parent)"

    def test_a_proxy_without_the_needed_scope_is_refused(self, patient):
        holder = VerifiedPatientFactory()
        ProxyGrantFactory(patient=patient, proxy=holder, scopes=[Scope.MESSAGING])

        assert chart_access(holder, patient, scope=Scope.MESSAGING).allowed
        assert not chart_access(holder, patient, scope=Scope.RECORDS_VIEW).allowed

    def test_a_proxy_grant_stops_at_its_expiry(self, patient):
        holder = VerifiedPatientFactory()
        grant = ProxyGrantFactory(patient=patient, proxy=holder, scopes=[Scope.RECORDS_VIEW])

        with time_machine.travel(grant.expires_at - dt.timedelta(seconds=1)):
            assert chart_access(holder, patient, scope=Scope.RECORDS_VIEW).allowed
        with time_machine.travel(grant.expires_at):
            assert not chart_access(holder, patient, scope=Scope.RECORDS_VIEW).allowed

    def test_a_revoked_proxy_grant_opens_nothing(self, patient):
        holder = VerifiedPatientFactory()
        ProxyGrantFactory(
            patient=patient, proxy=holder, scopes=[Scope.RECORDS_VIEW], revoked_at=timezone.now(), revoked_by=patient
        )

        assert not chart_access(holder, patient, scope=Scope.RECORDS_VIEW).allowed

    def test_a_proxy_grant_for_another_patient_opens_nothing_here(self, patient, outsider_patient):
        holder = VerifiedPatientFactory()
        ProxyGrantFactory(patient=outsider_patient, proxy=holder, scopes=[Scope.RECORDS_VIEW])

        assert not chart_access(holder, patient, scope=Scope.RECORDS_VIEW).allowed

    def test_a_patient_who_has_not_verified_the_email_sees_no_health_data(self):
        unverified = PatientFactory()

        decision = chart_access(unverified, unverified)

        assert (decision.allowed, decision.reason) == (False, "email address not verified")

    def test_a_deactivated_patient_is_refused_even_their_own_chart(self, patient):
        patient.is_active = False

        assert not chart_access(patient, patient).allowed

    def test_staff_without_an_otp_verified_login_see_nothing(self, doctor, nurse, patient):
        for user in (doctor, nurse):
            decision = chart_access(user, patient)
            assert (decision.allowed, decision.reason) == (False, "staff login not OTP-verified")

    def test_staff_whose_is_verified_says_false_see_nothing(self, doctor, patient):
        doctor.is_verified = lambda: False

        assert not chart_access(doctor, patient).allowed

    def test_an_ended_care_relationship_opens_nothing(self, verified, doctor, patient):
        CareRelationship.objects.filter(provider=doctor).update(ended_at=timezone.now())

        assert not chart_access(verified(doctor), patient).allowed

    def test_an_admin_with_an_open_break_glass_row_still_sees_nothing(self, verified, admin, patient):
        BreakGlassAccessFactory(clinician=admin, patient=patient)

        assert not chart_access(verified(admin), patient).allowed

    def test_a_chart_belongs_only_to_a_patient(self, verified, doctor):
        assert not chart_access(verified(doctor), doctor).allowed


class TestBreakGlass:
    def test_an_open_break_glass_access_lets_a_clinician_in_flagged_for_sixty_minutes(
        self, verified, outsider_doctor, patient
    ):
        access = BreakGlassAccessFactory(clinician=outsider_doctor, patient=patient)
        user = verified(outsider_doctor)

        with time_machine.travel(access.opened_at + dt.timedelta(minutes=59)):
            decision = chart_access(user, patient, write=True)
            assert (decision.allowed, decision.via, decision.breakglass, decision.write) == (
                True,
                "breakglass",
                True,
                True,
            )
        with time_machine.travel(access.opened_at + dt.timedelta(minutes=60)):
            assert not chart_access(user, patient).allowed

    def test_a_nurse_under_break_glass_reads_but_does_not_write(self, verified, patient):
        nurse = verified(NurseFactory())
        BreakGlassAccessFactory(clinician=nurse, patient=patient)

        assert chart_access(nurse, patient).breakglass
        assert not chart_access(nurse, patient, write=True).allowed

    def test_care_wins_over_break_glass(self, verified, doctor, patient):
        BreakGlassAccessFactory(clinician=doctor, patient=patient)

        decision = chart_access(verified(doctor), patient)

        assert (decision.via, decision.breakglass) == ("care", False)


class TestAccessPatientForUser:
    def test_an_allowed_access_is_audited_with_its_standing(self, verified, doctor, patient):
        found, decision = access_patient_for_user(verified(doctor), patient.pk, action="records.chart.view")

        assert (found, decision.via) == (patient, "care")
        event = AuditEvent.objects.get(action="accounts.patient.access")
        assert (event.actor, event.patient, event.breakglass, event.outcome) == (doctor, patient, False, "success")
        assert event.reason == "records.chart.view via care"

    def test_a_break_glass_access_is_audited_flagged(self, verified, outsider_doctor, patient):
        BreakGlassAccessFactory(clinician=outsider_doctor, patient=patient)

        access_patient_for_user(verified(outsider_doctor), str(patient.pk), action="records.chart.view")

        assert AuditEvent.objects.get(action="accounts.patient.access").breakglass is True

    def test_a_proxy_access_is_audited_as_acting_for(self, proxy, patient):
        access_patient_for_user(proxy, patient.pk, action="records.chart.view", scope=Scope.RECORDS_VIEW)

        reason = AuditEvent.objects.get(action="accounts.patient.access").reason
        assert reason == "records.chart.view via proxy: Paula Proxy acting for Pat Patient (parent)"

    @pytest.mark.parametrize("patient_id", ["other", "not-a-number", "0", "999999"])
    def test_a_refusal_is_a_404_and_is_audited_as_denied(self, verified, outsider_doctor, patient, patient_id):
        target = patient.pk if patient_id == "other" else patient_id

        with pytest.raises(Http404):
            access_patient_for_user(verified(outsider_doctor), target, action="records.chart.view")

        event = AuditEvent.objects.get()
        assert (event.action, event.outcome, event.actor) == ("records.chart.view", "denied", outsider_doctor)

    def test_another_patient_gets_404_not_403(self, outsider_patient, patient):
        with pytest.raises(Http404):
            access_patient_for_user(outsider_patient, patient.pk, action="records.chart.view")

    def test_an_anonymous_visitor_gets_404_audited_as_anonymous(self, patient):
        with pytest.raises(Http404):
            access_patient_for_user(AnonymousUser(), patient.pk, action="records.chart.view")

        assert AuditEvent.objects.get().actor_role == "anonymous"


class TestPatientsListForProvider:
    def test_a_doctor_sees_the_patients_in_their_care_in_one_query(
        self, verified, doctor, patient, django_assert_num_queries
    ):
        for _ in range(5):
            CareRelationshipFactory(provider=doctor)
        CareRelationshipFactory()
        ended = CareRelationshipFactory(provider=doctor)
        CareRelationship.objects.filter(pk=ended.pk).update(ended_at=timezone.now())

        user = verified(doctor)

        with django_assert_num_queries(1):
            patients = list(patients_list_for_provider(user))
            names = [getattr(p, "patient_profile", None) for p in patients]

        assert len(patients) == 6
        assert patient in patients
        assert ended.patient not in patients
        assert names == [None] * 6

    def test_anyone_else_sees_no_patients(self, verified, doctor, admin, patient):
        assert list(patients_list_for_provider(doctor)) == []
        assert list(patients_list_for_provider(verified(admin))) == []
        assert list(patients_list_for_provider(patient)) == []
        assert list(patients_list_for_provider(AnonymousUser())) == []
