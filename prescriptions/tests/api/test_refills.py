"""Refill requests through the API: the patient's side asks, the doctor's queue lists, the
prescriber approves (a new signed prescription replacing the old) or declines."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from prescriptions.models import Prescription, PrescriptionStatus, RefillRequest, RefillStatus
from prescriptions.services.prescribing import prescription_cancel, prescription_create
from prescriptions.services.refills import refill_request_create, refill_request_decline
from prescriptions.tests.api.conftest import rx_url
from prescriptions.tests.conftest import AMOXICILLIN
from records.tests.api.conftest import assert_error, denied

pytestmark = pytest.mark.django_db

LIST = "/api/v1/refill-requests/"
OUTSIDERS = ["outsider_patient", "outsider_doctor", "admin"]


def refill_url(refill, verb: str) -> str:
    return f"/api/v1/refill-requests/{refill.pk}/{verb}/"


@pytest.fixture
def refill(patient, signed):
    return refill_request_create(actor=patient, prescription=signed, note="Two tablets left")


class TestAsking:
    @pytest.mark.parametrize("persona", ["patient", "proxy"])
    def test_the_patients_side_asks_for_a_refill(self, request, as_user, patient, signed, persona):
        user = request.getfixturevalue(persona)

        response = as_user(user).post(rx_url(signed, "refill-requests/"), {"note": "Running low"})

        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["status"], body["note"], body["prescription"]["id"]) == ("open", "Running low", signed.pk)
        assert (body["patient"]["id"], body["requested_by"]["id"]) == (patient.pk, user.pk)

    def test_a_second_request_while_one_is_open_is_refused(self, as_user, patient, signed, refill):
        response = as_user(patient).post(rx_url(signed, "refill-requests/"), {"note": "Again"})

        body = assert_error(response, 409, "refill_request_open")
        assert "already waiting" in body["detail"]
        assert RefillRequest.objects.count() == 1

    @pytest.mark.parametrize("persona", ["nurse", "doctor"])
    def test_clinicians_do_not_ask(self, request, as_user, signed, persona):
        client = as_user(request.getfixturevalue(persona))

        assert_error(client.post(rx_url(signed, "refill-requests/"), {}), 403, "prescriptions_forbidden")

    @pytest.mark.parametrize("persona", OUTSIDERS)
    def test_outsiders_get_not_found(self, request, as_user, signed, persona):
        user = request.getfixturevalue(persona)

        assert_error(as_user(user).post(rx_url(signed, "refill-requests/"), {}), 404, "not_found")
        assert denied(user, action="prescriptions.refill.request")
        assert not RefillRequest.objects.exists()


class TestLists:
    def test_the_doctors_queue_lists_open_requests(self, doctor_api, patient, refill):
        response = doctor_api.get(LIST)

        assert response.status_code == 200, response.content
        [row] = response.json()["results"]
        assert (row["id"], row["status"], row["note"], row["patient"]["name"]) == (
            refill.pk,
            "open",
            "Two tablets left",
            "Pat Patient",
        )
        assert [item["medication"] for item in row["prescription"]["items"]] == ["Atorvastatin"]

    def test_the_patient_sees_a_declined_request_with_the_reason(self, as_user, patient, prescriber, refill):
        refill_request_decline(actor=prescriber, refill=refill, reason="Book a review first")

        [row] = as_user(patient).get(LIST).json()["results"]

        assert (row["status"], row["decline_reason"]) == ("declined", "Book a review first")

    def test_the_patients_list_costs_the_same_queries_however_long_it_is(
        self, as_user, patient, prescriber, refill, sign
    ):
        client = as_user(patient)
        client.get(LIST)
        with CaptureQueriesContext(connection) as one:
            assert client.get(LIST).json()["count"] == 1
        for _ in range(2):
            more = sign(
                prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN]), override_reason="Intended"
            )
            refill_request_create(actor=patient, prescription=more)

        with CaptureQueriesContext(connection) as three:
            assert client.get(LIST).json()["count"] == 3

        assert len(three.captured_queries) == len(one.captured_queries)

    def test_a_nurse_names_the_patient(self, as_user, nurse, patient, refill):
        client = as_user(nurse)

        assert_error(client.get(LIST), 400, "invalid")
        assert [row["id"] for row in client.get(LIST, {"patient": patient.pk}).json()["results"]] == [refill.pk]

    @pytest.mark.parametrize("persona", OUTSIDERS)
    def test_outsiders_naming_the_patient_get_not_found(self, request, as_user, patient, refill, persona):
        user = request.getfixturevalue(persona)

        assert_error(as_user(user).get(LIST, {"patient": patient.pk}), 404, "not_found")
        assert denied(user, action="prescriptions.refill_requests.view")


class TestAnswering:
    def test_approval_issues_a_signed_prescription_that_replaces_the_old(
        self, doctor_api, signed, refill, authenticator
    ):
        code = authenticator.code()
        with authenticator.signing():
            response = doctor_api.post(refill_url(refill, "approve"), {"otp_code": code})

        assert response.status_code == 201, response.content
        new = response.json()
        assert (new["status"], new["state"], new["supersedes"]) == ("signed", "valid", signed.pk)
        old = doctor_api.get(rx_url(signed)).json()
        assert (old["status"], old["state"], old["superseded_by"]) == ("superseded", "superseded", new["id"])
        refill.refresh_from_db()
        assert (refill.status, refill.new_prescription_id) == (RefillStatus.APPROVED, new["id"])

    def test_approval_needs_a_fresh_code(self, doctor_api, refill):
        assert_error(doctor_api.post(refill_url(refill, "approve"), {}), 400, "otp_code_required")

        refill.refresh_from_db()
        assert refill.status == RefillStatus.OPEN
        assert Prescription.objects.count() == 1

    def test_approval_with_warnings_answers_them_and_signs_nothing(
        self, doctor_api, patient, prescriber, chart, sign, authenticator
    ):
        old = sign(
            prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN]), override_reason="Tolerated"
        )
        refill = refill_request_create(actor=patient, prescription=old)
        code = authenticator.code()
        with authenticator.signing():
            response = doctor_api.post(refill_url(refill, "approve"), {"otp_code": code})

        body = assert_error(response, 409, "prescription_warnings_unacknowledged")
        assert any(warning["kind"] == "allergy" for warning in body["warnings"])
        assert Prescription.objects.filter(status=PrescriptionStatus.SIGNED).count() == 1

    def test_declining_gives_the_patient_a_reason(self, doctor_api, refill):
        response = doctor_api.post(refill_url(refill, "decline"), {"reason": "Book a review first"})

        assert response.status_code == 200, response.content
        assert (response.json()["status"], response.json()["decline_reason"]) == ("declined", "Book a review first")

    def test_a_decline_says_why(self, doctor_api, refill):
        body = assert_error(doctor_api.post(refill_url(refill, "decline"), {}), 400, "invalid")

        assert set(body["fields"]) == {"reason"}

    def test_a_request_is_answered_once(self, doctor_api, prescriber, refill):
        refill_request_decline(actor=prescriber, refill=refill, reason="No")

        assert_error(doctor_api.post(refill_url(refill, "decline"), {"reason": "No"}), 409, "refill_request_decided")

    def test_the_patient_cannot_approve(self, as_user, patient, refill):
        response = as_user(patient).post(refill_url(refill, "approve"), {"otp_code": "123456"})

        assert_error(response, 403, "prescriptions_forbidden")

    @pytest.mark.parametrize("persona", OUTSIDERS)
    @pytest.mark.parametrize("verb", ["approve", "decline"])
    def test_outsiders_get_not_found(self, request, as_user, refill, persona, verb):
        user = request.getfixturevalue(persona)

        response = as_user(user).post(refill_url(refill, verb), {"otp_code": "123456", "reason": "No"})

        assert_error(response, 404, "not_found")
        assert denied(user, action=f"prescriptions.refill.{verb}")
        refill.refresh_from_db()
        assert refill.status == RefillStatus.OPEN


def test_an_unknown_refill_request_is_not_found(doctor_api):
    assert_error(doctor_api.post("/api/v1/refill-requests/999999/decline/", {"reason": "No"}), 404, "not_found")


def test_the_refill_of_a_cancelled_prescription_is_refused(as_user, patient, prescriber, signed):
    prescription_cancel(actor=prescriber, prescription=signed, reason="Stopped")

    assert_error(as_user(patient).post(rx_url(signed, "refill-requests/"), {}), 409, "prescription_not_active")
