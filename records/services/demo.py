"""Writes behind `manage.py seed_demo_records`: a realistic chart for each demo patient.

Everything goes through the chart, notes and documents services, as the demo doctor, nurse
or patient would write it, so the demo data is encrypted and audited like real data. Each
section of a chart is written only while the patient has nothing in it, so a second run
writes nothing (and a run interrupted half-way is finished by the next one). Dates are
relative to today; every value is inside the plausible ranges of `records.models`.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import User
from appointments.selectors import appointments_of_patient_for_notes
from records.errors import RecordsError
from records.models import (
    Allergy,
    ClinicalNote,
    Condition,
    Document,
    DocumentCategory,
    Immunization,
    Medication,
    Source,
    VitalSigns,
)
from records.services.chart import (
    allergy_record,
    condition_record,
    immunization_record,
    medication_record,
    vitals_acknowledge,
    vitals_record,
)
from records.services.documents import document_upload
from records.services.notes import note_amend, note_create, note_sign

ADAMS = "dr.adams@demo.telemed.test"
BAKER = "dr.baker@demo.telemed.test"
NGUYEN = "nurse.nguyen@demo.telemed.test"


def ago(*, days: int = 0, years: int = 0) -> dt.timedelta:
    """A date in a spec: that long before the day the demo is seeded."""
    return dt.timedelta(days=days + round(years * 365.25))


@dataclass(frozen=True)
class HomeReadings:
    """A series of weekly home readings by the patient, the latest yesterday morning."""

    weeks: int
    # week index (0 = the oldest) -> measurements
    reading: Callable[[int], dict[str, Any]]
    # The latest ones are left for the clinicians to acknowledge.
    unacknowledged: int = 1
    note: Callable[[int], str] = lambda week: ""


@dataclass(frozen=True)
class NoteSpec:
    author: str
    soap: dict[str, str]
    signed: bool = True
    # (reason, text) of an amendment added after signing
    amendment: tuple[str, str] | None = None
    # A draft prepared for the patient's next appointment with its author, if there is one.
    for_next_visit: bool = False


@dataclass(frozen=True)
class DocumentSpec:
    title: str
    filename: str
    category: str
    lines: tuple[str, ...]
    pdf: bool = True


@dataclass(frozen=True)
class ChartSpec:
    patient: str
    doctor: str
    nurse: str
    allergies: tuple[dict[str, Any], ...]
    conditions: tuple[dict[str, Any], ...]
    medications: tuple[dict[str, Any], ...]
    immunizations: tuple[dict[str, Any], ...]
    home: HomeReadings
    # (how long ago, measurements) taken at the clinic by the doctor
    clinic_vitals: tuple[tuple[dt.timedelta, dict[str, Any]], ...]
    notes: tuple[NoteSpec, ...]
    document: DocumentSpec


@dataclass
class DemoResult:
    written: int = 0
    # Problems met while seeding (e.g. the virus scanner is down), for the command to print.
    warnings: list[str] = field(default_factory=list)


def _wobble(week: int, *steps: int) -> int:
    return steps[week % len(steps)]


# Paula Patel, mid-forties: hypertension found six months ago, improving on lisinopril;
# seasonal allergies; penicillin allergy. Weekly home blood pressure trending down.
PAULA = ChartSpec(
    patient="paula.patel@demo.telemed.test",
    doctor=ADAMS,
    nurse=NGUYEN,
    allergies=(
        {"substance": "Penicillin", "reaction": "Hives over the trunk and arms", "severity": "moderate"},
        {
            "substance": "Birch and grass pollen",
            "reaction": "Sneezing, itchy watery eyes (April to June)",
            "severity": "mild",
            "noted_on": ago(years=12),
        },
    ),
    conditions=(
        {"description": "Essential hypertension", "code": "I10", "onset_on": ago(days=190)},
        {"description": "Seasonal allergic rhinitis", "code": "J30.2", "onset_on": ago(years=12)},
    ),
    medications=(
        {
            "name": "Lisinopril",
            "dose": "10 mg",
            "route": "oral",
            "frequency": "Once daily, in the morning",
            "started_on": ago(days=182),
        },
        {"name": "Cetirizine", "dose": "10 mg", "route": "oral", "frequency": "Once daily as needed in pollen season"},
    ),
    immunizations=(
        {"vaccine": "Influenza (seasonal, inactivated)", "administered_on": ago(days=120), "lot_number": "FLU-24-8831"},
        {
            "vaccine": "Tetanus, diphtheria (Td) booster",
            "administered_on": ago(years=3),
            "dose_number": 5,
            "lot_number": "TD-0457-B",
        },
    ),
    home=HomeReadings(
        weeks=26,
        reading=lambda week: {
            "systolic_mmhg": 152 - round(week * 24 / 25) + _wobble(week, 0, 3, -2, 1, -3),
            "diastolic_mmhg": 96 - round(week * 13 / 25) + _wobble(week, 0, 2, -1, 1, -2),
            "heart_rate_bpm": 78 - week // 6 + _wobble(week, 0, 2, -1, 1),
        },
        unacknowledged=2,
        note=lambda week: "Measured after a poor night's sleep." if week == 9 else "",
    ),
    clinic_vitals=(
        (
            ago(days=182),
            {
                "systolic_mmhg": 154,
                "diastolic_mmhg": 97,
                "heart_rate_bpm": 80,
                "temperature_c": "36.8",
                "respiratory_rate": 14,
                "spo2_pct": 98,
                "weight_kg": "78.4",
                "height_cm": "165",
            },
        ),
        (
            ago(days=91),
            {"systolic_mmhg": 141, "diastolic_mmhg": 90, "heart_rate_bpm": 74, "weight_kg": "77.1"},
        ),
        (
            ago(days=28),
            {"systolic_mmhg": 132, "diastolic_mmhg": 85, "heart_rate_bpm": 72, "weight_kg": "76.2", "height_cm": "165"},
        ),
    ),
    notes=(
        NoteSpec(
            author=ADAMS,
            soap={
                "subjective": (
                    "45-year-old woman with morning headaches for a month. No chest pain, no visual "
                    "disturbance. Father had a stroke at 62. Non-smoker, drinks 4-6 units a week."
                ),
                "objective": (
                    "BP 154/97 (repeat 150/95), pulse 80 regular. BMI 28.8. Heart sounds normal, "
                    "no ankle oedema. Fundi not examined."
                ),
                "assessment": "Stage 2 essential hypertension, confirmed by a week of home readings.",
                "plan": (
                    "Start lisinopril 10 mg once daily. Bloods: U&E, lipids, HbA1c. Home BP weekly, "
                    "upload readings. Salt reduction and 150 minutes of activity a week. Review in 3 months."
                ),
            },
            amendment=(
                "Blood results received after signing.",
                "Sodium 139, potassium 4.3 mmol/L, creatinine 71 umol/L (eGFR > 90). Total cholesterol "
                "5.4 mmol/L, HbA1c 37 mmol/mol. Safe to continue lisinopril.",
            ),
        ),
        NoteSpec(
            author=ADAMS,
            soap={
                "subjective": "Headaches resolved. Mild dry cough at night in the first weeks, now gone.",
                "objective": "BP 141/90, pulse 74. Weight 77.1 kg (down 1.3 kg). Home average 140/89.",
                "assessment": "Hypertension improving on lisinopril; not yet at target (< 135/85 at home).",
                "plan": (
                    "Continue lisinopril 10 mg. Keep weekly home readings. Review in 3 months, sooner if above 160/100."
                ),
            },
        ),
        NoteSpec(
            author=ADAMS,
            signed=False,
            for_next_visit=True,
            soap={
                "subjective": "Blood pressure follow-up by video.",
                "objective": "Home readings over the last month around 130/84.",
            },
        ),
    ),
    document=DocumentSpec(
        title="Basic metabolic panel and lipids",
        filename="bmp-lipids.pdf",
        category=DocumentCategory.LAB_RESULT,
        lines=(
            "Patient: Paula Patel",
            "Requested by: Dr Alice Adams",
            "",
            "Sodium                 139  mmol/L    (135 - 145)",
            "Potassium              4.3  mmol/L    (3.5 - 5.3)",
            "Creatinine              71  umol/L    (45 - 84)",
            "eGFR                   >90  mL/min/1.73m2",
            "Total cholesterol      5.4  mmol/L    (< 5.0)  H",
            "HDL cholesterol        1.5  mmol/L    (> 1.2)",
            "HbA1c                   37  mmol/mol  (< 42)",
        ),
    ),
)

# Sam Silva: asthma since childhood and type 2 diabetes; seen by both doctors. Weekly home
# weights falling with the diet and metformin.
SAM = ChartSpec(
    patient="sam.silva@demo.telemed.test",
    doctor=ADAMS,
    nurse=NGUYEN,
    allergies=(
        {
            "substance": "Ibuprofen and other NSAIDs",
            "reaction": "Wheeze and chest tightness within an hour",
            "severity": "moderate",
            "noted_on": ago(years=8),
        },
        {"substance": "Cat dander", "reaction": "Sneezing, worsens asthma", "severity": "mild"},
    ),
    conditions=(
        {"description": "Asthma", "code": "J45.909", "onset_on": ago(years=30)},
        {"description": "Type 2 diabetes mellitus", "code": "E11.9", "onset_on": ago(days=400)},
    ),
    medications=(
        {
            "name": "Metformin",
            "dose": "500 mg",
            "route": "oral",
            "frequency": "Twice daily with meals",
            "started_on": ago(days=380),
        },
        {
            "name": "Salbutamol inhaler",
            "dose": "100 micrograms per puff, 2 puffs",
            "route": "inhaled",
            "frequency": "When needed for wheeze, up to 4 times a day",
            "started_on": ago(years=10),
        },
        {
            "name": "Beclometasone inhaler",
            "dose": "100 micrograms per puff, 2 puffs",
            "route": "inhaled",
            "frequency": "Twice daily",
            "started_on": ago(years=3),
        },
    ),
    immunizations=(
        {"vaccine": "Influenza (seasonal, inactivated)", "administered_on": ago(days=110), "lot_number": "FLU-24-8831"},
        {"vaccine": "Pneumococcal conjugate (PCV20)", "administered_on": ago(days=300), "dose_number": 1},
    ),
    home=HomeReadings(
        weeks=12,
        reading=lambda week: {
            "weight_kg": f"{94.6 - week * 0.35 + _wobble(week, 0, 2, -1, 1) / 10:.1f}",
            "heart_rate_bpm": 82 - week // 4 + _wobble(week, 0, 3, -2),
        },
        unacknowledged=1,
    ),
    clinic_vitals=(
        (
            ago(days=95),
            {
                "systolic_mmhg": 128,
                "diastolic_mmhg": 80,
                "heart_rate_bpm": 84,
                "respiratory_rate": 16,
                "spo2_pct": 96,
                "weight_kg": "95.0",
                "height_cm": "178",
            },
        ),
        (ago(days=7), {"systolic_mmhg": 124, "diastolic_mmhg": 78, "heart_rate_bpm": 78, "spo2_pct": 97}),
    ),
    notes=(
        NoteSpec(
            author=ADAMS,
            soap={
                "subjective": (
                    "Diabetes review. Taking metformin twice daily, some loose stools in the first month, "
                    "settled. Walking 30 minutes most days. No hypos (not on insulin or sulfonylurea)."
                ),
                "objective": "Weight 95.0 kg, BMI 30.0. BP 128/80. Feet: pulses present, sensation intact.",
                "assessment": "Type 2 diabetes, HbA1c 58 mmol/mol (7.5%), down from 64 mmol/mol (8.0%).",
                "plan": (
                    "Continue metformin 500 mg twice daily. Repeat HbA1c in 3 months; consider increasing "
                    "metformin if above 53 mmol/mol (7.0%). Retinal screening booked."
                ),
            },
            amendment=(
                "Retinal screening result.",
                "Retinal screening: no diabetic retinopathy in either eye. Repeat in 12 months.",
            ),
        ),
        NoteSpec(
            author=BAKER,
            soap={
                "subjective": (
                    "Phone review of asthma. Using salbutamol twice a week, woken once in the last month. "
                    "Asked whether ibuprofen is safe for back pain."
                ),
                "objective": "Speaking full sentences. Home peak flow 480 L/min (best 520).",
                "assessment": "Asthma partly controlled. NSAID-sensitive asthma: ibuprofen not safe.",
                "plan": (
                    "Continue beclometasone 2 puffs twice daily; check inhaler technique at the next visit. "
                    "Paracetamol for back pain. Asthma action plan sent."
                ),
            },
        ),
        NoteSpec(
            author=ADAMS,
            signed=False,
            for_next_visit=True,
            soap={"subjective": "Annual check-up. To do: HbA1c, urine albumin:creatinine ratio, foot check."},
        ),
    ),
    document=DocumentSpec(
        title="HbA1c and kidney function",
        filename="hba1c.pdf",
        category=DocumentCategory.LAB_RESULT,
        lines=(
            "Patient: Sam Silva",
            "Requested by: Dr Alice Adams",
            "",
            "HbA1c                   58  mmol/mol  (< 48)   H    (7.5 %)",
            "Fasting glucose        7.9  mmol/L    (3.9 - 5.5) H",
            "Creatinine              88  umol/L    (60 - 110)",
            "eGFR                   >90  mL/min/1.73m2",
            "Urine albumin:creatinine 1.8 mg/mmol  (< 3.0)",
        ),
    ),
)

# Lee Lopez: hypothyroidism and migraine, now with a cough and a low fever at home.
LEE = ChartSpec(
    patient="lee.lopez@demo.telemed.test",
    doctor=BAKER,
    nurse=NGUYEN,
    allergies=(
        {
            "substance": "Sulfonamide antibiotics (co-trimoxazole)",
            "reaction": "Widespread itchy rash",
            "severity": "moderate",
            "noted_on": ago(years=6),
        },
    ),
    conditions=(
        {"description": "Primary hypothyroidism", "code": "E03.9", "onset_on": ago(years=4)},
        {"description": "Migraine without aura", "code": "G43.009", "onset_on": ago(years=15)},
    ),
    medications=(
        {
            "name": "Levothyroxine",
            "dose": "75 micrograms",
            "route": "oral",
            "frequency": "Once daily, 30 minutes before breakfast",
            "started_on": ago(years=4),
        },
        {
            "name": "Sumatriptan",
            "dose": "50 mg",
            "route": "oral",
            "frequency": "At the start of a migraine; may repeat once after 2 hours",
        },
    ),
    immunizations=(
        {"vaccine": "COVID-19 mRNA (updated formula)", "administered_on": ago(days=150), "dose_number": 4},
        {"vaccine": "Influenza (seasonal, inactivated)", "administered_on": ago(days=100)},
    ),
    home=HomeReadings(
        weeks=3,
        reading=lambda week: {
            "temperature_c": ("37.9", "37.6", "37.4")[week],
            "heart_rate_bpm": (92, 88, 84)[week],
            "spo2_pct": (96, 97, 97)[week],
        },
        unacknowledged=1,
        note=lambda week: "Cough worse at night." if week == 2 else "",
    ),
    clinic_vitals=(
        (
            ago(days=200),
            {
                "systolic_mmhg": 118,
                "diastolic_mmhg": 76,
                "heart_rate_bpm": 66,
                "weight_kg": "62.5",
                "height_cm": "170",
                "temperature_c": "36.6",
            },
        ),
    ),
    notes=(
        NoteSpec(
            author=BAKER,
            soap={
                "subjective": "Thyroid review by video. Energy good, no palpitations. Migraines about once a month.",
                "objective": "TSH 2.1 mIU/L (0.4 - 4.0) on levothyroxine 75 micrograms.",
                "assessment": "Hypothyroidism well replaced. Migraine stable.",
                "plan": "Continue levothyroxine 75 micrograms. TSH yearly. Sumatriptan as needed.",
            },
        ),
        NoteSpec(
            author=BAKER,
            signed=False,
            for_next_visit=True,
            soap={
                "subjective": "Cough for two weeks, low-grade fever at home (37.9 falling to 37.4).",
            },
        ),
    ),
    document=DocumentSpec(
        title="Thyroid function test",
        filename="tsh.txt",
        category=DocumentCategory.LAB_RESULT,
        pdf=False,
        lines=(
            "THYROID FUNCTION",
            "Patient: Lee Lopez",
            "Requested by: Dr Bruno Baker",
            "",
            "TSH      2.1 mIU/L   (0.4 - 4.0)",
            "Free T4  15  pmol/L  (9 - 19)",
        ),
    ),
)

DEMO_CHARTS = (PAULA, SAM, LEE)


# --- Writing a chart -------------------------------------------------------------------------


def _acting(user: User) -> User:
    """`user` as the seed command acts for them.

    The command runs at the console with DEBUG on, where nobody signs in: the in-memory user
    passes the policy's OTP check for this run. Nothing is stored, and the demo staff's real
    sign-ins still need their second factor.
    """
    user.is_verified = lambda: True  # type: ignore[attr-defined]
    return user


def _dated(values: dict[str, Any]) -> dict[str, Any]:
    today = timezone.localdate()
    return {name: today - value if isinstance(value, dt.timedelta) else value for name, value in values.items()}


def _at(delta: dt.timedelta, hour: int, minute: int = 0) -> dt.datetime:
    day = timezone.localtime() - delta
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


def _pdf(title: str, lines: tuple[str, ...]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    pdf.setTitle(title)
    pdf.setFont("Helvetica-Bold", 14)
    pdf.drawString(72, 770, title)
    pdf.setFont("Courier", 10)
    for number, line in enumerate(lines):
        pdf.drawString(72, 740 - 15 * number, line)
    pdf.setFont("Helvetica-Oblique", 8)
    pdf.drawString(72, 60, "Demo data generated by seed_demo: not a real patient.")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _structured(spec: ChartSpec, patient: User, doctor: User) -> int:
    written = 0
    sections: tuple[tuple[type, tuple[dict[str, Any], ...], Callable[..., Any]], ...] = (
        (Allergy, spec.allergies, allergy_record),
        (Condition, spec.conditions, condition_record),
        (Medication, spec.medications, medication_record),
        (Immunization, spec.immunizations, immunization_record),
    )
    for model, entries, record in sections:
        if model.objects.filter(patient=patient).exists():
            continue
        for values in entries:
            record(actor=doctor, patient=patient, **_dated(values))
            written += 1
    return written


def _vitals(spec: ChartSpec, patient: User, doctor: User, nurse: User) -> int:
    written = 0
    if not VitalSigns.objects.filter(patient=patient, source=Source.CLINICIAN).exists():
        for delta, measurements in spec.clinic_vitals:
            vitals_record(actor=doctor, patient=patient, measurements=measurements, measured_at=_at(delta, 10, 15))
            written += 1
    if not VitalSigns.objects.filter(patient=patient, source=Source.PATIENT).exists():
        home = spec.home
        for week in range(home.weeks):
            reading = vitals_record(
                actor=patient,
                patient=patient,
                measurements=home.reading(week),
                # Weekly, the latest yesterday morning (always in the past, whatever the hour now).
                measured_at=_at(ago(days=1 + 7 * (home.weeks - 1 - week)), 7, 30),
                note=home.note(week),
            )
            written += 1
            if week < home.weeks - home.unacknowledged:
                # The nurse goes through most readings; the doctor picks up every third.
                vitals_acknowledge(reading, actor=doctor if week % 3 == 2 else nurse)
    return written


def _notes(spec: ChartSpec, patient: User, authors: dict[str, User]) -> int:
    if ClinicalNote.objects.filter(patient=patient).exists():
        return 0
    now = timezone.now()
    for item in spec.notes:
        author = authors[item.author]
        appointment_id = None
        if item.for_next_visit:
            upcoming = appointments_of_patient_for_notes(patient).filter(provider=author, starts_at__gt=now).last()
            appointment_id = upcoming.pk if upcoming is not None else None
        note = note_create(actor=author, patient=patient, appointment_id=appointment_id, **item.soap)
        if item.signed:
            note = note_sign(note, actor=author)
            if item.amendment is not None:
                reason, text = item.amendment
                note_amend(note, actor=author, reason=reason, text=text)
    return len(spec.notes)


def _document(spec: ChartSpec, patient: User, doctor: User, result: DemoResult) -> int:
    if Document.objects.filter(patient=patient).exists():
        return 0
    item = spec.document
    if item.pdf:
        content, content_type = _pdf(item.title, item.lines), "application/pdf"
    else:
        content, content_type = ("\n".join(item.lines) + "\n").encode(), "text/plain"
    upload = SimpleUploadedFile(item.filename, content, content_type=content_type)
    try:
        document_upload(actor=doctor, patient=patient, upload=upload, title=item.title, category=item.category)
    except RecordsError as exc:
        # E.g. CLAMD_URL set but the scanner is down: the rest of the demo is still useful,
        # and the next run adds the document.
        result.warnings.append(f"{patient.email}: document not added ({exc.message})")
        return 0
    return 1


def demo_chart_ensure(*, spec: ChartSpec, users: dict[str, User]) -> DemoResult:
    """Write the chart of `spec.patient`, section by section, where the section is still empty.

    `users`: the demo users by email (the patient, their doctors and nurse; staff are acted
    for as if signed in with their second factor). Returns how many entries were written.
    """
    patient = users[spec.patient]
    staff = {email: _acting(users[email]) for email in {spec.doctor, spec.nurse, *(n.author for n in spec.notes)}}
    doctor, nurse = staff[spec.doctor], staff[spec.nurse]
    result = DemoResult()
    result.written += _structured(spec, patient, doctor)
    result.written += _vitals(spec, patient, doctor, nurse)
    result.written += _notes(spec, patient, staff)
    result.written += _document(spec, patient, doctor, result)
    return result


def demo_emails() -> set[str]:
    """Every demo user the charts need."""
    return {
        email
        for spec in DEMO_CHARTS
        for email in (spec.patient, spec.doctor, spec.nurse, *(note.author for note in spec.notes))
    }
