"""GET /api/v1/slots/, /api/v1/providers/, /api/v1/appointment-types/."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import DoctorFactory
from appointments.tests.api.conftest import assert_error
from appointments.tests.conftest import paris
from appointments.tests.factories import AppointmentTypeFactory, working_week

pytestmark = pytest.mark.django_db

SLOTS = "/api/v1/slots/"


def _query(provider, kind, **extra):
    return {"provider": [provider.pk], "type": kind.pk, **extra}


class TestSlots:
    def test_a_patient_sees_free_slots_in_their_time_zone(self, frozen_monday, as_user, patient, schedule, video_type):
        response = as_user(patient).get(
            SLOTS, _query(schedule, video_type, **{"from": "2026-11-23", "to": "2026-11-23", "tz": "Europe/Paris"})
        )

        assert response.status_code == 200, response.content
        body = response.json()
        assert body["time_zone"] == "Europe/Paris"
        assert [slot["starts_at"] for slot in body["slots"]] == [
            "2026-11-23T09:30:00+01:00",
            "2026-11-23T10:00:00+01:00",
            "2026-11-23T10:30:00+01:00",
            "2026-11-23T11:00:00+01:00",
            "2026-11-23T11:30:00+01:00",
        ]
        assert body["slots"][0] == {
            "provider": schedule.pk,
            "type": video_type.pk,
            "starts_at": "2026-11-23T09:30:00+01:00",
            "ends_at": "2026-11-23T09:50:00+01:00",
        }

    def test_times_carry_the_offset_of_the_zone_asked_for(self, frozen_monday, as_user, patient, schedule, video_type):
        response = as_user(patient).get(
            SLOTS, _query(schedule, video_type, **{"from": "2026-11-24", "to": "2026-11-24", "tz": "America/New_York"})
        )

        body = response.json()
        assert body["time_zone"] == "America/New_York"
        # 09:00 in Paris is 03:00 in New York.
        assert body["slots"][0]["starts_at"] == "2026-11-24T03:00:00-05:00"

    def test_without_dates_it_shows_today_and_the_next_13_days(
        self, frozen_monday, as_user, patient, schedule, video_type
    ):
        body = as_user(patient).get(SLOTS, _query(schedule, video_type, tz="Europe/Paris")).json()

        days = sorted({slot["starts_at"][:10] for slot in body["slots"]})
        assert days[0] == "2026-11-23"
        assert days[-1] == "2026-12-06"
        assert len(days) == 14

    def test_a_booked_time_is_not_offered(self, frozen_monday, as_user, patient, schedule, video_type, booked):
        booked(24, 10)

        body = (
            as_user(patient)
            .get(
                SLOTS, _query(schedule, video_type, **{"from": "2026-11-24", "to": "2026-11-24", "tz": "Europe/Paris"})
            )
            .json()
        )

        assert "2026-11-24T10:00:00+01:00" not in [slot["starts_at"] for slot in body["slots"]]
        assert len(body["slots"]) == 5

    def test_several_providers_are_merged_in_time_order(self, frozen_monday, as_user, patient, schedule, video_type):
        other = DoctorFactory()
        working_week(other, start=paris(23, 9, 15).time(), end=paris(23, 10).time())

        body = (
            as_user(patient)
            .get(
                SLOTS,
                {"provider": [schedule.pk, other.pk], "type": video_type.pk, "from": "2026-11-24", "to": "2026-11-24"},
            )
            .json()
        )

        starts = [(slot["starts_at"], slot["provider"]) for slot in body["slots"]]
        assert starts == sorted(starts)
        assert {provider for _start, provider in starts} == {schedule.pk, other.pk}

    def test_verified_staff_see_slots_too(self, frozen_monday, as_user, nurse, schedule, video_type):
        response = as_user(nurse).get(SLOTS, _query(schedule, video_type))

        assert response.status_code == 200

    def test_staff_without_a_second_factor_are_refused(self, frozen_monday, api, nurse, schedule, video_type):
        api.force_login(nurse)

        assert_error(api.get(SLOTS, _query(schedule, video_type)), 403, "otp_required")

    def test_anonymous_callers_must_authenticate(self, api, schedule, video_type):
        assert_error(api.get(SLOTS, _query(schedule, video_type)), 401, "not_authenticated")

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"provider": []}, "provider"),
            ({"type": None}, "type"),
            ({"provider": ["abc"]}, "provider"),
            ({"from": "2026-11-30", "to": "2026-11-23"}, "to"),
            ({"from": "2026-11-23", "to": "2026-12-24"}, "to"),
            ({"from": "23/11/2026"}, "from"),
            ({"tz": "Mars/Olympus_Mons"}, "tz"),
            ({"tz": "Europe"}, "tz"),
        ],
    )
    def test_invalid_queries_are_refused_field_by_field(
        self, frozen_monday, as_user, patient, schedule, video_type, params, field
    ):
        query = {k: v for k, v in {**_query(schedule, video_type), **params}.items() if v is not None}

        body = assert_error(as_user(patient).get(SLOTS, query), 400, "invalid")

        assert list(body["fields"]) == [field]

    def test_thirty_one_days_are_allowed(self, frozen_monday, as_user, patient, schedule, video_type):
        response = as_user(patient).get(
            SLOTS, _query(schedule, video_type, **{"from": "2026-11-23", "to": "2026-12-23"})
        )

        assert response.status_code == 200

    def test_an_unknown_provider_is_not_found(self, frozen_monday, as_user, patient, schedule, video_type):
        query = {"provider": [schedule.pk, 999_999], "type": video_type.pk}

        assert_error(as_user(patient).get(SLOTS, query), 404, "not_found")

    def test_a_nurse_is_not_a_bookable_provider(self, frozen_monday, as_user, patient, nurse, video_type):
        assert_error(as_user(patient).get(SLOTS, _query(nurse, video_type)), 404, "not_found")

    def test_an_unknown_or_inactive_type_is_not_found(self, frozen_monday, as_user, patient, schedule):
        retired = AppointmentTypeFactory(active=False)

        assert_error(as_user(patient).get(SLOTS, {"provider": [schedule.pk], "type": 999_999}), 404, "not_found")
        assert_error(as_user(patient).get(SLOTS, _query(schedule, retired)), 404, "not_found")

    def test_the_query_count_does_not_grow_with_the_range(
        self, frozen_monday, as_user, patient, schedule, video_type, django_assert_max_num_queries
    ):
        client = as_user(patient)
        one_day = _query(schedule, video_type, **{"from": "2026-11-24", "to": "2026-11-24"})
        month = _query(schedule, video_type, **{"from": "2026-11-24", "to": "2026-12-24"})
        client.get(SLOTS, one_day)  # warm up: the first request loads the content types

        with CaptureQueriesContext(connection) as queries:
            assert client.get(SLOTS, one_day).status_code == 200
        # Counted now: the log that the context slices is reset by every later request.
        day_count = len(queries)
        with django_assert_max_num_queries(day_count):
            response = client.get(SLOTS, month)

        assert len(response.json()["slots"]) == 31 * 6
        assert day_count <= 10


class TestProvidersAndTypes:
    def test_a_patient_lists_the_bookable_doctors(self, as_user, patient, schedule, outsider_doctor):
        body = as_user(patient).get("/api/v1/providers/").json()

        # The outsider doctor has no profile accepting patients.
        assert body["count"] == 1
        names = {item["name"]: item for item in body["results"]}
        assert names[schedule.full_name] == {
            "id": schedule.pk,
            "name": schedule.full_name,
            "specialty": schedule.provider_profile.specialty,
            "time_zone": "Europe/Paris",
        }

    def test_a_patient_lists_the_active_types(self, as_user, patient, video_type):
        AppointmentTypeFactory(active=False)

        body = as_user(patient).get("/api/v1/appointment-types/").json()

        assert [item["id"] for item in body["results"]] == [video_type.pk]
        assert body["results"][0]["modality"] == "video"
        assert body["results"][0]["duration_minutes"] == 20

    def test_anonymous_callers_must_authenticate(self, api, db):
        assert_error(api.get("/api/v1/providers/"), 401, "not_authenticated")
        assert_error(api.get("/api/v1/appointment-types/"), 401, "not_authenticated")
