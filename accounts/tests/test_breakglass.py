"""Break-glass: a clinician's emergency access, its 60 minutes, the admins' email and review."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from accounts.models import BreakGlassAccess
from accounts.policy import chart_access
from accounts.selectors import breakglass_review_queue
from accounts.services import breakglass_open, breakglass_review
from accounts.tests.factories import AdminFactory, BreakGlassAccessFactory
from audit.models import AuditEvent
from telemed.errors import ApplicationError, ConflictError

pytestmark = pytest.mark.django_db

REASON = "Unconscious on arrival, no relatives reachable"


@pytest.fixture
def clinician(verified, outsider_doctor):
    return verified(outsider_doctor)


class TestOpen:
    def test_a_clinician_opens_a_chart_for_sixty_minutes_audited_and_flagged(self, clinician, patient):
        access = breakglass_open(actor=clinician, patient=patient, reason=f"  {REASON}  ")

        assert access.expires_at - access.opened_at == dt.timedelta(minutes=60)
        assert access.reason == REASON
        event = AuditEvent.objects.get(action="accounts.breakglass.open")
        assert (event.actor, event.patient, event.breakglass, event.reason) == (clinician, patient, True, REASON)
        assert chart_access(clinician, patient).breakglass

    def test_access_ends_after_sixty_minutes(self, clinician, patient):
        with time_machine.travel(dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC), tick=False):
            breakglass_open(actor=clinician, patient=patient, reason=REASON)
        with time_machine.travel(dt.datetime(2026, 3, 1, 8, 59, 59, tzinfo=dt.UTC), tick=False):
            assert chart_access(clinician, patient).allowed
        with time_machine.travel(dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC), tick=False):
            assert not chart_access(clinician, patient).allowed

    def test_every_active_admin_is_emailed_after_commit(
        self, clinician, patient, admin, mailoutbox, django_capture_on_commit_callbacks
    ):
        AdminFactory(email="second.admin@example.test")
        AdminFactory(email="gone.admin@example.test", is_active=False)

        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            breakglass_open(actor=clinician, patient=patient, reason=REASON)
        assert mailoutbox == []
        for callback in callbacks:
            callback()

        assert len(mailoutbox) == 1
        mail = mailoutbox[0]
        assert sorted(mail.to) == ["admin@example.test", "second.admin@example.test"]
        assert "Break-glass access" in mail.subject
        assert REASON in mail.body
        assert "/accounts/staff/emergency-access/" in mail.body

    def test_a_second_open_while_open_returns_the_same_access_and_mails_nobody_again(
        self, clinician, patient, admin, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            first = breakglass_open(actor=clinician, patient=patient, reason=REASON)
            second = breakglass_open(actor=clinician, patient=patient, reason=REASON)

        assert first == second
        assert len(mailoutbox) == 1

    @pytest.mark.parametrize("reason", ["", "   ", "too short"])
    def test_a_reason_of_at_least_ten_characters_is_required(self, clinician, patient, reason):
        with pytest.raises(ApplicationError) as refused:
            breakglass_open(actor=clinician, patient=patient, reason=reason)

        assert refused.value.code == "breakglass_reason_too_short"
        assert not BreakGlassAccess.objects.exists()

    @pytest.mark.parametrize("persona", ["admin", "patient", "outsider_patient"])
    def test_only_clinicians_may_break_the_glass(self, request, verified, patient, persona):
        actor = verified(request.getfixturevalue(persona))

        with pytest.raises(ApplicationError) as refused:
            breakglass_open(actor=actor, patient=patient, reason=REASON)

        assert refused.value.status_code == 403
        assert not BreakGlassAccess.objects.exists()
        assert AuditEvent.objects.get().outcome == "denied"

    def test_a_clinician_without_an_otp_verified_login_may_not(self, outsider_doctor, patient):
        with pytest.raises(ApplicationError):
            breakglass_open(actor=outsider_doctor, patient=patient, reason=REASON)

        assert not BreakGlassAccess.objects.exists()

    def test_the_glass_opens_only_on_a_patient(self, clinician, verified, doctor):
        with pytest.raises(ApplicationError) as refused:
            breakglass_open(actor=clinician, patient=doctor, reason=REASON)

        assert refused.value.code == "access_not_a_patient"


class TestReview:
    def test_the_queue_lists_unreviewed_accesses_oldest_first(self, patient):
        now = timezone.now()
        newer = BreakGlassAccessFactory(patient=patient, opened_at=now - dt.timedelta(minutes=5))
        older = BreakGlassAccessFactory(patient=patient, opened_at=now - dt.timedelta(hours=3))
        BreakGlassAccessFactory(patient=patient, reviewed_at=now, reviewed_by=AdminFactory(), review_note="fine")

        assert list(breakglass_review_queue()) == [older, newer]

    def test_an_admin_marks_an_access_reviewed_with_a_note_audited(self, verified, admin, patient):
        access = BreakGlassAccessFactory(patient=patient)

        breakglass_review(actor=verified(admin), access=access, note="Confirmed with the ED: justified.")

        access.refresh_from_db()
        assert (access.reviewed_by, access.review_note) == (admin, "Confirmed with the ED: justified.")
        assert list(breakglass_review_queue()) == []
        event = AuditEvent.objects.get(action="accounts.breakglass.review")
        assert (event.actor, event.patient) == (admin, patient)

    def test_a_review_needs_a_note(self, verified, admin):
        access = BreakGlassAccessFactory()

        with pytest.raises(ApplicationError) as refused:
            breakglass_review(actor=verified(admin), access=access, note="  ")

        assert refused.value.code == "breakglass_note_required"

    def test_an_access_is_reviewed_once(self, verified, admin):
        access = BreakGlassAccessFactory()
        breakglass_review(actor=verified(admin), access=access, note="Justified.")

        with pytest.raises(ConflictError):
            breakglass_review(actor=verified(admin), access=access, note="Again.")

    def test_a_clinician_cannot_review_their_own_break_glass(self, verified, outsider_doctor):
        access = BreakGlassAccessFactory(clinician=outsider_doctor)

        with pytest.raises(ApplicationError) as refused:
            breakglass_review(actor=verified(outsider_doctor), access=access, note="All good, trust me.")

        assert refused.value.status_code == 403
        access.refresh_from_db()
        assert access.reviewed_at is None
