"""factory_boy factories for the chart, written directly (no services, no audit).

For tests that need an entry to exist. Tests of the services themselves call the services.
`DocumentFactory` makes a row only (no stored object): use `document_upload` when a test reads
the bytes back.
"""

import datetime as dt
import hashlib
import uuid

import factory
from django.utils import timezone

from accounts.tests.factories import DoctorFactory, VerifiedPatientFactory
from records.models import (
    Allergy,
    Condition,
    Document,
    DocumentCategory,
    Immunization,
    Medication,
    NoteAmendment,
    NoteStatus,
    Severity,
    Source,
    VitalSigns,
)
from records.models import ClinicalNote as ClinicalNoteModel
from telemed.crypto import current_key_id


class ChartEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    patient = factory.SubFactory(VerifiedPatientFactory)
    recorded_by = factory.SubFactory(DoctorFactory)
    source = Source.CLINICIAN


class AllergyFactory(ChartEntryFactory):
    class Meta:
        model = Allergy

    substance = factory.Iterator(["Penicillin", "Peanuts", "Latex", "Birch pollen"])
    reaction = "Hives"
    severity = Severity.MODERATE


class ConditionFactory(ChartEntryFactory):
    class Meta:
        model = Condition

    description = factory.Iterator(["Essential hypertension", "Asthma", "Type 2 diabetes mellitus"])
    code = factory.Iterator(["I10", "J45.909", "E11.9"])
    onset_on = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=400))


class MedicationFactory(ChartEntryFactory):
    class Meta:
        model = Medication

    name = factory.Iterator(["Lisinopril", "Metformin", "Atorvastatin"])
    dose = "10 mg"
    frequency = "Once daily"
    started_on = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=200))


class ImmunizationFactory(ChartEntryFactory):
    class Meta:
        model = Immunization

    vaccine = factory.Iterator(["Influenza (seasonal)", "Tetanus, diphtheria (Td)", "COVID-19 mRNA"])
    administered_on = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=90))
    dose_number = 1
    lot_number = factory.Sequence(lambda n: f"LOT{n:05d}")


class VitalSignsFactory(ChartEntryFactory):
    """A clinician's set; `HomeReadingFactory` for a patient's unacknowledged home reading."""

    class Meta:
        model = VitalSigns

    measured_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=1))
    systolic_mmhg = 128
    diastolic_mmhg = 82
    heart_rate_bpm = 72


class HomeReadingFactory(VitalSignsFactory):
    recorded_by = factory.LazyAttribute(lambda o: o.patient)
    source = Source.PATIENT


class ClinicalNoteFactory(factory.django.DjangoModelFactory):
    """A draft; `SignedNoteFactory` for a signed one (with its content digest)."""

    class Meta:
        model = ClinicalNoteModel

    patient = factory.SubFactory(VerifiedPatientFactory)
    author = factory.SubFactory(DoctorFactory)
    status = NoteStatus.DRAFT
    subjective = "Cough for a week, no fever."
    objective = "Chest clear, temperature 36.9 °C."
    assessment = "Viral upper respiratory infection."
    plan = "Rest, fluids; return if short of breath."


class SignedNoteFactory(ClinicalNoteFactory):
    class Meta:
        skip_postgeneration_save = True

    status = NoteStatus.SIGNED
    signed_by = factory.LazyAttribute(lambda o: o.author)
    signed_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def digest(obj, create, extracted, **kwargs):
        from records.services.notes import content_sha256

        obj.content_sha256 = content_sha256(obj)
        if create:
            ClinicalNoteModel.objects.filter(pk=obj.pk).update(content_sha256=obj.content_sha256)


class NoteAmendmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NoteAmendment

    note = factory.SubFactory(SignedNoteFactory)
    author = factory.LazyAttribute(lambda o: o.note.author)
    reason = "Result received after signing"
    text = "Chest X-ray clear."


class DocumentFactory(ChartEntryFactory):
    """A document row without stored bytes (downloading it fails the integrity check)."""

    class Meta:
        model = Document

    title = "Full blood count"
    filename = "fbc.pdf"
    category = DocumentCategory.LAB_RESULT
    content_type = "application/pdf"
    size_bytes = 1024
    sha256 = factory.LazyFunction(lambda: hashlib.sha256(uuid.uuid4().bytes).hexdigest())
    storage_key = factory.LazyFunction(lambda: f"records/test/{uuid.uuid4().hex}")
    key_id = factory.LazyFunction(current_key_id)
