"""Staff booking on a patient's behalf from the pages, as the front desk does on the phone:
"Book for a patient" on the front desk and the day view, then the booking steps carrying the
patient; patients, proxies and unverified staff cannot use it to book for someone else."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import CareRelationship
from accounts.tests.factories import PatientProfileFactory, VerifiedPatientFactory, otp_force_login
from appointments.models import Appointment
from appointments.services import appointment_book
from appointments.tests.conftest import paris
from audit.models import AuditEvent, Outcome
from messaging.models import Notification

pytestmark = pytest.mark.django_db


def html(response) -> str:
    return response.content.decode()


def staff_client(user) -> Client:
    """OTP-verified, viewing from Paris (the `tz` cookie static/js/time-zone.js sets)."""
    client = otp_force_login(Client(), user)
    client.cookies["tz"] = "Europe/Paris"
    return client


def details_url(provider, kind):
    return reverse("appointments:book_details", args=[provider.pk, kind.pk])


@pytest.fixture
def walk_in(db):
    """A patient who has never seen the clinic's doctors: no care relationship yet."""
    user = VerifiedPatientFactory(email="wendy.walkin@example.test", full_name="Wendy Walk-in")
    PatientProfileFactory(user=user, mrn="TM-7K3QX9MD")
    return user


def test_a_nurse_finds_the_patient_at_the_front_desk_and_books_through_every_step(
    frozen_monday, schedule, video_type, nurse, walk_in
):
    client = staff_client(nurse)
    desk = client.get(reverse("appointments:front_desk"))
    assert "Book for a patient" in html(desk)

    found = client.post(reverse("appointments:front_desk"), {"identifier": " Wendy.Walkin@example.test "})
    assert found.status_code == 302
    providers_url = found["Location"]
    assert providers_url == f"{reverse('appointments:book')}?patient={walk_in.pk}"
    providers = client.get(providers_url)
    assert "Booking for <strong>Wendy Walk-in</strong> (MRN TM-7K3QX9MD)" in html(providers)
    assert f"{reverse('appointments:book_type', args=[schedule.pk])}?patient={walk_in.pk}" in html(providers)
    types = client.get(reverse("appointments:book_type", args=[schedule.pk]), {"patient": walk_in.pk})
    assert "Booking for <strong>Wendy Walk-in</strong>" in html(types)
    slot_url = reverse("appointments:book_slot", args=[schedule.pk, video_type.pk])
    assert f"{slot_url}?patient={walk_in.pk}" in html(types)
    slots = client.get(slot_url, {"patient": walk_in.pk})
    assert "Booking for <strong>Wendy Walk-in</strong>" in html(slots)
    # Every time, and the next week, keep the patient; the waitlist is the patient's own.
    assert re.search(rf"\?start=2026-11-24T09%3A00%3A00%2B00%3A00&amp;patient={walk_in.pk}\"", html(slots))
    assert f"?start=2026-11-30&amp;patient={walk_in.pk}" in html(slots)
    assert "Join the waitlist" not in html(slots)

    start = paris(24, 10).isoformat()
    details = client.get(details_url(schedule, video_type), {"start": start, "patient": walk_in.pk})
    assert "Booking for <strong>Wendy Walk-in</strong>" in html(details)
    assert f'name="patient" value="{walk_in.pk}"' in html(details)
    review = client.post(
        details_url(schedule, video_type),
        {"starts_at": start, "reason": "Sprained ankle", "step": "review", "patient": walk_in.pk},
    )
    assert "Confirm the booking" in html(review)
    assert "Booking for <strong>Wendy Walk-in</strong>" in html(review)
    assert f'name="patient" value="{walk_in.pk}"' in html(review)
    done = client.post(
        details_url(schedule, video_type),
        {"starts_at": start, "reason": "Sprained ankle", "step": "book", "patient": walk_in.pk},
    )

    appointment = Appointment.objects.get(patient=walk_in)
    assert done.status_code == 302
    assert done["Location"] == reverse("appointments:detail", args=[appointment.pk])
    assert appointment.booked_by == nurse
    assert appointment.status == Appointment.Status.CONFIRMED
    assert appointment.provider == schedule
    assert appointment.starts_at == paris(24, 10)
    assert appointment.reason == "Sprained ankle"
    assert CareRelationship.objects.filter(patient=walk_in, provider=schedule, ended_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=walk_in, kind="appointment.confirmed").exists()
    page = client.get(done["Location"])
    assert page.status_code == 200
    assert "Booked for Wendy Walk-in" in html(page)


def test_the_doctor_finds_a_patient_by_mrn_from_their_day_view(frozen_monday, schedule, video_type, walk_in):
    client = staff_client(schedule)
    assert "Book for a patient" in html(client.get(reverse("appointments:day")))

    found = client.post(reverse("appointments:day"), {"identifier": "tm-7k3qx9md"})

    assert found["Location"] == f"{reverse('appointments:book')}?patient={walk_in.pk}"
    assert "Back to my schedule" in html(client.get(found["Location"]))


@pytest.mark.parametrize("name", ["front_desk", "day"])
def test_an_unknown_email_or_mrn_is_a_form_error(name, schedule, nurse):
    client = staff_client(nurse)

    response = client.post(reverse(f"appointments:{name}"), {"identifier": "nobody@example.test"})

    assert response.status_code == 400
    assert "No patient has this email or MRN." in html(response)
    assert 'aria-invalid="true"' in html(response)
    assert 'value="nobody@example.test"' in html(response)


def test_an_unverified_staff_session_cannot_book(frozen_monday, schedule, video_type, nurse, walk_in):
    client = Client()
    client.force_login(nurse)

    found = client.post(reverse("appointments:front_desk"), {"identifier": walk_in.email})
    pages = client.get(reverse("appointments:book"), {"patient": walk_in.pk})
    booked = client.post(
        details_url(schedule, video_type),
        {"starts_at": paris(24, 10).isoformat(), "step": "book", "patient": walk_in.pk},
    )

    for response in (found, pages, booked):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/mfa/")
    assert not Appointment.objects.exists()


def test_staff_meet_404_for_an_unknown_or_missing_patient(frozen_monday, schedule, video_type, nurse, doctor):
    client = staff_client(nurse)

    assert client.get(reverse("appointments:book"), {"patient": 999999}).status_code == 404
    assert client.get(reverse("appointments:book"), {"patient": "not-a-number"}).status_code == 404
    assert client.get(reverse("appointments:book")).status_code == 404
    response = client.post(details_url(schedule, video_type), {"starts_at": paris(24, 10).isoformat(), "step": "book"})
    assert response.status_code == 404
    assert not Appointment.objects.exists()


def test_a_patient_cannot_book_for_someone_else_with_the_patient_parameter(
    frozen_monday, schedule, video_type, patient, walk_in
):
    client = Client()
    client.force_login(patient)
    start = paris(24, 10).isoformat()

    for url in (
        reverse("appointments:book"),
        reverse("appointments:book_type", args=[schedule.pk]),
        reverse("appointments:book_slot", args=[schedule.pk, video_type.pk]),
    ):
        assert client.get(url, {"patient": walk_in.pk}).status_code == 404, url
    assert client.get(details_url(schedule, video_type), {"start": start, "patient": walk_in.pk}).status_code == 404
    response = client.post(
        details_url(schedule, video_type), {"starts_at": start, "step": "book", "patient": walk_in.pk}
    )

    assert response.status_code == 404
    assert not Appointment.objects.exists()
    assert AuditEvent.objects.filter(
        actor=patient, action="appointments.appointment.book", outcome=Outcome.DENIED, patient=walk_in
    ).exists()
    # Naming themselves changes nothing: the patient's own booking still works.
    assert client.get(reverse("appointments:book"), {"patient": patient.pk}).status_code == 200


def test_a_proxy_cannot_book_for_anyone_but_the_patient_they_act_for(
    frozen_monday, schedule, video_type, patient, proxy, walk_in
):
    client = Client()
    client.force_login(proxy)
    client.post(reverse("accounts:proxy_switch"), {"patient_id": patient.pk})
    start = paris(24, 10).isoformat()

    refused = client.post(
        details_url(schedule, video_type), {"starts_at": start, "step": "book", "patient": walk_in.pk}
    )
    page = client.get(reverse("appointments:book"))

    assert refused.status_code == 404
    assert not Appointment.objects.exists()
    assert page.status_code == 200
    assert "Booking for" not in html(page)


def test_a_slot_taken_meanwhile_shows_the_error_to_staff_and_keeps_the_patient(
    frozen_monday, schedule, video_type, nurse, patient, walk_in
):
    appointment_book(
        actor=patient, patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(24, 10)
    )
    client = staff_client(nurse)

    response = client.post(
        details_url(schedule, video_type),
        {"starts_at": paris(24, 10).isoformat(), "step": "book", "patient": walk_in.pk},
    )

    assert response.status_code == 409
    assert "Someone has just booked this time" in html(response)
    assert "Choose a time" in html(response)
    assert "Booking for <strong>Wendy Walk-in</strong>" in html(response)
    assert f"&amp;patient={walk_in.pk}" in html(response)
    assert not Appointment.objects.filter(patient=walk_in).exists()


def test_the_find_form_carries_a_csrf_token(schedule, nurse):
    client = staff_client(nurse)
    for url in (reverse("appointments:front_desk"), reverse("appointments:day")):
        page = html(client.get(url))
        [form] = re.findall(r'<section class="book-for".*?<form[^>]*method="post"[^>]*>(.*?)</form>', page, flags=re.S)
        assert "csrfmiddlewaretoken" in form, url
