"""The appointments pages through Django's test client: booking, my appointments, cancel and
reschedule, the waitlist, the schedule and the front desk; owners, outsiders and errors."""

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ProviderProfile
from accounts.tests.factories import otp_force_login
from appointments.models import Appointment, WaitlistEntry
from appointments.services import appointment_book
from appointments.tests.conftest import paris
from appointments.tests.factories import AppointmentFactory, WaitlistEntryFactory, WaitlistOfferFactory

pytestmark = pytest.mark.django_db


def html(response) -> str:
    return response.content.decode()


def staff_client(user) -> Client:
    return otp_force_login(Client(), user)


def patient_client(user) -> Client:
    """Signed in, viewing from Paris (the `tz` cookie static/js/time-zone.js sets)."""
    client = Client()
    client.force_login(user)
    client.cookies["tz"] = "Europe/Paris"
    return client


@pytest.fixture
def booked(frozen_monday, schedule, video_type, patient):
    """`patient` has Tuesday 10:00 Paris with `doctor`, with a reason."""
    return appointment_book(
        actor=patient,
        patient=patient,
        provider=schedule,
        appointment_type=video_type,
        starts_at=paris(24, 10),
        reason="Persistent cough",
    )


def details_url(provider, kind):
    return reverse("appointments:book_details", args=[provider.pk, kind.pk])


# --- booking --------------------------------------------------------------------------------


def test_a_patient_books_through_every_step_and_lands_on_the_appointment(frozen_monday, schedule, video_type, patient):
    ProviderProfile.objects.filter(user=schedule).update(specialty="General practice")
    client = patient_client(patient)

    providers = client.get(reverse("appointments:book"))
    assert "Dr Dana Doctor" in html(providers)
    assert "General practice" in html(providers)
    types = client.get(reverse("appointments:book_type", args=[schedule.pk]))
    assert "Video consultation" in html(types)
    slots = client.get(reverse("appointments:book_slot", args=[schedule.pk, video_type.pk]))
    assert "Monday 23 November" in html(slots)
    assert "Europe/Paris" in html(slots)
    start = paris(24, 10).isoformat()
    assert re.search(r"\?start=2026-11-24T09%3A00%3A00%2B00%3A00", html(slots))

    details = client.get(details_url(schedule, video_type), {"start": start})
    assert "Reason for the visit" in html(details)
    review = client.post(details_url(schedule, video_type), {"starts_at": start, "reason": "Cough", "step": "review"})
    assert review.status_code == 200
    assert "Confirm the booking" in html(review)
    assert "Tuesday 24 November 2026, 10:00" in html(review)
    done = client.post(details_url(schedule, video_type), {"starts_at": start, "reason": "Cough", "step": "book"})

    appointment = Appointment.objects.get(patient=patient)
    assert done.status_code == 302
    assert done["Location"] == reverse("appointments:detail", args=[appointment.pk])
    assert appointment.starts_at == paris(24, 10)
    assert appointment.reason == "Cough"
    page = client.get(done["Location"])
    assert "Your appointment is booked" in html(page)
    assert reverse("appointments:ics", args=[appointment.pk]) in html(page)
    assert "Join from 15 minutes before" in html(page)


def test_times_show_in_the_viewers_time_zone_from_the_cookie(frozen_monday, schedule, video_type, patient):
    client = patient_client(patient)
    client.cookies["tz"] = "America/New_York"

    slots = client.get(reverse("appointments:book_slot", args=[schedule.pk, video_type.pk]))

    # 09:30 in Paris is 03:30 in New York.
    assert "America/New_York" in html(slots)
    assert ">03:30</a>" in re.sub(r"<span[^>]*>[^<]*</span>", "", html(slots))


def test_a_slot_taken_meanwhile_shows_a_clear_error_and_the_times_again(
    frozen_monday, schedule, video_type, patient, outsider_patient
):
    outsider_patient.email_verified_at = outsider_patient.date_joined
    outsider_patient.save()
    appointment_book(
        actor=outsider_patient,
        patient=outsider_patient,
        provider=schedule,
        appointment_type=video_type,
        starts_at=paris(24, 10),
    )
    client = patient_client(patient)

    response = client.post(details_url(schedule, video_type), {"starts_at": paris(24, 10).isoformat(), "step": "book"})

    assert response.status_code == 409
    assert "Someone has just booked this time" in html(response)
    assert "Choose a time" in html(response)
    assert not Appointment.objects.filter(patient=patient).exists()


def test_a_reason_over_1000_characters_is_a_form_error(frozen_monday, schedule, video_type, patient):
    client = patient_client(patient)

    response = client.post(
        details_url(schedule, video_type),
        {"starts_at": paris(24, 10).isoformat(), "reason": "x" * 1001, "step": "review"},
    )

    assert response.status_code == 400
    assert 'aria-invalid="true"' in html(response)
    assert "at most 1000 characters" in html(response)


def test_a_proxy_acting_for_the_patient_books_for_the_patient(frozen_monday, schedule, video_type, patient, proxy):
    client = patient_client(proxy)
    client.post(reverse("accounts:proxy_switch"), {"patient_id": patient.pk})

    client.post(details_url(schedule, video_type), {"starts_at": paris(24, 10).isoformat(), "step": "book"})

    appointment = Appointment.objects.get()
    assert appointment.patient == patient
    assert appointment.booked_by == proxy
    listing = client.get(reverse("appointments:list"))
    assert "Appointments of Pat Patient" in html(listing)


def test_booking_pages_refuse_staff_and_unverified_patients(frozen_monday, schedule, video_type, outsider_patient):
    doctor_client = staff_client(schedule)
    unverified = patient_client(outsider_patient)

    for client in (doctor_client, unverified):
        assert client.get(reverse("appointments:book")).status_code == 404
        assert client.get(reverse("appointments:book_slot", args=[schedule.pk, video_type.pk])).status_code == 404


# --- my appointments, detail, cancel, reschedule ---------------------------------------------


def test_my_appointments_lists_upcoming_and_past_with_actions(booked, patient):
    AppointmentFactory(
        patient=patient,
        provider=booked.provider,
        appointment_type=booked.appointment_type,
        starts_at=paris(20, 10),
        status=Appointment.Status.COMPLETED,
    )
    response = patient_client(patient).get(reverse("appointments:list"))

    page = html(response)
    upcoming, past = page.split('id="past-title"')
    assert "Tue 24 Nov 2026, 10:00" in upcoming
    assert reverse("appointments:cancel", args=[booked.pk]) in upcoming
    assert reverse("appointments:reschedule", args=[booked.pk]) in upcoming
    assert "Fri 20 Nov 2026, 10:00" in past
    assert "Completed" in past


def test_the_detail_shows_the_reason_to_the_patient_and_provider_but_not_to_other_staff(
    booked, patient, outsider_doctor
):
    url = reverse("appointments:detail", args=[booked.pk])

    assert "Persistent cough" in html(patient_client(patient).get(url))
    assert "Persistent cough" in html(staff_client(booked.provider).get(url))
    other = staff_client(outsider_doctor).get(url)
    assert other.status_code == 200
    assert "Persistent cough" not in html(other)


def test_other_patients_meet_404_on_every_page_of_an_appointment(booked, outsider_patient):
    client = patient_client(outsider_patient)
    for name in ("detail", "cancel", "reschedule"):
        assert client.get(reverse(f"appointments:{name}", args=[booked.pk])).status_code == 404
    assert client.post(reverse("appointments:cancel", args=[booked.pk])).status_code == 404
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CONFIRMED


def test_the_patient_cancels_after_confirming(booked, patient):
    client = patient_client(patient)
    url = reverse("appointments:cancel", args=[booked.pk])

    confirm = client.get(url)
    assert "Cancel the appointment?" in html(confirm)
    response = client.post(url, {"reason": "Feeling better"})

    assert response.status_code == 302
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CANCELLED


def test_after_the_cancellation_window_the_page_explains_and_the_post_is_refused(booked, patient, frozen_monday):
    frozen_monday.move_to(paris(23, 11))  # 23 hours before the start; the window is 24 hours
    client = patient_client(patient)
    url = reverse("appointments:cancel", args=[booked.pk])

    page = client.get(url)
    assert "that time passed on 23 Nov 2026 at 10:00" in html(page)
    assert "Yes, cancel it" not in html(page)
    listing = client.get(reverse("appointments:list"))
    assert "Online changes closed" in html(listing)
    response = client.post(url)

    assert response.status_code == 400
    assert "Please call the clinic" in html(response)
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CONFIRMED


def test_the_patient_reschedules_to_another_slot_of_the_same_doctor(booked, patient):
    client = patient_client(patient)
    url = reverse("appointments:reschedule", args=[booked.pk])

    page = client.get(url)
    assert f'value="{paris(24, 11).astimezone(dt.UTC).isoformat()}"' in html(page)
    response = client.post(url, {"starts_at": paris(24, 11).isoformat()})

    assert response.status_code == 302
    booked.refresh_from_db()
    assert booked.starts_at == paris(24, 11)


def test_rescheduling_to_a_time_not_offered_is_a_form_error(booked, patient):
    response = patient_client(patient).post(
        reverse("appointments:reschedule", args=[booked.pk]), {"starts_at": paris(24, 13).isoformat()}
    )

    assert response.status_code == 409
    assert "This time is not offered for booking." in html(response)


# --- waitlist ----------------------------------------------------------------------------------


def test_a_patient_joins_and_leaves_a_waitlist(frozen_monday, schedule, video_type, patient):
    client = patient_client(patient)

    form = client.get(reverse("appointments:waitlist_join"), {"provider": schedule.pk, "type": video_type.pk})
    assert form.status_code == 200
    response = client.post(
        reverse("appointments:waitlist_join"),
        {
            "provider": schedule.pk,
            "appointment_type": video_type.pk,
            "earliest_date": "2026-11-24",
            "latest_date": "2026-11-30",
        },
    )
    assert response.status_code == 302
    entry = WaitlistEntry.objects.get(patient=patient)
    assert "Dr Dana Doctor" in html(client.get(reverse("appointments:list")))

    client.post(reverse("appointments:waitlist_leave", args=[entry.pk]))

    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.LEFT


def test_waitlist_dates_in_the_wrong_order_are_a_form_error(frozen_monday, schedule, video_type, patient):
    response = patient_client(patient).post(
        reverse("appointments:waitlist_join"),
        {
            "provider": schedule.pk,
            "appointment_type": video_type.pk,
            "earliest_date": "2026-11-30",
            "latest_date": "2026-11-24",
        },
    )

    assert response.status_code == 400
    assert "Choose a date on or after the first date." in html(response)
    assert not WaitlistEntry.objects.exists()


def test_pending_offers_show_on_my_appointments(frozen_monday, schedule, video_type, patient):
    offer = WaitlistOfferFactory(
        entry=WaitlistEntryFactory(
            patient=patient, provider=schedule, appointment_type=video_type, status=WaitlistEntry.Status.OFFERED
        )
    )

    page = html(patient_client(patient).get(reverse("appointments:list")))

    assert "Times offered to you" in page
    assert reverse("appointments:waitlist_offer", args=[offer.pk]) in page


def test_leaving_another_patients_waitlist_entry_is_404(frozen_monday, schedule, video_type, patient, outsider_patient):
    entry = WaitlistEntryFactory(patient=patient, provider=schedule, appointment_type=video_type)

    response = patient_client(outsider_patient).post(reverse("appointments:waitlist_leave", args=[entry.pk]))

    assert response.status_code == 404
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.WAITING


# --- schedule, front desk, transitions ----------------------------------------------------------


def test_the_doctor_sees_their_day_in_their_zone_with_actions(booked, frozen_monday):
    page = html(staff_client(booked.provider).get(reverse("appointments:day"), {"date": "2026-11-24"}))

    assert "My schedule" in page
    assert "Pat Patient" in page
    assert "10:00" in page
    assert "Europe/Paris" in page
    assert 'value="check_in"' in page
    assert 'value="start"' in page
    assert 'value="no_show"' not in page  # not before the start


def test_the_week_view_lists_the_appointment_on_its_day(booked):
    page = html(staff_client(booked.provider).get(reverse("appointments:week"), {"date": "2026-11-26"}))

    assert "My week" in page
    assert "Tue 24 Nov" in page
    assert "Pat Patient" in page


def test_a_nurse_picks_a_provider_and_uses_the_front_desk(booked, nurse, frozen_monday):
    client = staff_client(nurse)

    chosen = client.get(reverse("appointments:day"), {"provider": booked.provider.pk, "date": "2026-11-24"})
    assert "Schedule of Dr Dana Doctor" in html(chosen)
    assert 'value="start"' not in html(chosen)  # only the provider starts a visit
    desk = client.get(reverse("appointments:front_desk"), {"date": "2026-11-24"})
    assert "Pat Patient" in html(desk)
    response = client.post(
        reverse("appointments:transition", args=[booked.pk]),
        {"verb": "check_in", "next": reverse("appointments:front_desk") + "?date=2026-11-24"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/appointments/front-desk/?date=2026-11-24"
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CHECKED_IN


def test_a_refused_transition_is_shown_as_a_message(booked, nurse):
    client = staff_client(nurse)

    response = client.post(reverse("appointments:transition", args=[booked.pk]), {"verb": "no_show"}, follow=True)

    assert "only after the start time" in html(response)
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CONFIRMED


def test_no_show_appears_once_the_start_has_passed(booked, frozen_monday, nurse):
    frozen_monday.move_to(paris(24, 10, 5))

    page = html(staff_client(nurse).get(reverse("appointments:front_desk"), {"date": "2026-11-24"}))

    assert 'value="no_show"' in page


@pytest.mark.parametrize("name", ["day", "week", "front_desk"])
def test_staff_pages_refuse_patients_and_send_unverified_staff_to_mfa(name, patient, doctor):
    assert patient_client(patient).get(reverse(f"appointments:{name}")).status_code == 404
    unverified = Client()
    unverified.force_login(doctor)

    response = unverified.get(reverse(f"appointments:{name}"))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/mfa/")


def test_a_patient_cannot_post_a_transition(booked, patient):
    response = patient_client(patient).post(reverse("appointments:transition", args=[booked.pk]), {"verb": "start"})

    assert response.status_code == 404


def test_staff_go_from_my_appointments_to_their_own_page(doctor, nurse):
    assert staff_client(doctor).get(reverse("appointments:list"))["Location"] == reverse("appointments:day")
    assert staff_client(nurse).get(reverse("appointments:list"))["Location"] == reverse("appointments:front_desk")


# --- forms, CSRF and navigation ---------------------------------------------------------------


def test_posts_without_a_csrf_token_are_refused(booked, patient):
    client = Client(enforce_csrf_checks=True)
    client.force_login(patient)

    response = client.post(reverse("appointments:cancel", args=[booked.pk]))

    assert response.status_code == 403
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CONFIRMED


def test_every_post_form_carries_a_csrf_token(booked, patient):
    client = patient_client(patient)
    for url in (
        reverse("appointments:list"),
        reverse("appointments:cancel", args=[booked.pk]),
        reverse("appointments:reschedule", args=[booked.pk]),
        reverse("appointments:waitlist_join"),
    ):
        page = html(client.get(url))
        forms = re.findall(r'<form[^>]*method="post"[^>]*>(.*?)</form>', page, flags=re.S)
        assert forms, url
        assert all("csrfmiddlewaretoken" in form for form in forms), url


@pytest.mark.parametrize(
    ("persona", "label", "url_name"),
    [("patient", "Appointments", "list"), ("doctor", "My schedule", "day"), ("nurse", "Front desk", "front_desk")],
)
def test_the_menu_links_each_role_to_its_appointments_page(request, persona, label, url_name):
    user = request.getfixturevalue(persona)
    client = patient_client(user) if persona == "patient" else staff_client(user)

    page = html(client.get("/"))

    assert f'href="{reverse(f"appointments:{url_name}")}"' in page
    assert f">{label}</a>" in page


def test_the_booking_horizon_moves_a_week_at_a_time(frozen_monday, schedule, video_type, patient):
    client = patient_client(patient)
    url = reverse("appointments:book_slot", args=[schedule.pk, video_type.pk])

    first = html(client.get(url))
    assert "Previous week" not in first
    assert "?start=2026-11-30" in first
    later = html(client.get(url, {"start": (dt.date(2026, 11, 30)).isoformat()}))
    assert "Monday 30 November" in later
    assert "Monday 23 November" not in later
    assert "?start=2026-11-23" in later
