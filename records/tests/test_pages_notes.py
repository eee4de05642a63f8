"""The note editor: a draft, "Sign and lock", the locked note with its amendments, discarding."""

import html
import re

import pytest
from django.urls import reverse

from accounts.tests.factories import CareRelationshipFactory, DoctorFactory, otp_force_login
from appointments.tests.factories import AppointmentFactory
from audit.models import AuditEvent
from records.models import ClinicalNote, NoteStatus

pytestmark = pytest.mark.django_db

SOAP = {
    "note-subjective": "Sore throat for three days.",
    "note-objective": "Tonsils red, no exudate. 37.8 °C.",
    "note-assessment": "Viral pharyngitis.",
    "note-plan": "Fluids, paracetamol; come back if worse.",
}


def text(response) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def note_url(note) -> str:
    return reverse("records:note", args=[note.pk])


def test_the_editor_offers_the_soap_fields_the_patients_visits_and_a_clear_sign_button(client, patient, doctor):
    visit = AppointmentFactory(patient=patient, provider=doctor)

    response = otp_force_login(client, doctor).get(reverse("records:note_new", args=[patient.pk]))

    assert response.status_code == 200
    page = text(response)
    for label in ("Subjective", "Objective", "Assessment", "Plan", "Visit (optional)"):
        assert label in page
    assert f'<option value="{visit.pk}">' in response.content.decode()
    assert "Save draft" in page and "Sign and lock" in page
    assert "Signing locks the note" in page


def test_saving_a_draft_keeps_it_from_the_patient(client, patient, doctor):
    otp_force_login(client, doctor)

    response = client.post(reverse("records:note_new", args=[patient.pk]), {**SOAP, "intent": "save"})

    note = ClinicalNote.objects.get(patient=patient)
    assert response["Location"] == note_url(note)
    assert note.status == NoteStatus.DRAFT
    assert note.subjective == "Sore throat for three days."
    assert AuditEvent.objects.filter(action="records.clinicalnote.create", actor=doctor, outcome="success").exists()
    editor = client.get(note_url(note))
    assert "Edit the draft note" in text(editor)
    assert "Sore throat for three days." in editor.content.decode()

    client.logout()
    client.force_login(patient)
    assert client.get(note_url(note)).status_code == 404
    assert AuditEvent.objects.filter(action="records.note.view", actor=patient, outcome="denied").exists()
    assert "Sore throat" not in client.get(reverse("records:my_health")).content.decode()


def test_sign_and_lock_saves_the_text_as_typed_and_locks_it(client, patient, doctor):
    visit = AppointmentFactory(patient=patient, provider=doctor)
    otp_force_login(client, doctor)
    client.post(reverse("records:note_new", args=[patient.pk]), {"note-subjective": "First words.", "intent": "save"})
    note = ClinicalNote.objects.get()

    response = client.post(note_url(note), {**SOAP, "note-appointment": str(visit.pk), "intent": "sign"}, follow=True)

    note.refresh_from_db()
    assert note.status == NoteStatus.SIGNED
    assert (note.signed_by, note.subjective, note.appointment) == (doctor, "Sore throat for three days.", visit)
    page = text(response)
    assert "The note is signed and locked." in page
    assert "Signed by Dr Dana Doctor" in page
    assert "Locked" in page
    assert note.content_sha256 in page
    assert 'name="note-subjective"' not in response.content.decode()
    assert "Add an amendment" in page
    actions = set(AuditEvent.objects.filter(actor=doctor, outcome="success").values_list("action", flat=True))
    assert {"records.clinicalnote.update", "records.clinicalnote.sign"} <= actions


def test_a_new_note_can_be_signed_straight_away_and_the_patient_reads_it(client, patient, doctor):
    otp_force_login(client, doctor)
    client.post(reverse("records:note_new", args=[patient.pk]), {**SOAP, "intent": "sign"})
    note = ClinicalNote.objects.get()
    client.logout()

    client.force_login(patient)
    response = client.get(note_url(note))

    assert note.status == NoteStatus.SIGNED
    assert response.status_code == 200
    assert "Viral pharyngitis." in text(response)
    assert "Add an amendment" not in text(response)
    assert AuditEvent.objects.filter(action="records.note.view", actor=patient, outcome="success").exists()


def test_an_empty_note_is_saved_as_a_draft_but_not_signed(client, patient, doctor):
    otp_force_login(client, doctor)

    response = client.post(reverse("records:note_new", args=[patient.pk]), {"intent": "sign"}, follow=True)

    assert ClinicalNote.objects.get().status == NoteStatus.DRAFT
    assert "The draft was saved but not signed: An empty note cannot be signed." in text(response)


def test_a_signed_note_is_amended_and_the_amendment_shows_after_the_original(client, chart, doctor):
    otp_force_login(client, doctor)

    refused = client.post(reverse("records:note_amend", args=[chart.note.pk]), {"amend-reason": "", "amend-text": ""})
    response = client.post(
        reverse("records:note_amend", args=[chart.note.pk]),
        {"amend-reason": "Result came back", "amend-text": "Potassium 4.1 mmol/L."},
        follow=True,
    )

    assert refused.status_code == 400
    assert 'id="id_amend-reason-error"' in refused.content.decode()
    page = text(response)
    assert page.index("Continue lisinopril 10 mg.") < page.index("Potassium 4.1 mmol/L.")
    assert "Reason: Result came back" in page
    chart.note.refresh_from_db()
    assert chart.note.plan == "Continue lisinopril 10 mg."
    assert AuditEvent.objects.filter(action="records.clinicalnote.amend", actor=doctor, outcome="success").exists()

    client.logout()
    client.force_login(chart.patient)
    mine = text(client.get(reverse("records:my_health")))
    assert mine.index("Continue lisinopril 10 mg.") < mine.index("Potassium 4.1 mmol/L.")


def test_posting_to_a_signed_note_changes_nothing(client, chart, doctor):
    otp_force_login(client, doctor)

    response = client.post(note_url(chart.note), {**SOAP, "intent": "save"}, follow=True)

    chart.note.refresh_from_db()
    assert chart.note.subjective == "Headaches in the morning."
    assert "This note is signed: add an amendment instead." in text(response)


def test_another_doctor_reads_a_colleagues_draft_but_cannot_change_it(client, chart, patient):
    colleague = DoctorFactory(full_name="Dr Cole League")
    CareRelationshipFactory(patient=patient, provider=colleague)
    otp_force_login(client, colleague)

    page = client.get(note_url(chart.draft))
    response = client.post(note_url(chart.draft), {**SOAP, "intent": "save"})

    assert page.status_code == 200
    assert "Follow-up planned." in text(page)
    assert 'name="note-subjective"' not in page.content.decode()
    assert response.status_code == 403
    assert "Only the author changes or signs a draft note." in text(response)
    assert AuditEvent.objects.filter(action="records.clinicalnote.update", actor=colleague, outcome="denied").exists()
    chart.draft.refresh_from_db()
    assert chart.draft.subjective == "Follow-up planned."
    assert client.get(reverse("records:note_discard", args=[chart.draft.pk])).status_code == 403


def test_the_author_discards_a_draft_after_confirming(client, chart, doctor):
    url = reverse("records:note_discard", args=[chart.draft.pk])
    otp_force_login(client, doctor)

    confirm = client.get(url)
    response = client.post(url)

    assert confirm.status_code == 200
    assert "Discard the draft?" in text(confirm)
    assert response["Location"] == reverse("records:chart", args=[chart.patient.pk]) + "#notes"
    assert not ClinicalNote.objects.filter(pk=chart.draft.pk).exists()
    assert AuditEvent.objects.filter(action="records.clinicalnote.discard", actor=doctor, outcome="success").exists()


def test_a_signed_note_is_never_discarded(client, chart, doctor):
    otp_force_login(client, doctor)

    client.post(reverse("records:note_discard", args=[chart.note.pk]))

    assert ClinicalNote.objects.filter(pk=chart.note.pk).exists()


def test_the_nurse_reads_notes_but_writes_none(client, chart, nurse):
    otp_force_login(client, nurse)

    assert client.get(note_url(chart.note)).status_code == 200
    assert client.get(reverse("records:note_new", args=[chart.patient.pk])).status_code == 403
    response = client.post(reverse("records:note_new", args=[chart.patient.pk]), {**SOAP, "intent": "save"})
    assert response.status_code == 403
    assert not ClinicalNote.objects.filter(author=nurse).exists()
    assert AuditEvent.objects.filter(action="records.clinicalnote.create", actor=nurse, outcome="denied").exists()


def test_outsiders_get_a_404_for_a_note_recorded_as_denied(client, chart, outsider_doctor, outsider_patient):
    otp_force_login(client, outsider_doctor)
    assert client.get(note_url(chart.note)).status_code == 404
    assert client.get(reverse("records:note_new", args=[chart.patient.pk])).status_code == 404
    client.logout()
    client.force_login(outsider_patient)
    assert client.get(note_url(chart.note)).status_code == 404

    denied = AuditEvent.objects.filter(action="records.note.view", outcome="denied")
    assert set(denied.values_list("actor", flat=True)) == {outsider_doctor.pk, outsider_patient.pk}
