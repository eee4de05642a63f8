"""Listing appointments, one appointment, and its lifecycle: cancel, reschedule, status, .ics."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import VerifiedPatientFactory
from appointments.models import Appointment
from appointments.tests.api.conftest import assert_error
from appointments.tests.conftest import paris

pytestmark = pytest.mark.django_db

APPOINTMENTS = "/api/v1/appointments/"


def _url(appointment, suffix: str = "") -> str:
    return f"{APPOINTMENTS}{appointment.pk}/{suffix}"


class TestList:
    def test_a_patient_lists_their_own_appointments_with_reasons(self, as_user, patient, proxy, booked):
        mine = [booked(24, 10), booked(25, 9)]
        booked(24, 11, who=proxy)

        body = as_user(patient).get(APPOINTMENTS).json()

        assert body["count"] == 2
        assert [item["id"] for item in body["results"]] == [a.pk for a in mine]
        assert body["results"][0]["reason"] == "Persistent cough"

    def test_a_proxy_lists_the_patients_appointments(self, as_user, patient, proxy, booked):
        appointment = booked(24, 10)

        body = as_user(proxy).get(APPOINTMENTS, {"patient": patient.pk}).json()

        assert [item["id"] for item in body["results"]] == [appointment.pk]

    def test_a_patient_naming_another_patient_gets_not_found(self, as_user, patient, booked):
        booked(24, 10)
        stranger = VerifiedPatientFactory()

        assert_error(as_user(stranger).get(APPOINTMENTS, {"patient": patient.pk}), 404, "not_found")

    def test_filters_by_dates_and_status(self, as_user, patient, booked, verified, doctor):
        first, second, third = booked(24, 10), booked(26, 10), booked(28, 10)
        from appointments.services import appointment_cancel

        appointment_cancel(actor=patient, appointment=third)
        client = as_user(patient)

        by_dates = client.get(APPOINTMENTS, {"from": "2026-11-25", "to": "2026-11-28", "tz": "Europe/Paris"}).json()
        by_status = client.get(APPOINTMENTS, {"status": ["confirmed"]}).json()
        cancelled = client.get(APPOINTMENTS, {"status": "cancelled"}).json()

        assert [item["id"] for item in by_dates["results"]] == [second.pk, third.pk]
        assert [item["id"] for item in by_status["results"]] == [first.pk, second.pk]
        assert [item["id"] for item in cancelled["results"]] == [third.pk]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"status": "lost"}, "status"),
            ({"from": "2026-11-30", "to": "2026-11-23"}, "to"),
            ({"from": "tomorrow"}, "from"),
            ({"tz": "Nowhere/Land"}, "tz"),
            ({"patient": "me"}, "patient"),
        ],
    )
    def test_invalid_filters_are_refused(self, frozen_monday, as_user, patient, params, field):
        body = assert_error(as_user(patient).get(APPOINTMENTS, params), 400, "invalid")

        assert list(body["fields"]) == [field]

    def test_pages_hold_page_size_items(self, as_user, patient, booked):
        for day in range(24, 29):
            booked(day, 10)
        client = as_user(patient)

        first = client.get(APPOINTMENTS, {"page_size": 2}).json()
        last = client.get(APPOINTMENTS, {"page_size": 2, "page": 3}).json()

        assert first["count"] == 5
        assert len(first["results"]) == 2
        assert first["next"].endswith("page=2&page_size=2")
        assert first["previous"] is None
        assert len(last["results"]) == 1
        assert last["next"] is None

    def test_the_front_desk_sees_every_appointment_in_its_window_but_no_reasons(
        self, as_user, nurse, patient, proxy, booked
    ):
        ours = [booked(24, 10), booked(24, 11, who=proxy)]
        booked(30, 10)  # after `to`

        body = as_user(nurse).get(APPOINTMENTS, {"to": "2026-11-29"}).json()

        assert [item["id"] for item in body["results"]] == [a.pk for a in ours]
        assert all("reason" not in item for item in body["results"])

    def test_the_provider_sees_the_reasons_of_their_own_appointments(self, as_user, doctor, booked):
        appointment = booked(24, 10)

        body = as_user(doctor).get(APPOINTMENTS, {"provider": doctor.pk}).json()

        assert [item["id"] for item in body["results"]] == [appointment.pk]
        assert body["results"][0]["reason"] == "Persistent cough"

    def test_staff_filter_by_patient_and_default_to_two_weeks_from_today(self, as_user, nurse, patient, proxy, booked):
        mine = booked(24, 10)
        booked(24, 11, who=proxy)
        booked(26, 10)
        later = dt.datetime(2026, 12, 7, 10, tzinfo=paris(23, 0).tzinfo)

        from appointments.services import appointment_book

        appointment_book(
            actor=patient,
            patient=patient,
            provider=mine.provider,
            appointment_type=mine.appointment_type,
            starts_at=later,
        )

        body = as_user(nurse).get(APPOINTMENTS, {"patient": patient.pk, "tz": "Europe/Paris"}).json()

        # Today (23 Nov) through 6 December: the 7 December one is outside.
        assert [item["starts_at"][:10] for item in body["results"]] == ["2026-11-24", "2026-11-26"]

    def test_the_query_count_does_not_grow_with_the_number_of_appointments(
        self, as_user, patient, nurse, booked, django_assert_max_num_queries
    ):
        booked(24, 10)
        few = {}
        for user in (patient, nurse):
            as_user(user).get(APPOINTMENTS)  # warm-up: content types and the like
            with CaptureQueriesContext(connection) as queries:
                as_user(user).get(APPOINTMENTS)
            # Counted now: the log that the context slices is reset by every later request.
            few[user.pk] = len(queries)
        for day in range(25, 30):
            booked(day, 10)
            booked(day, 11)

        for user in (patient, nurse):
            with django_assert_max_num_queries(few[user.pk]):
                assert as_user(user).get(APPOINTMENTS).json()["count"] == 11
            assert few[user.pk] <= 10

    def test_anonymous_callers_must_authenticate(self, api, db):
        assert_error(api.get(APPOINTMENTS), 401, "not_authenticated")


class TestDetail:
    def test_the_patient_and_the_proxy_see_it_with_the_reason(self, as_user, patient, proxy, booked):
        appointment = booked(24, 10)

        for user in (patient, proxy):
            body = as_user(user).get(_url(appointment)).json()
            assert body["id"] == appointment.pk
            assert body["reason"] == "Persistent cough"

    def test_staff_with_the_chart_see_the_reason_and_the_front_desk_does_not(
        self, as_user, doctor, nurse, admin, booked
    ):
        appointment = booked(24, 10)

        assert as_user(doctor).get(_url(appointment)).json()["reason"] == "Persistent cough"
        assert as_user(nurse).get(_url(appointment)).json()["reason"] == "Persistent cough"
        admin_view = as_user(admin).get(_url(appointment))
        assert admin_view.status_code == 200
        assert "reason" not in admin_view.json()

    def test_another_patient_gets_not_found(self, as_user, outsider_patient, booked):
        appointment = booked(24, 10)

        assert_error(as_user(outsider_patient).get(_url(appointment)), 404, "not_found")
        assert_error(as_user(outsider_patient).get(f"{APPOINTMENTS}999999/"), 404, "not_found")

    def test_anonymous_callers_must_authenticate(self, api, booked):
        assert_error(api.get(_url(booked(24, 10))), 401, "not_authenticated")


class TestCancel:
    def test_the_patient_cancels_with_a_reason(self, as_user, patient, booked):
        appointment = booked(24, 10)

        response = as_user(patient).post(_url(appointment, "cancel/"), {"reason": "Feeling better"})

        assert response.status_code == 200, response.content
        assert response.json()["status"] == "cancelled"
        appointment.refresh_from_db()
        assert appointment.cancellation_reason == "Feeling better"

    def test_a_proxy_cancels_for_the_patient(self, as_user, proxy, booked):
        appointment = booked(24, 10)

        assert as_user(proxy).post(_url(appointment, "cancel/"), {}).json()["status"] == "cancelled"

    def test_the_patient_cannot_cancel_inside_the_window(self, as_user, patient, booked):
        appointment = booked(23, 11)

        assert_error(as_user(patient).post(_url(appointment, "cancel/"), {}), 409, "cancellation_window_passed")

    def test_the_front_desk_can_cancel_inside_the_window(self, as_user, nurse, booked):
        appointment = booked(23, 11)

        assert as_user(nurse).post(_url(appointment, "cancel/"), {}).json()["status"] == "cancelled"

    def test_cancelling_twice_is_a_conflict(self, as_user, patient, booked):
        appointment = booked(24, 10)
        client = as_user(patient)
        client.post(_url(appointment, "cancel/"), {})

        assert_error(client.post(_url(appointment, "cancel/"), {}), 409, "invalid_transition")

    def test_another_patient_gets_not_found(self, as_user, outsider_patient, booked):
        appointment = booked(24, 10)

        assert_error(as_user(outsider_patient).post(_url(appointment, "cancel/"), {}), 404, "not_found")
        appointment.refresh_from_db()
        assert appointment.status == Appointment.Status.CONFIRMED


class TestReschedule:
    def test_the_patient_moves_to_another_free_slot(self, as_user, patient, booked):
        appointment = booked(24, 10)

        response = as_user(patient).post(_url(appointment, "reschedule/"), {"starts_at": "2026-11-25T11:30:00+01:00"})

        assert response.status_code == 200, response.content
        assert response.json()["starts_at"] == "2026-11-25T10:30:00Z"

    def test_a_taken_slot_is_a_conflict(self, as_user, patient, proxy, booked):
        appointment = booked(24, 10)
        booked(25, 10, who=proxy)

        response = as_user(patient).post(_url(appointment, "reschedule/"), {"starts_at": "2026-11-25T10:00:00+01:00"})

        assert_error(response, 409, "slot_taken")

    def test_a_time_that_is_not_a_slot_is_unavailable(self, as_user, patient, booked):
        appointment = booked(24, 10)

        response = as_user(patient).post(_url(appointment, "reschedule/"), {"starts_at": "2026-11-25T13:00:00+01:00"})

        assert_error(response, 400, "slot_unavailable")

    def test_a_missing_time_is_invalid(self, as_user, patient, booked):
        body = assert_error(as_user(patient).post(_url(booked(24, 10), "reschedule/"), {}), 400, "invalid")

        assert list(body["fields"]) == ["starts_at"]

    def test_another_patient_gets_not_found(self, as_user, outsider_patient, booked):
        appointment = booked(24, 10)

        response = as_user(outsider_patient).post(
            _url(appointment, "reschedule/"), {"starts_at": "2026-11-25T11:30:00+01:00"}
        )

        assert_error(response, 404, "not_found")


class TestStatus:
    def test_the_front_desk_checks_a_patient_in_and_the_provider_starts_and_completes(
        self, as_user, nurse, doctor, booked
    ):
        appointment = booked(24, 10)

        assert as_user(nurse).post(_url(appointment, "status/"), {"verb": "check_in"}).json()["status"] == "checked_in"
        assert as_user(doctor).post(_url(appointment, "status/"), {"verb": "start"}).json()["status"] == "in_progress"
        assert as_user(doctor).post(_url(appointment, "status/"), {"verb": "complete"}).json()["status"] == "completed"

    def test_only_the_provider_starts_the_visit(self, as_user, nurse, booked):
        appointment = booked(24, 10)

        assert_error(
            as_user(nurse).post(_url(appointment, "status/"), {"verb": "start"}), 403, "appointments_forbidden"
        )

    def test_a_patient_cannot_change_the_status(self, as_user, patient, booked):
        appointment = booked(24, 10)

        assert_error(
            as_user(patient).post(_url(appointment, "status/"), {"verb": "check_in"}), 403, "appointments_forbidden"
        )

    def test_a_step_from_the_wrong_status_is_a_conflict(self, as_user, nurse, booked):
        appointment = booked(24, 10)

        assert_error(as_user(nurse).post(_url(appointment, "status/"), {"verb": "confirm"}), 409, "invalid_transition")

    def test_no_show_only_after_the_start(self, as_user, nurse, booked):
        appointment = booked(24, 10)

        assert_error(as_user(nurse).post(_url(appointment, "status/"), {"verb": "no_show"}), 400, "too_early")
        with time_machine.travel(paris(24, 10, 30), tick=False):
            response = as_user(nurse).post(_url(appointment, "status/"), {"verb": "no_show"})
        assert response.json()["status"] == "no_show"

    def test_an_unknown_verb_is_invalid(self, as_user, nurse, booked):
        body = assert_error(as_user(nurse).post(_url(booked(24, 10), "status/"), {"verb": "teleport"}), 400, "invalid")

        assert list(body["fields"]) == ["verb"]

    def test_another_patient_gets_not_found(self, as_user, outsider_patient, booked):
        response = as_user(outsider_patient).post(_url(booked(24, 10), "status/"), {"verb": "check_in"})

        assert_error(response, 404, "not_found")


class TestIcs:
    def test_the_patient_downloads_the_calendar_file(self, as_user, patient, booked):
        appointment = booked(24, 10)

        response = as_user(patient).get(_url(appointment, "ics/"))

        assert response.status_code == 200
        assert response["Content-Type"] == "text/calendar; charset=utf-8"
        assert response["Content-Disposition"] == f'attachment; filename="appointment-{appointment.pk}.ics"'
        body = response.content.decode()
        assert "BEGIN:VEVENT" in body
        assert "DTSTART:20261124T090000Z" in body
        # No health details in a calendar file.
        assert "cough" not in body.lower()

    def test_a_client_asking_for_text_calendar_gets_it(self, as_user, patient, booked):
        response = as_user(patient).get(_url(booked(24, 10), "ics/"), HTTP_ACCEPT="text/calendar")

        assert response.status_code == 200
        assert response.content.startswith(b"BEGIN:VCALENDAR")

    def test_a_cancelled_appointment_is_a_cancel_calendar(self, as_user, patient, booked):
        appointment = booked(24, 10)
        client = as_user(patient)
        client.post(_url(appointment, "cancel/"), {})

        body = client.get(_url(appointment, "ics/")).content.decode()

        assert "METHOD:CANCEL" in body
        assert "STATUS:CANCELLED" in body

    def test_another_patient_gets_not_found_as_json(self, as_user, outsider_patient, booked):
        response = as_user(outsider_patient).get(_url(booked(24, 10), "ics/"), HTTP_ACCEPT="text/calendar")

        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json()["code"] == "not_found"
