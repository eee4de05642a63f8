"""The appointment lifecycle: confirm, check in, start, complete, no-show, cancel, reschedule."""

import base64

import icalendar
import pytest

from accounts.tests.factories import DoctorFactory, VerifiedPatientFactory
from appointments.models import Appointment, ClinicSettings
from appointments.selectors import slots_between
from appointments.services import appointment_cancel, appointment_reschedule, appointment_transition
from appointments.tests.conftest import book, paris
from audit.models import AuditEvent
from messaging.models import Notification, NotificationStatus
from telemed.errors import ApplicationError

pytestmark = pytest.mark.django_db

Status = Appointment.Status


@pytest.fixture
def booked(frozen_monday, schedule, video_type, patient):
    """The patient's confirmed video visit on Wednesday 25 November at 10:00 Paris."""
    return book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))


def refused(call, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call(**kwargs)
    return caught.value


def free_starts(provider, kind, day):
    found = slots_between(provider_ids=[provider.pk], appointment_type=kind, start=paris(day, 0), end=paris(day + 1, 0))
    return [slot.starts_at for slot in found]


def statuses(prefix):
    rows = Notification.objects.filter(idempotency_key__startswith=prefix)
    return {row.idempotency_key: row.status for row in rows}


def actions_on(appointment):
    return list(
        AuditEvent.objects.filter(target_type="appointments.appointment", target_id=str(appointment.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )


def ics_of(key):
    [attachment] = Notification.objects.get(idempotency_key=key).attachments
    return icalendar.Calendar.from_ical(base64.b64decode(attachment["content"]))


# --- Staff steps ------------------------------------------------------------------------------


def test_staff_confirm_a_requested_appointment_and_the_reminders_follow(
    frozen_monday, schedule, video_type, patient, nurse, verified
):
    ClinicSettings.objects.create(pk=1, require_confirmation=True)
    requested = book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
    assert not Notification.objects.filter(kind="appointment.reminder").exists()
    confirmed = appointment_transition(actor=verified(nurse), appointment=requested, verb="confirm")
    assert confirmed.status == Status.CONFIRMED
    assert Notification.objects.get(idempotency_key=f"appointment:{requested.pk}:v1:confirmed:email")
    assert Notification.objects.filter(kind="appointment.reminder", recipient=patient).count() == 6


def test_the_patient_cannot_confirm_their_own_request(frozen_monday, schedule, video_type, patient):
    ClinicSettings.objects.create(pk=1, require_confirmation=True)
    requested = book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
    error = refused(appointment_transition, actor=patient, appointment=requested, verb="confirm")
    assert (error.status_code, error.code) == (403, "appointments_forbidden")
    requested.refresh_from_db()
    assert requested.status == Status.REQUESTED


def test_a_visit_goes_from_check_in_to_completed(booked, schedule, nurse, verified):
    steps = [("check_in", verified(nurse)), ("start", verified(schedule)), ("complete", verified(schedule))]
    seen = []
    for verb, actor in steps:
        seen.append(appointment_transition(actor=actor, appointment=booked, verb=verb).status)
    assert seen == [Status.CHECKED_IN, Status.IN_PROGRESS, Status.COMPLETED]
    booked.refresh_from_db()
    assert booked.status == Status.COMPLETED


@pytest.mark.parametrize("verb", ["start", "complete"])
def test_only_the_appointments_own_doctor_starts_and_completes_it(booked, schedule, nurse, verified, verb):
    if verb == "complete":
        appointment_transition(actor=verified(schedule), appointment=booked, verb="start")
    for stranger in (verified(nurse), verified(DoctorFactory())):
        error = refused(appointment_transition, actor=stranger, appointment=booked, verb=verb)
        assert (error.status_code, error.code) == (403, "appointments_forbidden")
    denied = AuditEvent.objects.filter(action=f"appointments.appointment.{verb}", outcome="denied")
    assert denied.count() == 2


def test_the_patient_cannot_check_themself_in(booked, patient):
    error = refused(appointment_transition, actor=patient, appointment=booked, verb="check_in")
    assert error.code == "appointments_forbidden"


@pytest.mark.parametrize(
    ("done", "verb"),
    [
        ([], "complete"),  # never started
        ([], "confirm"),  # already confirmed
        (["check_in"], "check_in"),  # twice
        (["start", "complete"], "start"),  # already over
        (["start"], "check_in"),  # too late
    ],
)
def test_a_step_out_of_order_is_refused_as_an_invalid_transition(booked, schedule, verified, done, verb):
    doctor = verified(schedule)
    for step in done:
        appointment_transition(actor=doctor, appointment=booked, verb=step)
    before = Appointment.objects.get(pk=booked.pk).status
    error = refused(appointment_transition, actor=doctor, appointment=booked, verb=verb)
    assert (error.status_code, error.code) == (409, "invalid_transition")
    assert Appointment.objects.get(pk=booked.pk).status == before


def test_a_no_show_can_be_marked_only_after_the_start(booked, frozen_monday, nurse, verified):
    error = refused(appointment_transition, actor=verified(nurse), appointment=booked, verb="no_show")
    assert error.code == "too_early"
    frozen_monday.move_to(paris(25, 10, 15))
    marked = appointment_transition(actor=verified(nurse), appointment=booked, verb="no_show")
    assert marked.status == Status.NO_SHOW


def test_completing_a_visit_cancels_the_reminders_not_yet_sent(booked, frozen_monday, schedule, verified):
    frozen_monday.move_to(paris(25, 9, 55))  # the day-before reminder is due; the hour-before too
    appointment_transition(actor=verified(schedule), appointment=booked, verb="start")
    appointment_transition(actor=verified(schedule), appointment=booked, verb="complete")
    reminders = statuses(f"appointment:{booked.pk}:v1:reminder:")
    assert set(reminders.values()) == {NotificationStatus.CANCELLED}


# --- Cancel -----------------------------------------------------------------------------------


def test_the_patient_cancels_before_the_window_and_the_slot_is_free_again(booked, schedule, video_type, patient):
    cancelled = appointment_cancel(actor=patient, appointment=booked, reason="Feeling better")
    assert cancelled.status == Status.CANCELLED
    assert (cancelled.cancelled_by, cancelled.cancellation_reason) == (patient, "Feeling better")
    assert cancelled.cancelled_at is not None
    assert paris(25, 10) in free_starts(schedule, video_type, 25)


def test_the_patient_cannot_cancel_online_inside_the_cancellation_window(booked, frozen_monday, patient):
    frozen_monday.move_to(paris(24, 10, 1))  # 23 h 59 min before the start
    error = refused(appointment_cancel, actor=patient, appointment=booked)
    assert (error.status_code, error.code) == (409, "cancellation_window_passed")
    booked.refresh_from_db()
    assert booked.status == Status.CONFIRMED


def test_the_patient_cancels_just_before_the_window_closes(booked, frozen_monday, patient):
    frozen_monday.move_to(paris(24, 9, 59))
    assert appointment_cancel(actor=patient, appointment=booked).status == Status.CANCELLED


def test_staff_cancel_at_any_time_before_the_visit(booked, frozen_monday, nurse, verified):
    frozen_monday.move_to(paris(25, 9, 50))
    assert appointment_cancel(actor=verified(nurse), appointment=booked).status == Status.CANCELLED


def test_a_proxy_cancels_for_the_patient_but_a_stranger_cannot(booked, proxy, outsider_patient):
    error = refused(appointment_cancel, actor=outsider_patient, appointment=booked)
    assert (error.status_code, error.code) == (403, "appointments_forbidden")
    assert appointment_cancel(actor=proxy, appointment=booked).status == Status.CANCELLED


def test_a_cancelled_appointment_cannot_be_cancelled_again(booked, patient):
    appointment_cancel(actor=patient, appointment=booked)
    error = refused(appointment_cancel, actor=patient, appointment=booked)
    assert (error.status_code, error.code) == (409, "invalid_transition")


def test_cancelling_stops_the_reminders_and_sends_a_calendar_cancellation(booked, patient, schedule):
    appointment_cancel(actor=patient, appointment=booked)
    reminders = statuses(f"appointment:{booked.pk}:v1:reminder:")
    assert len(reminders) == 6
    assert set(reminders.values()) == {NotificationStatus.CANCELLED}
    cancelled_notice = Notification.objects.get(idempotency_key=f"appointment:{booked.pk}:v1:cancelled:email")
    assert (cancelled_notice.recipient, cancelled_notice.status) == (patient, NotificationStatus.PENDING)
    calendar = ics_of(f"appointment:{booked.pk}:v1:cancelled:email")
    [event] = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "CANCEL"
    assert event["STATUS"] == "CANCELLED"
    # The same event the confirmation put in the patient's calendar, at a higher sequence.
    [original] = ics_of(f"appointment:{booked.pk}:v1:confirmed:email").walk("VEVENT")
    assert event["UID"] == original["UID"]
    assert int(event["SEQUENCE"]) > int(original["SEQUENCE"])
    provider_notice = Notification.objects.get(idempotency_key=f"appointment:{booked.pk}:v1:provider_cancelled:email")
    assert provider_notice.recipient == schedule


# --- Reschedule -------------------------------------------------------------------------------


def test_rescheduling_moves_the_visit_and_frees_the_old_time(booked, patient, schedule, video_type):
    moved = appointment_reschedule(actor=patient, appointment=booked, starts_at=paris(26, 11))
    moved.refresh_from_db()
    assert (moved.starts_at, moved.ends_at, moved.blocked_until) == (
        paris(26, 11),
        paris(26, 11, 20),
        paris(26, 11, 30),
    )
    assert moved.schedule_version == 2
    assert paris(25, 10) in free_starts(schedule, video_type, 25)
    assert paris(26, 11) not in free_starts(schedule, video_type, 26)


def test_rescheduling_replaces_the_reminders_with_ones_for_the_new_time(booked, patient):
    appointment_reschedule(actor=patient, appointment=booked, starts_at=paris(26, 11))
    old = statuses(f"appointment:{booked.pk}:v1:reminder:")
    new = Notification.objects.filter(idempotency_key__startswith=f"appointment:{booked.pk}:v2:reminder:")
    assert set(old.values()) == {NotificationStatus.CANCELLED}
    assert {row.status for row in new} == {NotificationStatus.PENDING}
    assert {row.due_at for row in new} == {paris(25, 11), paris(26, 10)}
    [event] = ics_of(f"appointment:{booked.pk}:v2:rescheduled:email").walk("VEVENT")
    assert event.decoded("DTSTART") == paris(26, 11)
    assert int(event["SEQUENCE"]) == 2


def test_a_reschedule_to_a_taken_or_unoffered_time_changes_nothing(
    booked, patient, schedule, video_type, frozen_monday
):
    book(patient=VerifiedPatientFactory(), provider=schedule, appointment_type=video_type, starts_at=paris(26, 11))
    taken = refused(appointment_reschedule, actor=patient, appointment=booked, starts_at=paris(26, 11))
    assert (taken.status_code, taken.code) == (409, "slot_taken")
    off_grid = refused(appointment_reschedule, actor=patient, appointment=booked, starts_at=paris(26, 11, 10))
    assert (off_grid.status_code, off_grid.code) == (400, "slot_unavailable")
    booked.refresh_from_db()
    assert (booked.starts_at, booked.schedule_version) == (paris(25, 10), 1)


def test_the_patient_cannot_reschedule_inside_the_window_but_staff_can(booked, frozen_monday, patient, nurse, verified):
    frozen_monday.move_to(paris(24, 12))
    error = refused(appointment_reschedule, actor=patient, appointment=booked, starts_at=paris(26, 11))
    assert error.code == "cancellation_window_passed"
    moved = appointment_reschedule(actor=verified(nurse), appointment=booked, starts_at=paris(26, 11))
    assert moved.starts_at == paris(26, 11)


def test_a_reschedule_within_the_patients_own_buffer_is_allowed(booked, patient):
    # 10:30 starts where the 10:00 visit's buffer ends: the visit does not collide with itself.
    moved = appointment_reschedule(actor=patient, appointment=booked, starts_at=paris(25, 10, 30))
    assert moved.starts_at == paris(25, 10, 30)


# --- Audit ------------------------------------------------------------------------------------


def test_every_change_to_an_appointment_is_audited_in_order(booked, patient, schedule, nurse, verified):
    appointment_reschedule(actor=patient, appointment=booked, starts_at=paris(26, 11))
    appointment_transition(actor=verified(nurse), appointment=booked, verb="check_in")
    appointment_cancel(actor=verified(nurse), appointment=booked)
    assert actions_on(booked) == [
        "appointments.appointment.book",
        "appointments.appointment.reschedule",
        "appointments.appointment.check_in",
        "appointments.appointment.cancel",
    ]
    reschedule = AuditEvent.objects.get(action="appointments.appointment.reschedule")
    assert (reschedule.actor, reschedule.patient) == (patient, patient)
