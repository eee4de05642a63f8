"""The demo charts written by `seed_demo` (records.services.demo)."""

import datetime as dt
import zoneinfo
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from accounts.models import User
from accounts.tests.factories import otp_verified_user
from audit.models import AuditEvent, Outcome
from records.models import (
    VITAL_RANGES,
    Allergy,
    ClinicalNote,
    Condition,
    Document,
    Immunization,
    Medication,
    NoteAmendment,
    NoteStatus,
    Source,
    VitalSigns,
)
from records.selectors import access_chart_for_user, chart_get
from records.services.demo import DEMO_CHARTS
from records.services.documents import document_read_all
from records.services.notes import content_sha256

pytestmark = pytest.mark.django_db

MODELS = (Allergy, Condition, Medication, Immunization, VitalSigns, ClinicalNote, NoteAmendment, Document)
SECTIONS = ("allergies", "conditions", "medications", "immunizations", "vitals", "notes", "documents")


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    # A fixed Monday morning: the demo bookings (and the drafts linked to them) are the same on every run.
    with time_machine.travel(dt.datetime(2026, 11, 23, 8, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")), tick=True):
        yield seed


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, stderr=out)
    return out.getvalue()


def user(email: str) -> User:
    return User.objects.get(email=email)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS} | {"audit": AuditEvent.objects.count()}


def test_seeding_twice_writes_the_charts_once(seeded):
    first = seeded()
    after_first = counts()

    second = seeded()

    assert "Records: 0 chart entries written" not in first
    assert "Records: 0 chart entries written for 3 demo patients" in second
    assert counts() == after_first
    assert all(after_first[model.__name__] for model in MODELS)


def test_a_half_written_chart_is_finished_by_the_next_run(seeded):
    seeded()
    paula = user(DEMO_CHARTS[0].patient)
    before = counts()
    doomed = list(Immunization.objects.filter(patient=paula).values_list("pk", flat=True))
    Immunization.objects.filter(pk__in=doomed).delete()

    seeded()

    assert Immunization.objects.filter(patient=paula).count() == len(doomed)
    assert {name: n for name, n in counts().items() if name != "audit"} == {
        name: n for name, n in before.items() if name != "audit"
    }


@pytest.mark.parametrize("spec", DEMO_CHARTS, ids=lambda spec: spec.patient.split("@")[0])
def test_every_demo_patient_has_every_section_of_the_chart(seeded, spec):
    seeded()
    patient = user(spec.patient)

    mine = chart_get(access_chart_for_user(patient, patient.pk))
    theirs = chart_get(access_chart_for_user(otp_verified_user(user(spec.doctor)), patient.pk))

    for section in SECTIONS:
        assert getattr(mine, section), f"{spec.patient} has no {section}"
    assert all(note.status == NoteStatus.SIGNED for note in mine.notes)
    assert any(note.status == NoteStatus.DRAFT for note in theirs.notes)
    assert mine.unacknowledged_vitals, "the latest home reading waits for a clinician"
    assert len(theirs.vitals) == len(spec.clinic_vitals) + spec.home.weeks


@pytest.mark.parametrize("spec", DEMO_CHARTS, ids=lambda spec: spec.patient.split("@")[0])
def test_the_demo_values_are_plausible_and_read_back_decrypted(seeded, spec):
    seeded()
    patient = user(spec.patient)

    for vitals in VitalSigns.objects.filter(patient=patient):
        for name, _label, _unit, low, high in VITAL_RANGES:
            value = getattr(vitals, name)
            assert value is None or low <= value <= high
    stored = {a.substance for a in Allergy.objects.filter(patient=patient)}
    assert stored == {allergy["substance"] for allergy in spec.allergies}
    assert {m.name for m in Medication.objects.filter(patient=patient)} == {m["name"] for m in spec.medications}
    for note in ClinicalNote.objects.filter(patient=patient, status=NoteStatus.SIGNED):
        assert note.content_sha256 == content_sha256(note)
    document = Document.objects.get(patient=patient)
    content = document_read_all(document, actor=patient)
    assert content.startswith(b"%PDF-") if spec.document.pdf else content.decode().startswith(spec.document.lines[0])
    assert document.title == spec.document.title and document.size_bytes == len(content)


def test_paulas_chart_tells_a_hypertension_story(seeded):
    seeded()
    paula = user("paula.patel@demo.telemed.test")
    chart = chart_get(access_chart_for_user(otp_verified_user(user("dr.adams@demo.telemed.test")), paula.pk))

    assert ("Essential hypertension", "I10") in {(c.description, c.code) for c in chart.conditions}
    assert ("Lisinopril", "10 mg") in {(m.name, m.dose) for m in chart.active_medications}
    assert "Hives" in next(a.reaction for a in chart.allergies if a.substance == "Penicillin")
    assert {"Influenza", "Tetanus"} <= {i.vaccine.split(" ")[0].rstrip(",") for i in chart.immunizations}

    home = sorted((v for v in chart.vitals if v.source == Source.PATIENT), key=lambda v: v.measured_at)
    assert len(home) == 26
    assert home[-1].measured_at - home[0].measured_at == dt.timedelta(weeks=25)
    assert home[0].systolic_mmhg - home[-1].systolic_mmhg >= 20, "trending down"
    assert [v.acknowledged_at is None for v in home[-3:]] == [False, True, True]
    clinic = [v for v in chart.vitals if v.source == Source.CLINICIAN and v.bmi is not None]
    assert clinic and all(20 < v.bmi < 35 for v in clinic)

    signed = [n for n in chart.notes if n.status == NoteStatus.SIGNED]
    drafts = [n for n in chart.notes if n.status == NoteStatus.DRAFT]
    assert len(signed) == 2 and sum(len(n.amendments.all()) for n in signed) == 1
    assert len(drafts) == 1 and drafts[0].author.email == "dr.adams@demo.telemed.test"
    assert drafts[0].appointment is not None and drafts[0].appointment.patient == paula


def test_sams_chart_has_asthma_diabetes_and_an_hba1c(seeded):
    seeded()
    sam = user("sam.silva@demo.telemed.test")
    chart = chart_get(access_chart_for_user(sam, sam.pk))

    assert {"Asthma", "Type 2 diabetes mellitus"} <= {c.description for c in chart.conditions}
    assert {"Metformin", "Salbutamol inhaler"} <= {m.name for m in chart.medications}
    assert any("HbA1c" in note.assessment for note in chart.notes)
    assert {note.author.email for note in chart.notes} == {"dr.adams@demo.telemed.test", "dr.baker@demo.telemed.test"}


def test_the_demo_charts_were_written_through_the_audited_services(seeded):
    seeded()

    for model, action in ((Allergy, "records.allergy.create"), (VitalSigns, "records.vitals.create")):
        recorded = set(model.objects.values_list("pk", flat=True))
        audited = AuditEvent.objects.filter(action=action, outcome=Outcome.SUCCESS).values_list("target_id", flat=True)
        assert {int(pk) for pk in audited} == recorded
    acknowledged = VitalSigns.objects.filter(acknowledged_at__isnull=False).count()
    assert AuditEvent.objects.filter(action="records.vitals.acknowledge").count() == acknowledged
    assert (
        AuditEvent.objects.filter(action="records.clinicalnote.sign").count()
        == ClinicalNote.objects.filter(status=NoteStatus.SIGNED).count()
    )
    assert AuditEvent.objects.filter(action="records.document.upload").count() == 3
    assert not AuditEvent.objects.filter(outcome=Outcome.DENIED).exists()


def test_the_demo_staff_get_no_second_factor_from_seeding(seeded):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    seeded()

    assert not TOTPDevice.objects.exists()


def test_seed_demo_records_needs_debug_and_the_demo_users(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo_records", stdout=StringIO())
    settings.DEBUG = True
    with pytest.raises(CommandError, match="Demo users missing"):
        call_command("seed_demo_records", stdout=StringIO())
