"""POST /api/v1/appointments/: booking for oneself, as a proxy, and at the front desk."""

from __future__ import annotations

import pytest

from appointments.models import Appointment
from appointments.tests.api.conftest import assert_error
from appointments.tests.factories import AppointmentTypeFactory

pytestmark = pytest.mark.django_db

APPOINTMENTS = "/api/v1/appointments/"


def _body(provider, kind, starts_at="2026-11-24T10:00:00+01:00", **extra):
    return {"provider": provider.pk, "type": kind.pk, "starts_at": starts_at, **extra}


class TestBook:
    def test_a_patient_books_a_free_slot(self, frozen_monday, as_user, patient, schedule, video_type):
        response = as_user(patient).post(APPOINTMENTS, _body(schedule, video_type, reason="Sore throat"))

        assert response.status_code == 201, response.content
        body = response.json()
        appointment = Appointment.objects.get(pk=body["id"])
        assert appointment.patient == patient
        assert appointment.booked_by == patient
        assert body == {
            "id": appointment.pk,
            "patient": {"id": patient.pk, "name": patient.full_name},
            "provider": {"id": schedule.pk, "name": schedule.full_name},
            "type": {"id": video_type.pk, "name": video_type.name, "modality": "video"},
            "starts_at": "2026-11-24T09:00:00Z",
            "ends_at": "2026-11-24T09:20:00Z",
            "status": "confirmed",
            "reason": "Sore throat",
            "links": {
                "self": f"http://testserver/api/v1/appointments/{appointment.pk}/",
                "ics": f"http://testserver/api/v1/appointments/{appointment.pk}/ics/",
            },
        }

    def test_a_slot_from_the_slots_endpoint_books_as_is(self, frozen_monday, as_user, patient, schedule, video_type):
        client = as_user(patient)
        slot = client.get(
            "/api/v1/slots/", {"provider": schedule.pk, "type": video_type.pk, "tz": "Asia/Tokyo"}
        ).json()["slots"][3]

        response = client.post(APPOINTMENTS, _body(schedule, video_type, slot["starts_at"]))

        assert response.status_code == 201, response.content

    def test_a_proxy_books_for_the_patient_they_act_for(
        self, frozen_monday, as_user, proxy, patient, schedule, video_type
    ):
        response = as_user(proxy).post(APPOINTMENTS, _body(schedule, video_type, patient=patient.pk))

        assert response.status_code == 201, response.content
        appointment = Appointment.objects.get(pk=response.json()["id"])
        assert (appointment.patient, appointment.booked_by) == (patient, proxy)

    def test_a_patient_naming_another_patient_gets_not_found(
        self, frozen_monday, as_user, patient, outsider_patient, schedule, video_type
    ):
        response = as_user(outsider_patient).post(APPOINTMENTS, _body(schedule, video_type, patient=patient.pk))

        assert_error(response, 404, "not_found")
        assert not Appointment.objects.exists()

    def test_a_patient_whose_email_is_unverified_is_refused(
        self, frozen_monday, as_user, outsider_patient, schedule, video_type
    ):
        assert_error(
            as_user(outsider_patient).post(APPOINTMENTS, _body(schedule, video_type)), 403, "appointments_forbidden"
        )

    def test_the_front_desk_books_for_a_named_patient(
        self, frozen_monday, as_user, nurse, patient, schedule, video_type
    ):
        response = as_user(nurse).post(APPOINTMENTS, _body(schedule, video_type, patient=patient.pk))

        assert response.status_code == 201, response.content
        assert Appointment.objects.get().booked_by == nurse

    def test_staff_must_name_the_patient(self, frozen_monday, as_user, nurse, schedule, video_type):
        body = assert_error(as_user(nurse).post(APPOINTMENTS, _body(schedule, video_type)), 400, "invalid")

        assert list(body["fields"]) == ["patient"]

    def test_staff_naming_a_non_patient_get_not_found(
        self, frozen_monday, as_user, nurse, doctor, schedule, video_type
    ):
        assert_error(
            as_user(nurse).post(APPOINTMENTS, _body(schedule, video_type, patient=doctor.pk)), 404, "not_found"
        )

    def test_a_taken_slot_is_a_conflict(self, frozen_monday, as_user, patient, proxy, schedule, video_type, booked):
        booked(24, 10, who=proxy)

        response = as_user(patient).post(APPOINTMENTS, _body(schedule, video_type))

        assert_error(response, 409, "slot_taken")

    def test_a_time_that_is_not_a_slot_is_unavailable(self, frozen_monday, as_user, patient, schedule, video_type):
        response = as_user(patient).post(APPOINTMENTS, _body(schedule, video_type, "2026-11-24T10:10:00+01:00"))

        assert_error(response, 400, "slot_unavailable")

    def test_a_time_without_an_offset_is_invalid(self, frozen_monday, as_user, patient, schedule, video_type):
        response = as_user(patient).post(APPOINTMENTS, _body(schedule, video_type, "2026-11-24T10:00:00"))

        body = assert_error(response, 400, "invalid")
        assert list(body["fields"]) == ["starts_at"]

    def test_missing_fields_are_listed(self, frozen_monday, as_user, patient):
        body = assert_error(as_user(patient).post(APPOINTMENTS, {}), 400, "invalid")

        assert set(body["fields"]) == {"provider", "type", "starts_at"}

    def test_a_reason_over_1000_characters_is_invalid(self, frozen_monday, as_user, patient, schedule, video_type):
        response = as_user(patient).post(APPOINTMENTS, _body(schedule, video_type, reason="x" * 1001))

        assert list(assert_error(response, 400, "invalid")["fields"]) == ["reason"]

    def test_an_unknown_provider_or_type_is_not_found(self, frozen_monday, as_user, patient, schedule, video_type):
        client = as_user(patient)
        retired = AppointmentTypeFactory(active=False)

        assert_error(client.post(APPOINTMENTS, {**_body(schedule, video_type), "provider": 999_999}), 404, "not_found")
        assert_error(client.post(APPOINTMENTS, _body(schedule, retired)), 404, "not_found")

    def test_anonymous_callers_must_authenticate(self, api, schedule, video_type):
        assert_error(api.post(APPOINTMENTS, _body(schedule, video_type), format="json"), 401, "not_authenticated")

    def test_staff_without_a_second_factor_are_refused(self, frozen_monday, api, nurse, patient, schedule, video_type):
        api.force_login(nurse)

        response = api.post(APPOINTMENTS, _body(schedule, video_type, patient=patient.pk), format="json")

        assert_error(response, 403, "otp_required")
