"""The patient's copy of their record: JSON and PDF, pages and API, who may export, the audit."""

from __future__ import annotations

import datetime as dt
import json

import pypdfium2
import pytest
from django.urls import reverse

from accounts.tests.factories import (
    BreakGlassAccessFactory,
    PatientProfileFactory,
    ProxyGrantFactory,
    VerifiedPatientFactory,
    otp_force_login,
)
from audit.models import AuditEvent
from records.selectors import access_log_for_patient, describe_access_event
from records.services import chart as chart_services
from records.services import notes
from records.services.export import record_export_json, record_export_pdf
from records.tests.full_chart import full_chart

pytestmark = pytest.mark.django_db

SECTIONS = [
    "format",
    "generated_at",
    "clinic",
    "patient",
    "allergies",
    "problems",
    "medications",
    "immunizations",
    "vitals",
    "notes",
    "documents",
]


@pytest.fixture
def profile(patient):
    return PatientProfileFactory(user=patient, legal_name="Zoë Ångström-Müller", date_of_birth=dt.date(1980, 2, 29))


@pytest.fixture
def record(patient, doctor, profile):
    counter = iter(range(1, 1000))
    return full_chart(patient, doctor, lambda label: f"{label} #{next(counter)} — Zoë's café, crème brûlée")


@pytest.fixture
def french_chart(patient, clinician, profile):
    """Short values (they fit a PDF table cell unbroken), with accents."""
    allergy = chart_services.allergy_record(
        actor=clinician, patient=patient, substance="Pénicilline", reaction="Urticaire généralisée", severity="severe"
    )
    chart_services.condition_record(actor=clinician, patient=patient, description="Asthme allergique")
    chart_services.medication_record(actor=clinician, patient=patient, name="Salbutamol", dose="100 µg")
    chart_services.vitals_record(
        actor=clinician, patient=patient, measurements={"weight_kg": "70", "height_cm": "175", "heart_rate_bpm": 68}
    )
    signed = notes.note_create(
        actor=clinician, patient=patient, subjective="Toux sèche depuis une semaine.", plan="Repos, hydratation."
    )
    note = notes.note_sign(signed, actor=clinician)
    notes.note_amend(note, actor=clinician, reason="Précision", text="Fièvre à 38,5 °C le premier jour.")
    notes.note_create(actor=clinician, patient=patient, subjective="Brouillon confidentiel non signé.")
    mistaken = chart_services.allergy_record(actor=clinician, patient=patient, substance="Arachide erronée")
    chart_services.entry_mark_entered_in_error(mistaken, actor=clinician, reason="Wrong patient")
    return allergy


def pdf_text(body: bytes) -> tuple[int, str]:
    document = pypdfium2.PdfDocument(body)
    text = "\n".join(page.get_textpage().get_text_range() for page in document)
    return len(document), " ".join(text.split())


def exports(patient) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="records.export", patient=patient).order_by("seq"))


# --- What the copy holds -----------------------------------------------------------------------


def test_the_json_copy_holds_the_whole_record_the_patient_side_sees(patient, record, profile):
    data = json.loads(record_export_json(actor=patient, patient=patient))

    assert list(data) == SECTIONS
    assert data["format"] == "telemed.record.v1"
    assert data["generated_at"].endswith("Z")
    assert data["patient"] == {
        "name": "Pat Patient",
        "legal_name": "Zoë Ångström-Müller",
        "email": "patient@example.test",
        "date_of_birth": "1980-02-29",
        "sex": profile.sex,
        "mrn": profile.mrn,
    }
    objects, written = record.objects, record.written
    assert [a["substance"] for a in data["allergies"]] == written["records.Allergy.substance"]
    assert [c["code"] for c in data["problems"]] == written["records.Condition.code"]
    assert [m["frequency"] for m in data["medications"]] == written["records.Medication.frequency"]
    assert [i["lot_number"] for i in data["immunizations"]] == written["records.Immunization.lot_number"]
    # Both readings, newest first: the patient's own and the clinic's.
    assert [v["note"] for v in data["vitals"]] == list(reversed(written["records.VitalSigns.note"]))
    assert [v["source"] for v in data["vitals"]] == ["patient", "clinician"]
    assert data["vitals"][1]["weight_kg"] == 70.5
    (note,) = data["notes"]
    assert note["subjective"] == objects["note"].subjective
    assert note["content_sha256"] == objects["note"].content_sha256
    assert [(a["reason"], a["text"]) for a in note["amendments"]] == [
        (objects["amendment"].reason, objects["amendment"].text)
    ]
    (document,) = data["documents"]
    assert document["title"] == objects["document"].title
    assert document["sha256"] == objects["document"].sha256
    assert document["download"] == reverse("api:records_document_download", args=[objects["document"].public_id])


def test_drafts_and_entries_in_error_are_not_exported(patient, french_chart):
    body = record_export_json(actor=patient, patient=patient)
    data = json.loads(body)

    assert b"Brouillon confidentiel" not in body
    assert b"Arachide" not in body
    assert [n["subjective"] for n in data["notes"]] == ["Toux sèche depuis une semaine."]
    assert [a["substance"] for a in data["allergies"]] == ["Pénicilline"]


def test_a_patient_with_nothing_recorded_gets_every_section_empty(patient):
    data = json.loads(record_export_json(actor=patient, patient=patient))

    assert list(data) == SECTIONS
    assert [data[name] for name in SECTIONS[4:]] == [[]] * 7
    assert data["patient"]["mrn"] is None


def test_the_pdf_copy_is_readable_with_its_accents_and_page_numbers(patient, french_chart, profile):
    pages, text = pdf_text(record_export_pdf(actor=patient, patient=patient))

    assert text.startswith("Health record of Pat Patient")
    for expected in (
        "Zoë Ångström-Müller",
        "29 Feb 1980",
        profile.mrn,
        "Allergies",
        "Pénicilline",
        "Urticaire généralisée",
        "Problems",
        "Asthme allergique",
        "Medications",
        "100 µg",
        "Immunizations",
        "Vital signs",
        "22.9",  # BMI of 70 kg at 175 cm
        "Visit notes",
        "Toux sèche depuis une semaine.",
        "Fièvre à 38,5 °C le premier jour.",
        "Documents",
        f"Page 1 of {pages}",
        "generated",
    ):
        assert expected in text, expected
    assert "Brouillon confidentiel" not in text
    assert "Arachide" not in text


# --- Pages and API ------------------------------------------------------------------------------


def test_the_patient_downloads_both_copies_from_the_pages(client, patient, french_chart):
    client.force_login(patient)

    as_json = client.get(reverse("records:export_json"))
    as_pdf = client.get(reverse("records:export_pdf"))

    assert as_json.status_code == as_pdf.status_code == 200
    assert as_json["Content-Type"] == "application/json; charset=utf-8"
    assert as_pdf["Content-Type"] == "application/pdf"
    for response, extension in ((as_json, "json"), (as_pdf, "pdf")):
        assert response["Content-Disposition"].startswith('attachment; filename="health-record-')
        assert response["Content-Disposition"].endswith(f'.{extension}"')
        assert "no-store" in response["Cache-Control"]
    assert json.loads(as_json.content)["allergies"][0]["substance"] == "Pénicilline"
    assert "Pénicilline" in pdf_text(as_pdf.content)[1]
    assert [event.reason.split(",")[0] for event in exports(patient)] == ["json", "pdf"]
    assert {(event.actor, event.outcome) for event in exports(patient)} == {(patient, "success")}


def test_a_proxy_acting_for_the_patient_downloads_the_patients_copy(client, patient, proxy, french_chart):
    client.force_login(proxy)
    client.post(reverse("accounts:proxy_switch"), {"patient_id": patient.pk})

    response = client.get(reverse("records:export_json"))

    assert response.status_code == 200
    assert json.loads(response.content)["patient"]["name"] == "Pat Patient"
    (event,) = exports(patient)
    assert (event.actor, event.outcome) == (proxy, "success")
    assert "acting for" in event.reason
    # The patient sees it in "who viewed my chart".
    assert "Exported your record" in [describe_access_event(e) for e in access_log_for_patient(patient)]


def test_the_api_exports_for_the_caller_and_for_a_proxy_naming_the_patient(client, patient, proxy, french_chart):
    client.force_login(proxy)

    own = client.get(reverse("api:records_export_json"))
    theirs = client.get(reverse("api:records_export_pdf"), {"patient": patient.pk}, HTTP_ACCEPT="application/pdf")

    assert json.loads(own.content)["patient"]["name"] == "Paula Proxy"
    assert json.loads(own.content)["allergies"] == []
    assert theirs.status_code == 200
    assert theirs["Content-Type"] == "application/pdf"
    assert "no-store" in theirs["Cache-Control"]
    assert "Pénicilline" in pdf_text(theirs.content)[1]
    assert [(e.actor, e.reason.split(",")[0]) for e in exports(patient)] == [(proxy, "pdf")]


def test_both_endpoints_are_in_the_openapi_schema(client, patient):
    client.force_login(patient)

    schema = client.get(reverse("api-schema"), {"format": "json"}).json()

    json_op = schema["paths"]["/api/v1/me/record/export/json/"]["get"]
    pdf_op = schema["paths"]["/api/v1/me/record/export/pdf/"]["get"]
    assert "application/json" in json_op["responses"]["200"]["content"]
    assert "application/pdf" in pdf_op["responses"]["200"]["content"]
    assert "404" in json_op["responses"]
    assert [p["name"] for p in json_op["parameters"]] == ["patient"]


# --- Who may not --------------------------------------------------------------------------------


def test_clinicians_with_a_care_relationship_or_break_glass_are_refused_and_it_is_audited(
    client, patient, doctor, outsider_doctor, french_chart
):
    BreakGlassAccessFactory(clinician=outsider_doctor, patient=patient)
    for clinician in (doctor, outsider_doctor):
        otp_force_login(client, clinician)
        response = client.get(reverse("api:records_export_json"), {"patient": patient.pk})
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        # Their own "record" as a page: no patient there either.
        assert client.get(reverse("records:export_pdf")).status_code == 404

    refused = [(e.actor, e.outcome) for e in exports(patient)]
    assert refused == [(doctor, "denied"), (outsider_doctor, "denied")]


def test_a_clinician_calling_the_service_directly_is_refused_too(patient, clinician, french_chart):
    from django.http import Http404

    with pytest.raises(Http404):
        record_export_pdf(actor=clinician, patient=patient)
    assert [(e.actor, e.outcome) for e in exports(patient)] == [(clinician, "denied")]


def test_another_patient_and_a_proxy_without_records_view_get_404_audited_as_denied(client, patient, french_chart):
    other = VerifiedPatientFactory(full_name="Oscar Other")
    helper = VerifiedPatientFactory(full_name="Hal Helper")
    ProxyGrantFactory(patient=patient, proxy=helper, scopes=["appointments.manage"])

    for user in (other, helper):
        client.force_login(user)
        response = client.get(reverse("api:records_export_json"), {"patient": patient.pk})
        assert response.status_code == 404
        assert "Pénicilline".encode() not in response.content

    assert [(e.actor, e.outcome) for e in exports(patient)] == [(other, "denied"), (helper, "denied")]


def test_an_unverified_patient_gets_404_and_anonymous_is_sent_to_sign_in(client, outsider_patient):
    assert client.get(reverse("records:export_json")).status_code == 302
    assert client.get(reverse("api:records_export_json")).status_code == 401

    client.force_login(outsider_patient)

    assert client.get(reverse("records:export_json")).status_code == 404
    assert client.get(reverse("api:records_export_pdf")).status_code == 404
    assert AuditEvent.objects.filter(action="records.export", actor=outsider_patient, outcome="denied").count() == 2


def test_a_malformed_patient_parameter_is_a_400(client, patient):
    client.force_login(patient)

    response = client.get(reverse("api:records_export_json"), {"patient": "me"})

    assert response.status_code == 400
    assert "patient" in response.json()["fields"]
