import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from icalendar import Calendar

from accounts.mfa.testing import otp_force_login
from appointments.models import CalendarFeed
from appointments.services import appointment_book, appointment_cancel, calendar_feed_reset
from appointments.tests.conftest import paris
from appointments.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

REASON = "Recurring migraines since the accident"


@pytest.fixture
def booked(frozen_monday, schedule, video_type, patient):
    return appointment_book(
        actor=patient,
        patient=patient,
        provider=schedule,
        appointment_type=video_type,
        starts_at=paris(24, 10),
        reason=REASON,
    )


def events(body: bytes) -> list:
    return list(Calendar.from_ical(body).walk("VEVENT"))


def feed_path(token: str) -> str:
    return reverse("appointments:feed", kwargs={"token": token})


def new_link(client) -> str:
    """Create (or reset) the signed-in user's link on the page; return the URL it shows once."""
    response = client.post(reverse("appointments:calendar"), {"action": "reset"})
    assert response.status_code == 200
    match = re.search(r'value="(https?://[^"]+/appointments/calendar/feed/[^"]+\.ics)"', response.content.decode())
    assert match, "the page shows the new link"
    return match.group(1)


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


# --- The .ics of one appointment ------------------------------------------------------------


def test_the_patient_downloads_their_appointment_as_a_calendar_file(client, patient, booked, settings):
    client.force_login(patient)

    response = client.get(reverse("appointments:ics", args=[booked.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="appointment-{booked.pk}.ics"'
    assert "no-store" in response["Cache-Control"]
    (event,) = events(response.content)
    assert event.decoded("dtstart") == paris(24, 10)
    assert event.decoded("dtend") == paris(24, 10, 20)
    assert str(event["uid"]) == f"appointment-{booked.pk}@{urlsplit(settings.SITE_URL).hostname}"
    assert str(event["summary"]) == "Telemed appointment"


def test_the_calendar_file_carries_no_health_details(client, patient, booked):
    client.force_login(patient)

    body = client.get(reverse("appointments:ics", args=[booked.pk])).content.decode()

    assert "migraine" not in body.lower()
    assert booked.provider.full_name not in body
    assert "Dana" not in body


def test_the_provider_downloads_it_too(client, booked):
    otp_force_login(client, booked.provider)

    response = client.get(reverse("appointments:ics", args=[booked.pk]))

    assert response.status_code == 200
    assert len(events(response.content)) == 1


def test_an_outsider_gets_404_for_someone_elses_calendar_file(client, outsider_patient, booked):
    client.force_login(outsider_patient)

    assert client.get(reverse("appointments:ics", args=[booked.pk])).status_code == 404
    assert client.get(reverse("appointments:ics", args=[booked.pk + 1000])).status_code == 404


def test_the_calendar_file_needs_a_login(client, booked):
    response = client.get(reverse("appointments:ics", args=[booked.pk]))

    assert response.status_code == 302
    assert "/login/" in response["Location"]


# --- The personal feed ----------------------------------------------------------------------


def test_the_page_explains_the_feed_and_says_it_is_off(client, patient):
    client.force_login(patient)

    page = client.get(reverse("appointments:calendar")).content.decode()

    assert "Create my calendar link" in page
    assert "Off" in page


def test_the_feed_lists_the_patients_upcoming_appointments(client, patient, booked, video_type, schedule):
    cancelled = appointment_book(
        actor=patient,
        patient=patient,
        provider=schedule,
        appointment_type=video_type,
        starts_at=paris(25, 11),
        reason=REASON,
    )
    appointment_cancel(actor=patient, appointment=cancelled)
    client.force_login(patient)
    url = new_link(client)
    client.logout()

    response = client.get(path_of(url))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Cache-Control"] == "private, max-age=300"
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["x-wr-calname"]) == "Telemed"
    listed = events(response.content)
    assert [e.decoded("dtstart") for e in listed] == [paris(24, 10)]
    assert str(listed[0]["uid"]).startswith(f"appointment-{booked.pk}@")
    assert str(listed[0]["summary"]) == "Telemed appointment"
    assert f"/appointments/{booked.pk}/" in str(listed[0]["url"])


def test_the_feed_carries_no_reason_and_no_names(client, patient, booked):
    client.force_login(patient)
    url = new_link(client)

    body = client.get(path_of(url)).content.decode()

    assert "migraine" not in body.lower()
    assert booked.provider.full_name not in body
    assert booked.patient.full_name not in body


def test_a_doctors_feed_lists_the_appointments_they_give(client, booked, outsider_patient, video_type):
    AppointmentFactory(patient=outsider_patient, provider=booked.provider, appointment_type=video_type)
    otp_force_login(client, booked.provider)
    url = new_link(client)

    listed = events(client.get(path_of(url)).content)

    assert len(listed) == 2
    assert str(listed[0]["uid"]).startswith(f"appointment-{booked.pk}@")


def test_a_patients_feed_leaves_out_other_patients(client, outsider_patient, booked):
    client.force_login(outsider_patient)
    url = new_link(client)

    assert events(client.get(path_of(url)).content) == []


def test_the_link_is_shown_once_and_only_its_hash_is_stored(client, patient):
    client.force_login(patient)
    url = new_link(client)
    token = url.rsplit("/", 1)[1].removesuffix(".ics")

    feed = CalendarFeed.objects.get(user=patient)
    assert feed.token_hash != token
    assert token not in feed.token_hash
    assert len(feed.token_hash) == 64
    assert token not in client.get(reverse("appointments:calendar")).content.decode()


def test_the_link_starts_with_the_site_url(client, patient, settings):
    settings.SITE_URL = "https://portal.example.test"
    client.force_login(patient)

    assert new_link(client).startswith("https://portal.example.test/appointments/calendar/feed/")


def test_reading_the_feed_is_remembered_and_shown(client, patient, booked):
    client.force_login(patient)
    url = new_link(client)
    assert "No calendar app has read it yet" in client.get(reverse("appointments:calendar")).content.decode()

    client.get(path_of(url))

    assert CalendarFeed.objects.get(user=patient).last_fetched_at is not None
    assert "Last read by a calendar app" in client.get(reverse("appointments:calendar")).content.decode()


def test_a_new_link_stops_the_old_one(client, patient, booked):
    client.force_login(patient)
    old = new_link(client)
    new = new_link(client)

    assert old != new
    assert client.get(path_of(old)).status_code == 404
    assert client.get(path_of(new)).status_code == 200


def test_turning_the_feed_off_makes_the_link_404(client, patient, booked):
    client.force_login(patient)
    url = new_link(client)

    response = client.post(reverse("appointments:calendar"), {"action": "revoke"})

    assert response.status_code == 302
    assert not CalendarFeed.objects.filter(user=patient).exists()
    assert client.get(path_of(url)).status_code == 404
    assert "Off" in client.get(reverse("appointments:calendar")).content.decode()


def test_an_unknown_token_is_404_and_nothing_is_recorded(client, patient):
    calendar_feed_reset(actor=patient)

    assert client.get(feed_path("made-up-token")).status_code == 404
    assert CalendarFeed.objects.get(user=patient).last_fetched_at is None


def test_a_deactivated_users_feed_is_404(client, patient, booked):
    token = calendar_feed_reset(actor=patient)
    patient.is_active = False
    patient.save(update_fields=["is_active"])

    assert client.get(feed_path(token)).status_code == 404


def test_the_feed_follows_a_cancellation(client, patient, booked, frozen_monday):
    token = calendar_feed_reset(actor=patient)
    assert len(events(client.get(feed_path(token)).content)) == 1

    appointment_cancel(actor=patient, appointment=booked)

    assert events(client.get(feed_path(token)).content) == []


def test_the_feed_drops_appointments_long_past(client, patient, booked, frozen_monday):
    token = calendar_feed_reset(actor=patient)

    frozen_monday.shift(dt.timedelta(days=40))

    assert events(client.get(feed_path(token)).content) == []


def test_the_feed_costs_the_same_few_queries_however_many_appointments(
    client, patient, booked, video_type, django_assert_num_queries
):
    token = calendar_feed_reset(actor=patient)
    with django_assert_num_queries(3):  # the feed, its appointments, the last-read time
        client.get(feed_path(token))

    for day in (26, 27, 30):
        AppointmentFactory(
            patient=patient, provider=booked.provider, appointment_type=video_type, starts_at=paris(day, 9)
        )

    with django_assert_num_queries(3):
        response = client.get(feed_path(token))
    assert len(events(response.content)) == 4
