"""Booking: who may book, what is stored, and who hears about it."""

import base64
import datetime as dt

import icalendar
import pytest

from accounts.models import CareRelationship
from accounts.tests.factories import DoctorFactory, NurseFactory, PatientFactory, VerifiedPatientFactory
from appointments.errors import SlotTakenError, SlotUnavailableError
from appointments.models import Appointment, ClinicSettings
from appointments.selectors import slots_between
from appointments.tests.conftest import book, paris
from appointments.tests.factories import AppointmentFactory, AppointmentTypeFactory, working_week
from audit.models import AuditEvent, Outcome
from messaging.models import Notification, NotificationStatus
from telemed.errors import ApplicationError

pytestmark = pytest.mark.django_db


def keys_of(appointment):
    return set(
        Notification.objects.filter(idempotency_key__startswith=f"appointment:{appointment.pk}:").values_list(
            "idempotency_key", flat=True
        )
    )


def notice(key):
    return Notification.objects.get(idempotency_key=key)


def refused(call, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call(**kwargs)
    return caught.value


@pytest.fixture
def new_doctor(video_type):
    """A doctor the patient has never seen, working 09:00-12:00 Paris daily."""
    provider = DoctorFactory(full_name="Dr Nadia New")
    working_week(provider)
    return provider


def test_a_patient_books_a_free_slot_and_it_is_confirmed_at_once(frozen_monday, schedule, video_type, patient):
    appointment = book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CONFIRMED
    assert (appointment.starts_at, appointment.ends_at) == (paris(25, 10), paris(25, 10, 20))
    assert (appointment.blocked_from, appointment.blocked_until) == (paris(25, 10), paris(25, 10, 30))
    assert appointment.booked_by == patient
    free = slots_between(provider_ids=[schedule.pk], appointment_type=video_type, start=paris(25, 0), end=paris(26, 0))
    assert paris(25, 10) not in [slot.starts_at for slot in free]


def test_booking_with_a_new_doctor_starts_a_care_relationship_once(frozen_monday, new_doctor, video_type, patient):
    book(patient=patient, provider=new_doctor, appointment_type=video_type, starts_at=paris(25, 10))
    book(patient=patient, provider=new_doctor, appointment_type=video_type, starts_at=paris(26, 10))
    relations = CareRelationship.objects.filter(patient=patient, provider=new_doctor, ended_at__isnull=True)
    assert [relation.kind for relation in relations] == [CareRelationship.Kind.APPOINTMENT]


def test_booking_is_in_the_audit_trail(frozen_monday, schedule, video_type, patient):
    appointment = book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
    event = AuditEvent.objects.get(action="appointments.appointment.book", target_id=str(appointment.pk))
    assert (event.actor, event.patient, event.outcome) == (patient, patient, Outcome.SUCCESS)


def test_the_patient_gets_a_confirmation_with_a_calendar_file_and_no_health_details(
    frozen_monday, schedule, video_type, patient
):
    appointment = book(
        patient=patient,
        provider=schedule,
        appointment_type=video_type,
        starts_at=paris(25, 10),
        reason="Persistent chest pain",
    )
    prefix = f"appointment:{appointment.pk}:v1:confirmed"
    email, in_app = notice(f"{prefix}:email"), notice(f"{prefix}:in_app")
    assert email.recipient == in_app.recipient == patient
    assert email.status == NotificationStatus.PENDING
    assert email.kind == "appointment.confirmed"
    [attachment] = email.attachments
    calendar = icalendar.Calendar.from_ical(base64.b64decode(attachment["content"]))
    [event] = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "PUBLISH"
    assert event.decoded("DTSTART") == paris(25, 10)
    for row in Notification.objects.filter(idempotency_key__startswith=f"appointment:{appointment.pk}:"):
        assert "chest pain" not in f"{row.subject} {row.body_text} {row.body_html}".lower()
    assert b"chest pain" not in base64.b64decode(attachment["content"]).lower()


def test_reminders_are_due_a_day_and_an_hour_before_on_every_channel(frozen_monday, schedule, video_type, patient):
    appointment = book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
    reminders = Notification.objects.filter(kind="appointment.reminder", recipient=patient)
    due = {(row.idempotency_key.split(":", 3)[3], row.due_at) for row in reminders}
    assert due == {
        (f"reminder:{minutes}:{channel}", paris(25, 10) - dt.timedelta(minutes=minutes))
        for minutes in (1440, 60)
        for channel in ("email", "sms", "in_app")
    }
    assert all(row.idempotency_key.startswith(f"appointment:{appointment.pk}:v1:") for row in reminders)


def test_a_reminder_whose_time_has_passed_is_not_scheduled(frozen_monday, schedule, video_type, patient):
    # Booked at 08:00 for 11:00 the same day: the day-before reminder is already past.
    appointment = book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(23, 11))
    reminders = Notification.objects.filter(kind="appointment.reminder", recipient=patient)
    assert {row.due_at for row in reminders} == {paris(23, 10)}
    assert f"appointment:{appointment.pk}:v1:reminder:1440:email" not in keys_of(appointment)


def test_the_provider_hears_of_a_booking_the_patient_made(frozen_monday, schedule, video_type, patient):
    appointment = book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
    for channel in ("email", "in_app"):
        row = notice(f"appointment:{appointment.pk}:v1:provider_booked:{channel}")
        assert row.recipient == schedule
        assert row.kind == "appointment.provider_booked"


def test_a_doctor_booking_in_their_own_diary_gets_no_notice_of_it(
    frozen_monday, schedule, video_type, patient, verified
):
    appointment = book(
        actor=verified(schedule),
        patient=patient,
        provider=schedule,
        appointment_type=video_type,
        starts_at=paris(25, 10),
    )
    assert not Notification.objects.filter(recipient=schedule).exists()
    assert f"appointment:{appointment.pk}:v1:confirmed:email" in keys_of(appointment)


def test_when_the_clinic_confirms_bookings_a_patients_booking_waits_as_requested(
    frozen_monday, schedule, video_type, patient
):
    ClinicSettings.objects.create(pk=1, require_confirmation=True)
    appointment = book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
    assert appointment.status == Appointment.Status.REQUESTED
    assert notice(f"appointment:{appointment.pk}:v1:requested:email").recipient == patient
    assert not Notification.objects.filter(kind="appointment.reminder").exists()
    # A requested appointment still holds the time.
    with pytest.raises(SlotTakenError):
        book(patient=VerifiedPatientFactory(), provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))


def test_staff_bookings_are_confirmed_even_when_the_clinic_confirms_bookings(
    frozen_monday, schedule, video_type, patient, nurse, verified
):
    ClinicSettings.objects.create(pk=1, require_confirmation=True)
    appointment = book(
        actor=verified(nurse), patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10)
    )
    assert appointment.status == Appointment.Status.CONFIRMED


def test_a_proxy_books_for_the_patient_and_both_hear_of_it(frozen_monday, schedule, video_type, patient, proxy):
    appointment = book(
        actor=proxy, patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10)
    )
    assert (appointment.patient, appointment.booked_by) == (patient, proxy)
    assert notice(f"appointment:{appointment.pk}:v1:confirmed:email").recipient == patient
    assert notice(f"appointment:{appointment.pk}:v1:confirmed:proxy{proxy.pk}:email").recipient == proxy
    event = AuditEvent.objects.get(action="appointments.appointment.book")
    assert (event.actor, event.patient) == (proxy, patient)


@pytest.mark.parametrize("persona", ["nurse", "admin"])
def test_verified_front_desk_staff_book_for_a_patient(
    frozen_monday, schedule, video_type, patient, verified, request, persona
):
    staff = verified(request.getfixturevalue(persona))
    appointment = book(
        actor=staff, patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10)
    )
    assert (appointment.status, appointment.booked_by) == (Appointment.Status.CONFIRMED, staff)
    assert notice(f"appointment:{appointment.pk}:v1:provider_booked:email").recipient == schedule


def test_another_patient_cannot_book_for_the_patient_and_the_attempt_is_recorded(
    frozen_monday, schedule, video_type, patient, outsider_patient
):
    error = refused(
        book,
        actor=outsider_patient,
        patient=patient,
        provider=schedule,
        appointment_type=video_type,
        starts_at=paris(25, 10),
    )
    assert (error.status_code, error.code) == (403, "appointments_forbidden")
    assert not Appointment.objects.exists()
    denied = AuditEvent.objects.get(action="appointments.appointment.book")
    assert (denied.actor, denied.patient, denied.outcome) == (outsider_patient, patient, Outcome.DENIED)


def test_staff_without_a_second_factor_cannot_book(frozen_monday, schedule, video_type, patient, nurse):
    error = refused(
        book, actor=nurse, patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10)
    )
    assert (error.status_code, error.code) == (403, "appointments_forbidden")
    assert not Appointment.objects.exists()


def test_a_patient_whose_email_is_unverified_cannot_book_even_for_themself(frozen_monday, schedule, video_type):
    unverified = PatientFactory()
    error = refused(book, patient=unverified, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
    assert (error.status_code, error.code) == (403, "appointments_forbidden")


@pytest.mark.parametrize(
    "starts_at",
    [
        paris(25, 10, 10),  # between two slots of the grid
        paris(25, 13),  # after hours
        paris(23, 8, 30),  # sooner than the minimum notice
        paris(23, 9) + dt.timedelta(days=61),  # beyond the booking horizon
        paris(20, 10),  # in the past
    ],
    ids=["off-grid", "after-hours", "too-soon", "too-far", "past"],
)
def test_a_time_that_is_not_offered_cannot_be_booked(frozen_monday, schedule, video_type, patient, starts_at):
    error = refused(book, patient=patient, provider=schedule, appointment_type=video_type, starts_at=starts_at)
    assert isinstance(error, SlotUnavailableError)
    assert (error.status_code, error.code) == (400, "slot_unavailable")
    assert not Appointment.objects.exists()


def test_a_time_without_a_time_zone_is_refused(frozen_monday, schedule, video_type, patient):
    error = refused(
        book, patient=patient, provider=schedule, appointment_type=video_type, starts_at=dt.datetime(2026, 11, 25, 10)
    )
    assert error.code == "slot_unavailable"


def test_a_time_someone_else_booked_is_refused_as_taken(frozen_monday, schedule, video_type, patient):
    book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
    other = VerifiedPatientFactory()
    error = refused(book, patient=other, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
    assert isinstance(error, SlotTakenError)
    assert (error.status_code, error.code) == (409, "slot_taken")
    assert Appointment.objects.filter(patient=other).count() == 0


def test_a_slot_that_would_overlap_a_longer_booking_is_taken(frozen_monday, schedule, video_type, patient):
    long_visit = AppointmentTypeFactory(duration_minutes=50)  # 09:00-09:50, buffer to 10:00
    book(patient=patient, provider=schedule, appointment_type=long_visit, starts_at=paris(25, 9))
    error = refused(
        book,
        patient=VerifiedPatientFactory(),
        provider=schedule,
        appointment_type=video_type,
        starts_at=paris(25, 9, 30),
    )
    assert error.code == "slot_taken"


def test_a_patient_cannot_be_in_two_appointments_at_once(frozen_monday, schedule, new_doctor, video_type, patient):
    book(patient=patient, provider=new_doctor, appointment_type=video_type, starts_at=paris(25, 10))
    error = refused(book, patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
    assert (error.status_code, error.code) == (409, "patient_busy")
    assert Appointment.objects.filter(provider=schedule).count() == 0


def test_a_cancelled_appointment_does_not_make_the_patient_busy(
    frozen_monday, schedule, new_doctor, video_type, patient
):
    AppointmentFactory(
        patient=patient,
        provider=new_doctor,
        appointment_type=video_type,
        starts_at=paris(25, 10),
        status=Appointment.Status.CANCELLED,
        cancelled_at=paris(23, 7),
    )
    book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))


def test_an_inactive_type_cannot_be_booked(frozen_monday, schedule, patient):
    retired = AppointmentTypeFactory(active=False)
    error = refused(book, patient=patient, provider=schedule, appointment_type=retired, starts_at=paris(25, 10))
    assert (error.status_code, error.code) == (400, "appointment_type_inactive")


def test_only_a_doctor_can_be_booked_as_the_provider(frozen_monday, video_type, patient):
    nurse = NurseFactory()
    working_week(nurse)
    error = refused(book, patient=patient, provider=nurse, appointment_type=video_type, starts_at=paris(25, 10))
    assert (error.status_code, error.code) == (400, "not_a_provider")


def test_a_reason_longer_than_a_thousand_characters_is_refused(frozen_monday, schedule, video_type, patient):
    error = refused(
        book,
        patient=patient,
        provider=schedule,
        appointment_type=video_type,
        starts_at=paris(25, 10),
        reason="x" * 1001,
    )
    assert (error.status_code, error.code) == (400, "reason_too_long")
    kept = book(
        patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10), reason="y" * 1000
    )
    assert len(kept.reason) == 1000
