import datetime as dt

import pytest
from django.urls import reverse

from accounts.mfa.testing import otp_force_login
from appointments.models import Appointment, AppointmentType, ClinicSettings, WeeklyAvailability
from appointments.selectors import slots_between
from appointments.services import appointment_book
from appointments.tests.conftest import paris
from audit.models import AuditEvent
from telemed.timezones import zone_or_default

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic_admin(admin):
    """The clinic admin with the Django admin's model permissions (as seed_demo makes them)."""
    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])
    return admin


@pytest.fixture
def admin_client(client, clinic_admin):
    otp_force_login(client, clinic_admin)
    return client


@pytest.fixture
def booked(frozen_monday, schedule, video_type, patient):
    return appointment_book(
        actor=patient,
        patient=patient,
        provider=schedule,
        appointment_type=video_type,
        starts_at=paris(24, 10),
        reason="Chest pain when climbing stairs",
    )


def test_an_admin_creates_a_type_and_weekly_hours_and_the_slots_appear(frozen_monday, admin_client, doctor):
    response = admin_client.post(
        reverse("admin:appointments_appointmenttype_add"),
        {
            "name": "Phone follow-up",
            "modality": "phone",
            "duration_minutes": "15",
            "buffer_before_minutes": "0",
            "buffer_after_minutes": "0",
            "minimum_notice_minutes": "60",
            "booking_horizon_days": "30",
            "cancellation_window_hours": "24",
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    phone = AppointmentType.objects.get(name="Phone follow-up")

    response = admin_client.post(
        reverse("admin:appointments_weeklyavailability_add"),
        {"provider": doctor.pk, "weekday": "1", "start_time": "14:00", "end_time": "15:00"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert WeeklyAvailability.objects.filter(provider=doctor, weekday=1).count() == 1

    # The doctor has no profile zone: the clinic's zone applies.
    zone = zone_or_default(None)
    tuesday = dt.datetime(2026, 11, 24, tzinfo=zone)
    slots = slots_between(
        provider_ids=[doctor.pk], appointment_type=phone, start=tuesday, end=tuesday + dt.timedelta(days=1)
    )
    assert [s.starts_at.astimezone(zone).strftime("%H:%M") for s in slots] == ["14:00", "14:15", "14:30", "14:45"]


def test_weekly_hours_can_only_be_given_to_a_doctor(admin_client, patient):
    response = admin_client.post(
        reverse("admin:appointments_weeklyavailability_add"),
        {"provider": patient.pk, "weekday": "1", "start_time": "14:00", "end_time": "15:00"},
    )

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not WeeklyAvailability.objects.exists()


def test_hours_that_end_before_they_start_are_refused(admin_client, doctor):
    response = admin_client.post(
        reverse("admin:appointments_weeklyavailability_add"),
        {"provider": doctor.pk, "weekday": "1", "start_time": "15:00", "end_time": "14:00"},
    )

    assert response.status_code == 200
    assert not WeeklyAvailability.objects.exists()


@pytest.mark.parametrize("persona", ["patient", "doctor", "nurse"])
def test_nobody_but_an_admin_gets_into_the_appointments_admin(request, client, persona):
    user = request.getfixturevalue(persona)
    if user.is_staff_role:
        otp_force_login(client, user)
    else:
        client.force_login(user)

    for name in ["appointment_changelist", "appointmenttype_add", "weeklyavailability_changelist"]:
        response = client.get(reverse(f"admin:appointments_{name}"))
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_an_admin_without_a_verified_second_factor_is_sent_to_verify(client, clinic_admin):
    client.force_login(clinic_admin)

    response = client.get(reverse("admin:appointments_appointment_changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/mfa/")


def test_appointments_cannot_be_added_changed_or_deleted_in_the_admin(admin_client, booked):
    assert admin_client.get(reverse("admin:appointments_appointment_add")).status_code == 403
    assert admin_client.get(reverse("admin:appointments_appointment_delete", args=[booked.pk])).status_code == 403
    response = admin_client.post(
        reverse("admin:appointments_appointment_change", args=[booked.pk]), {"status": "completed"}
    )
    assert response.status_code == 403
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CONFIRMED


def test_the_list_filters_and_searches_without_showing_the_reason(admin_client, booked, outsider_patient):
    url = reverse("admin:appointments_appointment_changelist")

    page = admin_client.get(url, {"q": booked.patient.email}).content.decode()
    assert "patient@example.test" in page
    assert "Chest pain" not in page
    assert admin_client.get(url, {"q": outsider_patient.email}).context["cl"].result_count == 0
    assert admin_client.get(url, {"status__exact": "cancelled"}).context["cl"].result_count == 0
    assert admin_client.get(url, {"provider": str(booked.provider_id)}).context["cl"].result_count == 1


def test_opening_an_appointment_in_the_admin_is_audited_and_hides_the_reason(admin_client, clinic_admin, booked):
    response = admin_client.get(reverse("admin:appointments_appointment_change", args=[booked.pk]))

    assert response.status_code == 200
    assert "Chest pain" not in response.content.decode()
    assert AuditEvent.objects.filter(
        actor=clinic_admin, action="appointments.appointment.view", target_id=str(booked.pk)
    ).exists()


def test_the_cancel_action_cancels_through_the_service(admin_client, clinic_admin, booked, patient):
    before = patient.notifications.filter(kind="appointment.cancelled").count()

    response = admin_client.post(
        reverse("admin:appointments_appointment_changelist"),
        {"action": "cancel_appointments", "_selected_action": [booked.pk], "index": "0"},
        follow=True,
    )

    assert response.status_code == 200
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CANCELLED
    assert booked.cancelled_by == clinic_admin
    assert before == 0
    assert patient.notifications.filter(kind="appointment.cancelled").count() >= 1
    assert booked.provider.notifications.filter(kind="appointment.provider_cancelled").exists()
    assert AuditEvent.objects.filter(
        actor=clinic_admin, action="appointments.appointment.cancel", target_id=str(booked.pk)
    ).exists()
    assert "Cancelled 1 appointment" in response.content.decode()


def test_the_cancel_action_reports_what_it_could_not_cancel(admin_client, booked):
    admin_client.post(
        reverse("admin:appointments_appointment_changelist"),
        {"action": "cancel_appointments", "_selected_action": [booked.pk], "index": "0"},
    )

    response = admin_client.post(
        reverse("admin:appointments_appointment_changelist"),
        {"action": "cancel_appointments", "_selected_action": [booked.pk], "index": "0"},
        follow=True,
    )

    assert f"#{booked.pk}" in response.content.decode()
    assert Appointment.objects.get(pk=booked.pk).status == Appointment.Status.CANCELLED


def test_clinic_settings_are_one_row_that_cannot_be_deleted(admin_client):
    add = reverse("admin:appointments_clinicsettings_add")
    response = admin_client.post(add, {"reminder_offsets_minutes": "[1440, 120]", "waitlist_offer_hold_minutes": "90"})
    assert response.status_code == 302, response.content.decode()[:2000]
    settings_row = ClinicSettings.objects.get()
    assert settings_row.pk == 1
    assert settings_row.reminder_offsets_minutes == [1440, 120]

    assert admin_client.get(add).status_code == 403
    assert admin_client.get(reverse("admin:appointments_clinicsettings_delete", args=[1])).status_code == 403


@pytest.mark.parametrize("offsets", ["[-60]", '[60, "soon"]', '{"a": 1}'])
def test_clinic_settings_refuse_reminder_offsets_that_are_not_positive_minutes(admin_client, offsets):
    response = admin_client.post(
        reverse("admin:appointments_clinicsettings_add"),
        {"reminder_offsets_minutes": offsets, "waitlist_offer_hold_minutes": "90"},
    )

    assert response.status_code == 200
    assert "positive whole minutes" in response.content.decode()
    assert not ClinicSettings.objects.exists()


def test_the_waitlist_is_read_only_in_the_admin(admin_client):
    assert admin_client.get(reverse("admin:appointments_waitlistentry_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:appointments_waitlistentry_add")).status_code == 403
    assert admin_client.get(reverse("admin:appointments_waitlistoffer_add")).status_code == 403
