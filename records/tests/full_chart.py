"""A chart with text in every encrypted field of the records app, built through the services.

Used by the encryption tests (rotation, no plaintext at rest) and the export tests. `text(label)`
gives the value written into the field named `label` ("records.Allergy.substance"); the result
maps each such label to the plaintext written, so a test can look for every one of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.tests.factories import otp_verified_user
from records.services import chart, documents, notes


@dataclass
class FullChart:
    objects: dict[str, Any]
    # "records.Allergy.substance" -> the plaintext written there (one value per field here;
    # fields written more than once list every value).
    written: dict[str, list[str]] = field(default_factory=dict)
    document_content: bytes = b""

    def texts(self) -> list[str]:
        return [value for values in self.written.values() for value in values]


def full_chart(patient, doctor, text: Callable[[str], str], *, document_content: bytes | None = None) -> FullChart:
    clinician = otp_verified_user(doctor)
    result = FullChart(objects={})

    def put(label: str) -> str:
        value = text(label)
        result.written.setdefault(label, []).append(value)
        return value

    objects = result.objects
    objects["allergy"] = chart.allergy_record(
        actor=clinician,
        patient=patient,
        substance=put("records.Allergy.substance"),
        reaction=put("records.Allergy.reaction"),
        severity="severe",
    )
    objects["condition"] = chart.condition_record(
        actor=clinician,
        patient=patient,
        description=put("records.Condition.description"),
        code=put("records.Condition.code"),
        onset_on=dt.date(2019, 5, 1),
    )
    # Codes are kept upper-case (ICD-10, SNOMED CT).
    result.written["records.Condition.code"] = [objects["condition"].code]
    objects["medication"] = chart.medication_record(
        actor=clinician,
        patient=patient,
        name=put("records.Medication.name"),
        dose=put("records.Medication.dose"),
        frequency=put("records.Medication.frequency"),
        started_on=dt.date(2024, 1, 10),
    )
    objects["immunization"] = chart.immunization_record(
        actor=clinician,
        patient=patient,
        vaccine=put("records.Immunization.vaccine"),
        administered_on=dt.date(2023, 10, 2),
        dose_number=2,
        lot_number=put("records.Immunization.lot_number"),
        notes=put("records.Immunization.notes"),
    )
    objects["vitals"] = chart.vitals_record(
        actor=clinician,
        patient=patient,
        measurements={"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 71, "weight_kg": "70.5"},
        measured_at=timezone.now() - dt.timedelta(days=2),
        note=put("records.VitalSigns.note"),
    )
    objects["home_vitals"] = chart.vitals_record(
        actor=patient,
        patient=patient,
        measurements={"heart_rate_bpm": 64, "height_cm": "172"},
        measured_at=timezone.now() - dt.timedelta(days=1),
        note=put("records.VitalSigns.note"),
    )
    note = notes.note_create(
        actor=clinician,
        patient=patient,
        subjective=put("records.ClinicalNote.subjective"),
        objective=put("records.ClinicalNote.objective"),
        assessment=put("records.ClinicalNote.assessment"),
        plan=put("records.ClinicalNote.plan"),
    )
    objects["note"] = notes.note_sign(note, actor=clinician)
    objects["amendment"] = notes.note_amend(
        objects["note"],
        actor=clinician,
        reason=put("records.NoteAmendment.reason"),
        text=put("records.NoteAmendment.text"),
    )
    objects["draft"] = notes.note_create(
        actor=clinician,
        patient=patient,
        subjective=put("records.ClinicalNote.subjective"),
        plan=put("records.ClinicalNote.plan"),
    )
    content = document_content if document_content is not None else f"{text('document content')}\n".encode()
    result.document_content = content
    filename = put("records.Document.filename")
    objects["document"] = documents.document_upload(
        actor=patient,
        patient=patient,
        upload=SimpleUploadedFile(f"{filename}.txt", content),
        title=put("records.Document.title"),
        category="lab_result",
    )
    # The stored name is cleaned (records.uploads.display_filename).
    result.written["records.Document.filename"] = [objects["document"].filename]
    return result
