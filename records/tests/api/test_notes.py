"""Clinical notes: the patient's side reads signed notes only; a doctor writes a draft, edits,
signs or discards it; a signed note never changes and takes amendments."""

from __future__ import annotations

import pytest

from accounts.tests.factories import CareRelationshipFactory, DoctorFactory
from appointments.tests.factories import AppointmentFactory
from audit.models import AuditEvent
from records.models import ClinicalNote
from records.services import notes as note_services
from records.tests.api.conftest import assert_error, denied

pytestmark = pytest.mark.django_db


def url(patient) -> str:
    return f"/api/v1/patients/{patient.pk}/notes/"


def note_url(note, suffix: str = "") -> str:
    return f"/api/v1/records/notes/{note.pk}/{suffix}"


class TestList:
    @pytest.mark.parametrize("persona", ["patient", "proxy"])
    def test_the_patients_side_sees_signed_notes_only(self, request, signed_in, patient, chart, persona):
        body = signed_in(request.getfixturevalue(persona)).get(url(patient)).json()

        assert [item["id"] for item in body["results"]] == [chart.note.pk]

    @pytest.mark.parametrize("persona", ["doctor", "nurse"])
    def test_clinicians_also_see_drafts(self, request, signed_in, patient, chart, persona):
        body = signed_in(request.getfixturevalue(persona)).get(url(patient)).json()

        assert {item["id"] for item in body["results"]} == {chart.note.pk, chart.draft.pk}

    def test_a_note_shows_its_soap_text_signature_and_amendments(self, signed_in, patient, chart, clinician):
        note_services.note_amend(chart.note, actor=clinician, reason="Lab result came back", text="Potassium normal.")

        [note] = signed_in(patient).get(url(patient)).json()["results"]

        assert (note["status"], note["subjective"], note["plan"]) == (
            "signed",
            "Headaches in the morning.",
            "Continue lisinopril 10 mg.",
        )
        assert note["author"] == {"id": clinician.pk, "name": "Dr Dana Doctor", "role": "doctor"}
        assert note["signed_by"]["id"] == clinician.pk
        assert note["signed_at"] and len(note["content_sha256"]) == 64
        assert note["appointment"] is None
        [amendment] = note["amendments"]
        assert (amendment["reason"], amendment["text"], amendment["author"]["id"]) == (
            "Lab result came back",
            "Potassium normal.",
            clinician.pk,
        )


class TestOne:
    def test_the_patient_reads_a_signed_note_and_the_read_is_audited(self, signed_in, patient, chart):
        response = signed_in(patient).get(note_url(chart.note))

        assert response.status_code == 200
        assert AuditEvent.objects.filter(actor=patient, action="records.note.view", outcome="success").exists()

    @pytest.mark.parametrize("persona", ["patient", "proxy"])
    def test_a_draft_is_not_found_for_the_patients_side(self, request, signed_in, chart, persona):
        user = request.getfixturevalue(persona)

        assert_error(signed_in(user).get(note_url(chart.draft)), 404, "not_found")
        assert len(denied(user, action="records.note.view")) == 1

    def test_a_nurse_reads_a_draft(self, signed_in, nurse, chart):
        assert signed_in(nurse).get(note_url(chart.draft)).json()["status"] == "draft"

    @pytest.mark.parametrize("persona", ["outsider_doctor", "admin", "outsider_patient"])
    def test_outsiders_get_not_found_and_are_audited(self, request, signed_in, chart, persona):
        user = request.getfixturevalue(persona)

        assert_error(signed_in(user).get(note_url(chart.note)), 404, "not_found")
        assert len(denied(user)) == 1


class TestWrite:
    def test_a_doctor_starts_a_draft_for_a_visit(self, signed_in, doctor, patient):
        visit = AppointmentFactory(patient=patient, provider=doctor)

        response = signed_in(doctor).post(
            url(patient), {"subjective": "Sore throat for 3 days.", "plan": "Fluids.", "appointment": visit.pk}
        )

        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["status"], body["appointment"], body["objective"]) == ("draft", visit.pk, "")
        assert signed_in(patient).get(url(patient)).json()["count"] == 0

    def test_a_note_links_only_to_the_patients_own_visit(self, signed_in, doctor, patient, outsider_patient):
        visit = AppointmentFactory(patient=outsider_patient, provider=doctor)

        response = signed_in(doctor).post(url(patient), {"subjective": "x", "appointment": visit.pk})

        assert list(assert_error(response, 400, "invalid")["fields"]) == ["appointment"]

    @pytest.mark.parametrize("persona", ["patient", "proxy", "nurse"])
    def test_only_a_doctor_writes_notes(self, request, signed_in, patient, persona):
        response = signed_in(request.getfixturevalue(persona)).post(url(patient), {"subjective": "x"})

        assert_error(response, 403, "records_forbidden")
        assert not ClinicalNote.objects.exists()

    def test_an_outsider_doctor_gets_not_found(self, signed_in, outsider_doctor, patient):
        assert_error(signed_in(outsider_doctor).post(url(patient), {"subjective": "x"}), 404, "not_found")
        assert len(denied(outsider_doctor, action="records.clinicalnote.create")) == 1

    def test_the_author_edits_their_draft_and_what_was_not_sent_stays(self, signed_in, doctor, chart):
        response = signed_in(doctor).patch(note_url(chart.draft), {"assessment": "Stable."})

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["subjective"], body["assessment"]) == ("Follow-up planned.", "Stable.")

    def test_a_signed_note_never_changes(self, signed_in, doctor, chart):
        response = signed_in(doctor).patch(note_url(chart.note), {"plan": "Something else."})

        assert_error(response, 409, "note_signed")
        chart.note.refresh_from_db()
        assert chart.note.plan == "Continue lisinopril 10 mg."

    def test_another_doctor_does_not_edit_someone_elses_draft(self, signed_in, patient, chart):
        colleague = DoctorFactory()
        CareRelationshipFactory(patient=patient, provider=colleague)

        response = signed_in(colleague).patch(note_url(chart.draft), {"plan": "Mine now."})

        assert_error(response, 403, "records_forbidden")

    def test_the_author_discards_a_draft(self, signed_in, doctor, chart):
        client = signed_in(doctor)

        assert client.delete(note_url(chart.draft)).status_code == 204
        assert not ClinicalNote.objects.filter(pk=chart.draft.pk).exists()
        assert_error(client.delete(note_url(chart.note)), 409, "note_signed")

    def test_the_author_signs_a_draft(self, signed_in, doctor, chart):
        response = signed_in(doctor).post(note_url(chart.draft, "sign/"))

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["status"], body["signed_by"]["id"]) == ("signed", doctor.pk)
        assert body["signed_at"]
        assert_error(signed_in(doctor).post(note_url(chart.draft, "sign/")), 409, "note_signed")

    def test_an_empty_draft_is_not_signed(self, signed_in, doctor, patient, clinician):
        empty = note_services.note_create(actor=clinician, patient=patient)

        assert_error(signed_in(doctor).post(note_url(empty, "sign/")), 400, "note_empty")

    def test_a_nurse_may_not_sign(self, signed_in, nurse, chart):
        response = signed_in(nurse).post(note_url(chart.draft, "sign/"))

        assert_error(response, 403, "records_forbidden")

    @pytest.mark.parametrize("persona", ["patient", "proxy"])
    def test_the_patient_side_cannot_tell_a_draft_exists(self, request, signed_in, chart, persona):
        # The same 404 as reading it: a 403 would say that a draft with this id exists.
        for suffix in ("", "sign/"):
            method = "get" if not suffix else "post"
            response = getattr(signed_in(request.getfixturevalue(persona)), method)(note_url(chart.draft, suffix))
            assert response.status_code == 404, (suffix, response.content)


class TestAmend:
    def test_a_doctor_amends_a_signed_note_and_the_original_stays(self, signed_in, doctor, patient, chart):
        response = signed_in(doctor).post(
            note_url(chart.note, "amendments/"), {"reason": "Dose corrected", "text": "Lisinopril 20 mg."}
        )

        assert response.status_code == 201, response.content
        assert (response.json()["reason"], response.json()["author"]["id"]) == ("Dose corrected", doctor.pk)
        note = signed_in(patient).get(note_url(chart.note)).json()
        assert note["plan"] == "Continue lisinopril 10 mg."
        assert [item["text"] for item in note["amendments"]] == ["Lisinopril 20 mg."]

    def test_a_draft_is_edited_not_amended(self, signed_in, doctor, chart):
        response = signed_in(doctor).post(note_url(chart.draft, "amendments/"), {"reason": "x", "text": "y"})

        assert_error(response, 409, "note_not_signed")

    def test_an_amendment_needs_a_reason_and_a_text(self, signed_in, doctor, chart):
        response = signed_in(doctor).post(note_url(chart.note, "amendments/"), {"text": " "})

        assert set(assert_error(response, 400, "invalid")["fields"]) == {"reason", "text"}

    @pytest.mark.parametrize("persona", ["patient", "proxy", "nurse"])
    def test_only_a_doctor_amends(self, request, signed_in, chart, persona):
        response = signed_in(request.getfixturevalue(persona)).post(
            note_url(chart.note, "amendments/"), {"reason": "x", "text": "y"}
        )

        assert_error(response, 403, "records_forbidden")

    def test_an_outsider_doctor_gets_not_found(self, signed_in, outsider_doctor, chart):
        response = signed_in(outsider_doctor).post(note_url(chart.note, "amendments/"), {"reason": "x", "text": "y"})

        assert_error(response, 404, "not_found")
        assert len(denied(outsider_doctor, action="records.clinicalnote.amend")) == 1
