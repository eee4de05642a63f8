"""The waitlist over the API: join, list, leave, and the offers of freed slots."""

from __future__ import annotations

import pytest

from appointments.models import Appointment, WaitlistEntry, WaitlistOffer
from appointments.tests.api.conftest import assert_error
from appointments.tests.conftest import paris
from appointments.tests.factories import WaitlistEntryFactory, WaitlistOfferFactory

pytestmark = pytest.mark.django_db

WAITLIST = "/api/v1/waitlist/"


def _join(provider, kind, **extra):
    return {
        "provider": provider.pk,
        "type": kind.pk,
        "earliest_date": "2026-11-24",
        "latest_date": "2026-11-30",
        **extra,
    }


@pytest.fixture
def offer(patient, schedule, video_type):
    """A pending offer to `patient` of Tuesday 10:00 with `doctor`, held for two hours."""
    entry = WaitlistEntryFactory(
        patient=patient, provider=schedule, appointment_type=video_type, status=WaitlistEntry.Status.OFFERED
    )
    return WaitlistOfferFactory(entry=entry, starts_at=paris(24, 10), ends_at=paris(24, 10, 20))


class TestJoinAndList:
    def test_a_patient_joins_and_sees_the_entry(self, as_user, patient, schedule, video_type):
        client = as_user(patient)

        response = client.post(WAITLIST, _join(schedule, video_type))

        assert response.status_code == 201, response.content
        entry = response.json()
        assert entry["status"] == "waiting"
        assert entry["patient"] == {"id": patient.pk, "name": patient.full_name}
        assert (entry["earliest_date"], entry["latest_date"]) == ("2026-11-24", "2026-11-30")
        listed = client.get(WAITLIST).json()
        assert [item["id"] for item in listed["results"]] == [entry["id"]]

    def test_joining_again_moves_the_dates_of_the_same_entry(self, as_user, patient, schedule, video_type):
        client = as_user(patient)
        first = client.post(WAITLIST, _join(schedule, video_type)).json()

        again = client.post(WAITLIST, _join(schedule, video_type, latest_date="2026-12-05")).json()

        assert again["id"] == first["id"]
        assert again["latest_date"] == "2026-12-05"

    def test_a_proxy_joins_and_lists_for_the_patient(self, as_user, proxy, patient, schedule, video_type):
        client = as_user(proxy)

        response = client.post(WAITLIST, _join(schedule, video_type, patient=patient.pk))

        assert response.status_code == 201, response.content
        assert WaitlistEntry.objects.get().patient == patient
        assert client.get(WAITLIST, {"patient": patient.pk}).json()["count"] == 1
        assert client.get(WAITLIST).json()["count"] == 0

    def test_a_patient_naming_another_patient_gets_not_found(
        self, as_user, patient, outsider_patient, schedule, video_type
    ):
        client = as_user(outsider_patient)

        assert_error(client.post(WAITLIST, _join(schedule, video_type, patient=patient.pk)), 404, "not_found")
        assert_error(client.get(WAITLIST, {"patient": patient.pk}), 404, "not_found")
        assert not WaitlistEntry.objects.exists()

    def test_dates_in_the_past_are_refused(self, as_user, patient, schedule, video_type):
        response = as_user(patient).post(WAITLIST, _join(schedule, video_type, earliest_date="2026-11-01"))

        assert_error(response, 400, "waitlist_dates_invalid")

    def test_missing_fields_are_listed(self, as_user, patient):
        body = assert_error(as_user(patient).post(WAITLIST, {}), 400, "invalid")

        assert set(body["fields"]) == {"provider", "type", "earliest_date", "latest_date"}

    def test_an_unknown_provider_is_not_found(self, as_user, patient, schedule, video_type):
        response = as_user(patient).post(WAITLIST, {**_join(schedule, video_type), "provider": 999_999})

        assert_error(response, 404, "not_found")

    def test_staff_use_the_front_desk_instead(self, as_user, nurse, patient, schedule, video_type):
        client = as_user(nurse)

        assert_error(client.get(WAITLIST), 403, "patients_only")
        assert_error(client.post(WAITLIST, _join(schedule, video_type, patient=patient.pk)), 403, "patients_only")

    def test_anonymous_callers_must_authenticate(self, api, db):
        assert_error(api.get(WAITLIST), 401, "not_authenticated")


class TestLeave:
    def test_the_patient_leaves(self, as_user, patient, schedule, video_type):
        entry = WaitlistEntryFactory(patient=patient, provider=schedule, appointment_type=video_type)
        client = as_user(patient)

        assert client.get(f"{WAITLIST}{entry.pk}/").json()["status"] == "waiting"
        response = client.delete(f"{WAITLIST}{entry.pk}/")

        assert response.status_code == 204
        entry.refresh_from_db()
        assert entry.status == WaitlistEntry.Status.LEFT

    def test_leaving_withdraws_a_pending_offer(self, as_user, patient, offer):
        as_user(patient).delete(f"{WAITLIST}{offer.entry.pk}/")

        offer.refresh_from_db()
        assert offer.status == WaitlistOffer.Status.WITHDRAWN

    def test_someone_else_gets_not_found(self, as_user, patient, outsider_patient, nurse, schedule, video_type):
        entry = WaitlistEntryFactory(patient=patient, provider=schedule, appointment_type=video_type)

        for user in (outsider_patient, nurse):
            assert_error(as_user(user).delete(f"{WAITLIST}{entry.pk}/"), 404, "not_found")
            assert_error(as_user(user).get(f"{WAITLIST}{entry.pk}/"), 404, "not_found")
        entry.refresh_from_db()
        assert entry.status == WaitlistEntry.Status.WAITING


class TestOffers:
    def test_the_patient_sees_the_offer(self, as_user, patient, offer):
        body = as_user(patient).get(f"{WAITLIST}offers/{offer.pk}/").json()

        assert body["id"] == offer.pk
        assert body["status"] == "pending"
        assert body["starts_at"] == "2026-11-24T09:00:00Z"
        assert body["appointment"] is None

    def test_accepting_books_the_held_slot(self, as_user, patient, offer):
        response = as_user(patient).post(f"{WAITLIST}offers/{offer.pk}/accept/")

        assert response.status_code == 201, response.content
        appointment = Appointment.objects.get(pk=response.json()["id"])
        assert (appointment.patient, appointment.starts_at) == (patient, paris(24, 10))
        offer.refresh_from_db()
        assert (offer.status, offer.appointment) == (WaitlistOffer.Status.ACCEPTED, appointment)

    def test_a_proxy_accepts_for_the_patient(self, as_user, proxy, patient, offer):
        response = as_user(proxy).post(f"{WAITLIST}offers/{offer.pk}/accept/")

        assert response.status_code == 201, response.content
        assert Appointment.objects.get().booked_by == proxy

    def test_accepting_twice_is_a_conflict(self, as_user, patient, offer):
        client = as_user(patient)
        client.post(f"{WAITLIST}offers/{offer.pk}/accept/")

        assert_error(client.post(f"{WAITLIST}offers/{offer.pk}/accept/"), 409, "offer_not_pending")

    def test_declining_keeps_the_patient_waiting(self, as_user, patient, offer):
        response = as_user(patient).post(f"{WAITLIST}offers/{offer.pk}/decline/")

        assert response.status_code == 200, response.content
        assert response.json()["status"] == "declined"
        offer.entry.refresh_from_db()
        assert offer.entry.status == WaitlistEntry.Status.WAITING

    def test_declining_an_ended_offer_is_a_conflict(self, as_user, patient, offer):
        client = as_user(patient)
        client.post(f"{WAITLIST}offers/{offer.pk}/decline/")

        assert_error(client.post(f"{WAITLIST}offers/{offer.pk}/decline/"), 409, "offer_not_pending")

    def test_someone_else_gets_not_found(self, as_user, outsider_patient, doctor, offer):
        for user in (outsider_patient, doctor):
            client = as_user(user)
            assert_error(client.get(f"{WAITLIST}offers/{offer.pk}/"), 404, "not_found")
            assert_error(client.post(f"{WAITLIST}offers/{offer.pk}/accept/"), 404, "not_found")
            assert_error(client.post(f"{WAITLIST}offers/{offer.pk}/decline/"), 404, "not_found")
        offer.refresh_from_db()
        assert offer.status == WaitlistOffer.Status.PENDING
        assert not Appointment.objects.exists()
