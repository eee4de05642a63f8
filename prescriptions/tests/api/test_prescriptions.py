"""Prescriptions through the API: lists for each side, writing a draft, reading one, editing a
draft, the safety check, signing with a fresh code, cancelling, revising and the paper."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from prescriptions.models import Prescription, PrescriptionStatus, PrescriptionWarning
from prescriptions.services.dispensing import dispense_record
from prescriptions.services.prescribing import prescription_create
from prescriptions.services.refills import refill_request_create
from prescriptions.tests.api.conftest import rx_url
from prescriptions.tests.conftest import AMOXICILLIN, ATORVASTATIN
from records.tests.api.conftest import assert_error, denied

pytestmark = pytest.mark.django_db

LIST = "/api/v1/prescriptions/"
OUTSIDERS = ["outsider_patient", "outsider_doctor", "admin"]


@pytest.fixture
def amoxicillin_draft(prescriber, patient, chart):
    """A draft the safety check warns about: the patient is allergic to penicillin."""
    return prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN])


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# --- lists -------------------------------------------------------------------------------------


class TestList:
    def test_the_patient_lists_their_signed_prescriptions_without_drafts(self, as_user, patient, prescriber, signed):
        prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN])

        response = as_user(patient).get(LIST)

        assert ids(response) == [signed.pk]
        [row] = response.json()["results"]
        assert (row["status"], row["state"], row["public_id"]) == ("signed", "valid", signed.public_id)
        assert row["prescriber"] == {"id": prescriber.pk, "name": "Dr Dana Doctor"}
        assert (row["prescriber_licence"], row["refills_left"], row["open_refill_request"]) == ("GMC 7654321", 2, None)
        [item] = row["items"]
        assert (item["medication"], item["quantity"], item["dispensed"], item["remaining"], item["refills_left"]) == (
            "Atorvastatin",
            28,
            0,
            84,
            2,
        )
        assert row["pdf_url"].endswith(rx_url(signed, "pdf/"))

    def test_a_proxy_names_the_patient(self, as_user, proxy, patient, signed):
        assert ids(as_user(proxy).get(LIST, {"patient": patient.pk})) == [signed.pk]

    @pytest.mark.parametrize("persona", ["doctor", "nurse"])
    def test_clinicians_see_the_named_patients_drafts_too(self, request, as_user, patient, prescriber, signed, persona):
        draft = prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN])

        response = as_user(request.getfixturevalue(persona)).get(LIST, {"patient": patient.pk})

        assert ids(response) == [draft.pk, signed.pk]
        assert response.json()["results"][0]["state"] == "draft"

    def test_a_doctor_without_a_patient_lists_what_they_wrote(self, doctor_api, patient, prescriber, signed):
        draft = prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN])

        assert ids(doctor_api.get(LIST)) == [draft.pk, signed.pk]
        assert ids(doctor_api.get(LIST, {"status": "draft"})) == [draft.pk]

    def test_a_nurse_names_the_patient(self, as_user, nurse):
        body = assert_error(as_user(nurse).get(LIST), 400, "invalid")

        assert set(body["fields"]) == {"patient"}

    def test_the_state_shows_a_partial_dispense_and_the_open_refill_request(self, as_user, patient, signed):
        dispense_record(
            prescription=signed, dispense_code=signed.dispense_code, lines=[(1, 28)], pharmacy="P", pharmacist="Q"
        )
        refill = refill_request_create(actor=patient, prescription=signed, note="Running low")

        [row] = as_user(patient).get(LIST).json()["results"]

        assert row["state"] == "partly_dispensed"
        assert (row["items"][0]["dispensed"], row["items"][0]["remaining"]) == (28, 56)
        assert row["open_refill_request"]["id"] == refill.pk
        assert row["open_refill_request"]["note"] == "Running low"

    def test_the_list_costs_the_same_queries_however_long_it_is(self, as_user, patient, prescriber, signed, sign):
        client = as_user(patient)
        client.get(LIST)  # the first request fills per-process caches
        with CaptureQueriesContext(connection) as one:
            assert len(ids(client.get(LIST))) == 1
        for _ in range(2):
            draft = prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN, AMOXICILLIN])
            more = sign(draft, override_reason="Both intended")
            dispense_record(
                prescription=more, dispense_code=more.dispense_code, lines=[(1, 5)], pharmacy="P", pharmacist="Q"
            )
            refill_request_create(actor=patient, prescription=more)

        with CaptureQueriesContext(connection) as three:
            assert len(ids(client.get(LIST))) == 3

        assert len(three.captured_queries) == len(one.captured_queries)

    @pytest.mark.parametrize("persona", OUTSIDERS)
    def test_outsiders_get_not_found_and_are_audited(self, request, as_user, patient, signed, persona):
        user = request.getfixturevalue(persona)

        assert_error(as_user(user).get(LIST, {"patient": patient.pk}), 404, "not_found")
        assert denied(user, action="prescriptions.prescriptions.view")

    def test_anonymous_callers_are_told_to_sign_in(self, api):
        assert_error(api.get(LIST), 401, "not_authenticated")


# --- writing a draft ---------------------------------------------------------------------------


class TestCreate:
    def test_a_doctor_writes_a_draft(self, doctor_api, patient, prescriber):
        response = doctor_api.post(LIST, {"patient": patient.pk, "items": [ATORVASTATIN], "valid_days": 30})

        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["status"], body["state"], body["valid_days"], body["pdf_url"]) == ("draft", "draft", 30, None)
        assert body["patient"]["id"] == patient.pk and body["prescriber"]["id"] == prescriber.pk
        assert [(item["position"], item["medication"], item["refills"]) for item in body["items"]] == [
            (1, "Atorvastatin", 2)
        ]
        assert AuditEvent.objects.filter(
            actor=prescriber, action="prescriptions.prescription.create", target_id=str(body["id"])
        ).exists()

    @pytest.mark.parametrize("persona", ["nurse", "patient"])
    def test_only_a_doctor_prescribes(self, request, as_user, patient, persona):
        client = as_user(request.getfixturevalue(persona))

        assert_error(
            client.post(LIST, {"patient": patient.pk, "items": [ATORVASTATIN]}), 403, "prescriptions_forbidden"
        )
        assert not Prescription.objects.exists()

    @pytest.mark.parametrize("persona", OUTSIDERS)
    def test_outsiders_get_not_found_and_nothing_is_written(self, request, as_user, patient, persona):
        user = request.getfixturevalue(persona)

        assert_error(as_user(user).post(LIST, {"patient": patient.pk, "items": [ATORVASTATIN]}), 404, "not_found")
        assert denied(user, action="prescriptions.prescription.create")
        assert not Prescription.objects.exists()

    def test_bad_input_names_the_fields_of_each_item(self, doctor_api, patient):
        items = [ATORVASTATIN, dict(ATORVASTATIN, quantity=0, route="iv")]

        body = assert_error(doctor_api.post(LIST, {"patient": patient.pk, "items": items}), 400, "invalid")

        # By the item's index in `items`.
        assert set(body["fields"]["items"]) == {"1"}
        assert set(body["fields"]["items"]["1"]) == {"quantity", "route"}
        assert not Prescription.objects.exists()

    def test_a_prescription_needs_a_medicine(self, doctor_api, patient):
        body = assert_error(doctor_api.post(LIST, {"patient": patient.pk, "items": []}), 400, "invalid")

        assert set(body["fields"]) == {"items"}


# --- one prescription --------------------------------------------------------------------------


class TestOne:
    def test_the_patient_reads_a_signed_prescription_and_the_read_is_audited(self, as_user, patient, signed):
        response = as_user(patient).get(rx_url(signed))

        assert response.status_code == 200
        assert response.json()["key_fingerprint"] == signed.signing_key.fingerprint
        assert AuditEvent.objects.filter(
            actor=patient, action="prescriptions.prescription.view", outcome="success", target_id=str(signed.pk)
        ).exists()

    @pytest.mark.parametrize("persona", ["patient", "proxy"])
    def test_a_draft_is_not_found_for_the_patients_side(self, request, as_user, draft, persona):
        user = request.getfixturevalue(persona)

        assert_error(as_user(user).get(rx_url(draft)), 404, "not_found")
        assert denied(user, action="prescriptions.prescription.view")

    def test_a_nurse_reads_a_draft(self, as_user, nurse, draft):
        assert as_user(nurse).get(rx_url(draft)).json()["status"] == "draft"

    @pytest.mark.parametrize("persona", OUTSIDERS)
    def test_outsiders_get_not_found_and_are_audited(self, request, as_user, signed, persona):
        user = request.getfixturevalue(persona)

        assert_error(as_user(user).get(rx_url(signed)), 404, "not_found")
        assert denied(user, action="prescriptions.prescription.view")

    def test_an_unknown_id_is_not_found(self, doctor_api):
        assert_error(doctor_api.get("/api/v1/prescriptions/999999/"), 404, "not_found")


# --- editing a draft ---------------------------------------------------------------------------


class TestEdit:
    def test_the_author_changes_their_draft(self, doctor_api, draft):
        response = doctor_api.patch(rx_url(draft), {"valid_days": 30, "items": [dict(ATORVASTATIN, quantity=56)]})

        assert response.status_code == 200, response.content
        assert response.json()["valid_days"] == 30
        assert [item["quantity"] for item in response.json()["items"]] == [56]

    def test_what_is_not_sent_stays_as_it_is(self, doctor_api, draft):
        response = doctor_api.patch(rx_url(draft), {"valid_days": 90})

        assert [item["medication"] for item in response.json()["items"]] == ["Atorvastatin"]

    def test_a_signed_prescription_is_never_edited(self, doctor_api, signed):
        assert_error(doctor_api.patch(rx_url(signed), {"valid_days": 30}), 409, "prescription_signed")

        signed.refresh_from_db()
        assert signed.valid_days == 180

    def test_a_nurse_cannot_edit_a_draft(self, as_user, nurse, draft):
        assert_error(as_user(nurse).patch(rx_url(draft), {"valid_days": 30}), 403, "prescriptions_forbidden")


# --- the safety check --------------------------------------------------------------------------


class TestCheck:
    def test_the_check_warns_of_the_patients_penicillin_allergy(self, doctor_api, amoxicillin_draft):
        response = doctor_api.post(rx_url(amoxicillin_draft, "check/"))

        assert response.status_code == 200, response.content
        [warning] = [row for row in response.json()["warnings"] if row["kind"] == "allergy"]
        assert warning["item_position"] == 1
        assert "enicillin" in warning["message"]

    def test_no_warning_for_a_medicine_the_table_finds_no_problem_with(self, doctor_api, draft, chart):
        assert doctor_api.post(rx_url(draft, "check/")).json() == {"warnings": []}

    def test_a_nurse_cannot_run_the_check(self, as_user, nurse, draft):
        assert_error(as_user(nurse).post(rx_url(draft, "check/")), 403, "prescriptions_forbidden")


# --- signing -----------------------------------------------------------------------------------


class TestSign:
    def test_the_author_signs_with_a_fresh_code(self, doctor_api, draft, authenticator):
        code = authenticator.code()
        with authenticator.signing():
            response = doctor_api.post(rx_url(draft, "sign/"), {"otp_code": code})

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["status"], body["state"], body["prescriber_licence"]) == ("signed", "valid", "GMC 7654321")
        assert body["signed_at"] and body["valid_until"] and body["key_fingerprint"]

    def test_a_nurse_cannot_sign_a_draft_she_can_see(self, as_user, nurse, draft):
        client = as_user(nurse)
        assert client.get(rx_url(draft)).status_code == 200

        assert_error(client.post(rx_url(draft, "sign/"), {"otp_code": "123456"}), 403, "prescriptions_forbidden")
        draft.refresh_from_db()
        assert draft.status == PrescriptionStatus.DRAFT

    def test_the_patient_cannot_sign_their_own_prescription(self, as_user, patient, signed):
        response = as_user(patient).post(rx_url(signed, "sign/"), {"otp_code": "123456"})

        assert_error(response, 403, "prescriptions_forbidden")
        assert denied(patient, action="prescriptions.prescription.sign")

    def test_signing_without_a_code_is_refused(self, doctor_api, draft):
        assert_error(doctor_api.post(rx_url(draft, "sign/"), {}), 400, "otp_code_required")

        draft.refresh_from_db()
        assert draft.status == PrescriptionStatus.DRAFT

    def test_a_wrong_code_is_refused(self, doctor_api, draft, authenticator):
        code = authenticator.code()
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        with authenticator.signing():
            response = doctor_api.post(rx_url(draft, "sign/"), {"otp_code": wrong})

        assert_error(response, 400, "otp_code_invalid")
        draft.refresh_from_db()
        assert draft.status == PrescriptionStatus.DRAFT

    def test_unacknowledged_warnings_come_back_with_the_answer_and_nothing_is_signed(
        self, doctor_api, amoxicillin_draft, authenticator
    ):
        url = rx_url(amoxicillin_draft, "sign/")
        code = authenticator.code()
        with authenticator.signing():
            refused = doctor_api.post(url, {"otp_code": code})
            # The refusal did not use the code: the same one signs once a reason is given.
            signed = doctor_api.post(url, {"otp_code": code, "override_reason": "Tolerated amoxicillin in 2024"})

        body = assert_error(refused, 409, "prescription_warnings_unacknowledged")
        allergy = next(warning for warning in body["warnings"] if warning["kind"] == "allergy")
        assert set(allergy) == {"item_position", "kind", "severity", "message"}
        assert signed.status_code == 200, signed.content
        [stored] = PrescriptionWarning.objects.filter(prescription=amoxicillin_draft, kind="allergy")
        assert stored.override_reason == "Tolerated amoxicillin in 2024"
        assert signed.json()["overridden_warnings"][0]["override_reason"] == "Tolerated amoxicillin in 2024"

    def test_a_refused_signing_stores_nothing(self, doctor_api, amoxicillin_draft, authenticator):
        code = authenticator.code()
        with authenticator.signing():
            doctor_api.post(rx_url(amoxicillin_draft, "sign/"), {"otp_code": code})

        amoxicillin_draft.refresh_from_db()
        assert (amoxicillin_draft.status, amoxicillin_draft.signature) == ("draft", "")
        assert not PrescriptionWarning.objects.exists()

    def test_signing_twice_is_refused(self, doctor_api, signed, authenticator):
        code = authenticator.code()
        with authenticator.signing():
            response = doctor_api.post(rx_url(signed, "sign/"), {"otp_code": code})

        assert_error(response, 409, "prescription_signed")

    @pytest.mark.parametrize("persona", OUTSIDERS)
    def test_outsiders_get_not_found(self, request, as_user, draft, persona):
        user = request.getfixturevalue(persona)

        assert_error(as_user(user).post(rx_url(draft, "sign/"), {"otp_code": "123456"}), 404, "not_found")
        assert denied(user, action="prescriptions.prescription.sign")


# --- cancelling and revising -------------------------------------------------------------------


class TestCancelAndRevise:
    def test_the_doctor_cancels_with_a_reason(self, doctor_api, signed):
        response = doctor_api.post(rx_url(signed, "cancel/"), {"reason": "Wrong strength"})

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["status"], body["state"], body["cancel_reason"]) == ("cancelled", "cancelled", "Wrong strength")

    def test_a_cancellation_says_why(self, doctor_api, signed):
        body = assert_error(doctor_api.post(rx_url(signed, "cancel/"), {}), 400, "invalid")

        assert set(body["fields"]) == {"reason"}

    def test_the_patient_cannot_cancel(self, as_user, patient, signed):
        assert_error(as_user(patient).post(rx_url(signed, "cancel/"), {"reason": "No"}), 403, "prescriptions_forbidden")

    def test_a_revision_is_a_new_draft_that_will_replace_the_signed_one(self, doctor_api, signed):
        response = doctor_api.post(rx_url(signed, "revise/"))

        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["status"], body["supersedes"]) == ("draft", signed.pk)
        assert [item["medication"] for item in body["items"]] == ["Atorvastatin"]

    def test_a_draft_is_not_revised(self, doctor_api, draft):
        assert_error(doctor_api.post(rx_url(draft, "revise/")), 409, "prescription_not_active")


# --- the paper ---------------------------------------------------------------------------------


class TestPaper:
    def test_the_patient_downloads_the_paper(self, as_user, patient, signed):
        response = as_user(patient).get(rx_url(signed, "pdf/"), HTTP_ACCEPT="application/pdf")

        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"] == f'attachment; filename="prescription-{signed.public_id}.pdf"'
        assert response["Cache-Control"] == "no-store"
        assert response.content.startswith(b"%PDF")
        assert AuditEvent.objects.filter(
            actor=patient, action="prescriptions.prescription.pdf", outcome="success"
        ).exists()

    def test_a_draft_has_no_paper(self, doctor_api, draft):
        assert_error(doctor_api.get(rx_url(draft, "pdf/")), 404, "not_found")

    @pytest.mark.parametrize("persona", OUTSIDERS)
    def test_outsiders_get_not_found_as_json_whatever_they_accept(self, request, as_user, signed, persona):
        user = request.getfixturevalue(persona)

        response = as_user(user).get(rx_url(signed, "pdf/"), HTTP_ACCEPT="application/pdf")

        assert_error(response, 404, "not_found")
        assert response["Content-Type"] == "application/json"
        assert denied(user, action="prescriptions.prescription.pdf")
