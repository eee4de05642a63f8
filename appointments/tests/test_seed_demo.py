import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from accounts.models import CareRelationship, ProviderProfile, User
from appointments.management.commands.seed_demo_appointments import DEMO_BOOKINGS, DEMO_DOCTORS
from appointments.models import Appointment, AppointmentType, Modality, WeeklyAvailability
from appointments.selectors import slots_between
from appointments.services import appointment_book
from audit.models import AuditEvent
from telemed.timezones import zone_or_default

pytestmark = pytest.mark.django_db

ADAMS = "dr.adams@demo.telemed.test"
BAKER = "dr.baker@demo.telemed.test"


@pytest.fixture
def debug_on(settings):
    settings.DEBUG = True


def seed(command: str = "seed_demo", *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict[str, list]:
    return {
        "types": list(AppointmentType.objects.order_by("pk").values()),
        "weekly": list(WeeklyAvailability.objects.order_by("pk").values()),
        "appointments": list(Appointment.objects.order_by("pk").values()),
        "profiles": list(ProviderProfile.objects.order_by("pk").values()),
        "care": list(CareRelationship.objects.order_by("pk").values()),
        "notifications": User.objects.aggregate(n=Count("notifications"))["n"],
        "audit": AuditEvent.objects.count(),
    }


def test_seed_demo_sets_up_types_hours_and_bookings(debug_on, frozen_monday):
    output = seed()

    assert {
        (t.name, t.modality, t.duration_minutes, t.buffer_after_minutes) for t in AppointmentType.objects.all()
    } == {
        ("Video consultation", Modality.VIDEO, 20, 10),
        ("In-person visit", Modality.IN_PERSON, 30, 10),
        ("Phone follow-up", Modality.PHONE, 15, 0),
    }
    for email, (time_zone, _types) in DEMO_DOCTORS.items():
        doctor = User.objects.get(email=email)
        assert doctor.provider_profile.time_zone == time_zone
        windows = WeeklyAvailability.objects.filter(provider=doctor)
        assert sorted({w.weekday for w in windows}) == [0, 1, 2, 3, 4]
        assert {(w.start_time, w.end_time) for w in windows} == {
            (dt.time(9), dt.time(12)),
            (dt.time(14), dt.time(17)),
        }
    assert Appointment.objects.count() == len(DEMO_BOOKINGS)
    assert "4 appointments booked" in output


def test_the_bookings_went_through_the_booking_service(debug_on, frozen_monday):
    seed()

    now = timezone.now()
    for patient_email, doctor_email, type_name, _days, _reason in DEMO_BOOKINGS:
        appointment = Appointment.objects.get(patient__email=patient_email, provider__email=doctor_email)
        assert appointment.status == Appointment.Status.CONFIRMED
        assert appointment.appointment_type.name == type_name
        assert appointment.booked_by == appointment.patient
        assert now < appointment.starts_at < now + dt.timedelta(days=21)
        assert AuditEvent.objects.filter(action="appointments.appointment.book", target_id=str(appointment.pk)).exists()
        assert appointment.patient.notifications.filter(kind="appointment.confirmed").exists()
    # Only pairs with a care relationship already: no new ones.
    assert CareRelationship.objects.filter(kind=CareRelationship.Kind.APPOINTMENT).count() == 0


def test_bookings_fall_in_the_doctors_working_hours_in_their_zone(debug_on, frozen_monday):
    seed()

    for appointment in Appointment.objects.select_related("provider__provider_profile"):
        local = appointment.starts_at.astimezone(zone_or_default(appointment.provider.provider_profile.time_zone))
        assert local.weekday() < 5
        assert dt.time(9) <= local.time() < dt.time(12) or dt.time(14) <= local.time() < dt.time(17)


def test_dr_baker_works_remotely_and_offers_no_in_person_visits(debug_on, frozen_monday):
    seed()
    baker = User.objects.get(email=BAKER)
    in_person = AppointmentType.objects.get(name="In-person visit")
    now = timezone.now()

    assert (
        slots_between(provider_ids=[baker.pk], appointment_type=in_person, start=now, end=now + dt.timedelta(days=7))
        == []
    )


def test_running_it_twice_changes_nothing(debug_on, frozen_monday):
    seed()
    before = snapshot()

    output = seed()

    assert snapshot() == before
    assert "0 types and 0 weekly windows created, 0 appointments booked" in output


def test_the_demo_doctors_have_free_slots_in_the_next_seven_days(debug_on):
    # On the real clock, whatever day the suite runs.
    seed()
    now = timezone.now()

    for email in DEMO_DOCTORS:
        doctor = User.objects.get(email=email)
        for appointment_type in AppointmentType.objects.exclude(name="In-person visit"):
            slots = slots_between(
                provider_ids=[doctor.pk], appointment_type=appointment_type, start=now, end=now + dt.timedelta(days=7)
            )
            assert len(slots) > 10, (email, appointment_type.name)


def test_a_week_later_the_patients_get_new_upcoming_appointments(debug_on, frozen_monday):
    seed()
    first = set(Appointment.objects.values_list("pk", flat=True))

    frozen_monday.shift(dt.timedelta(days=10))
    seed("seed_demo_appointments")

    assert Appointment.objects.count() == 2 * len(DEMO_BOOKINGS)
    assert all(a.starts_at > timezone.now() for a in Appointment.objects.exclude(pk__in=first))


def test_a_slot_someone_took_is_skipped(debug_on, frozen_monday):
    seed()
    paula = User.objects.get(email="paula.patel@demo.telemed.test")
    sam = User.objects.get(email="sam.silva@demo.telemed.test")
    adams = User.objects.get(email=ADAMS)
    video = AppointmentType.objects.get(name="Video consultation")
    # Paula's appointment is gone; before the next run, Sam takes the slot she would get.
    Appointment.objects.filter(patient=paula).update(status=Appointment.Status.CANCELLED, cancelled_at=timezone.now())
    not_before = timezone.now() + dt.timedelta(days=1)
    first_free = slots_between(
        provider_ids=[adams.pk], appointment_type=video, start=not_before, end=not_before + dt.timedelta(days=14)
    )[0]
    appointment_book(actor=sam, patient=sam, provider=adams, appointment_type=video, starts_at=first_free.starts_at)

    output = seed("seed_demo_appointments")

    rebooked = Appointment.objects.get(patient=paula, status=Appointment.Status.CONFIRMED)
    assert rebooked.starts_at > first_free.starts_at
    assert "1 appointment booked" in output


def test_it_needs_the_demo_users(debug_on):
    with pytest.raises(CommandError, match="seed_demo"):
        seed("seed_demo_appointments")

    assert not AppointmentType.objects.exists()


def test_it_refuses_to_run_when_debug_is_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG"):
        seed("seed_demo_appointments")
