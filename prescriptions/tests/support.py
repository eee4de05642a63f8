"""Helpers shared by the service-level tests of the prescriptions app: the audit trail, the
notification outbox, rows as the database holds them, writing behind the services' back, and
a signed prescription worth tampering with."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from types import SimpleNamespace

from django.db import connection
from django.db.models import QuerySet

from accounts.tests.factories import (
    CareRelationshipFactory,
    DoctorFactory,
    PatientProfileFactory,
    VerifiedPatientFactory,
    otp_verified_user,
)
from appointments.tests.factories import AppointmentFactory
from audit.models import AuditEvent
from messaging.models import Notification
from prescriptions.models import Prescription
from prescriptions.services.keys import prescriber_key_ensure, prescriber_key_rotate
from prescriptions.services.prescribing import prescription_create, prescription_revise, prescription_update
from prescriptions.tests.conftest import ATORVASTATIN

TARGET = "prescriptions.prescription"


def succeeded(action: str, **filters) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(action=action, outcome="success", **filters)


def denied(action: str, **filters) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(action=action, outcome="denied", **filters)


def stored(prescription: Prescription) -> Prescription:
    """The prescription as the database holds it now (nothing cached from before)."""
    return Prescription.objects.get(pk=prescription.pk)


def notices(user) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).order_by("pk")


def names_no_medicine(notification: Notification, *medicines: str) -> bool:
    text = f"{notification.subject}\n{notification.body_text}\n{notification.body_html}".lower()
    return not any(medicine.lower() in text for medicine in medicines)


@contextlib.contextmanager
def triggers_disabled() -> Iterator[None]:
    """Write behind the services' back, as someone with the database's superuser would.

    PostgreSQL's guards of signed content (prescriptions migration 0002) are triggers; a
    superuser's session in replica mode fires none. SQLite has no such triggers.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")


# --- A signed prescription worth tampering with (test_tamper.py, test_triggers.py) -----------

METFORMIN = {
    **ATORVASTATIN,
    "medication": "Metformin",
    "strength": "500 mg",
    "dose": "1 tablet",
    "frequency": "Twice daily with meals",
    "quantity": 56,
    "refills": 1,
    "instructions": "Take with food.",
}


def tamper_world(prescriber, patient, sign) -> SimpleNamespace:
    """A signed revision `rx` (two items, an appointment, replacing `first`), and what someone
    tampering could point its columns at: another patient, a colleague and their key, another
    visit, an unrelated prescription."""
    PatientProfileFactory(user=patient, legal_name="Patricia Patient", date_of_birth=dt.date(1980, 4, 2))
    visit = AppointmentFactory(patient=patient, provider=prescriber)
    first = sign(prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN], appointment_id=visit.pk))
    revision = prescription_revise(actor=prescriber, prescription=first)
    prescription_update(actor=prescriber, prescription=revision, items=[ATORVASTATIN, METFORMIN])
    rx = sign(revision)
    unrelated = sign(
        prescription_create(actor=prescriber, patient=patient, items=[{**METFORMIN, "medication": "Levothyroxine"}])
    )
    other_patient = VerifiedPatientFactory(full_name="Olive Other")
    PatientProfileFactory(user=other_patient, legal_name="Olive Other", date_of_birth=dt.date(1990, 1, 1))
    colleague = otp_verified_user(DoctorFactory(full_name="Dr Colm Colleague"))
    CareRelationshipFactory(patient=patient, provider=colleague)
    return SimpleNamespace(
        rx=stored(rx),
        first=stored(first),
        prescriber=prescriber,
        unrelated=unrelated,
        other_patient=other_patient,
        colleague=colleague,
        colleague_key=prescriber_key_ensure(actor=colleague),
        other_visit=AppointmentFactory(
            patient=patient, provider=prescriber, starts_at=visit.starts_at + dt.timedelta(days=1)
        ),
    )


def flip(hex_digits: str) -> str:
    return hex_digits[:-1] + ("0" if hex_digits[-1] != "0" else "1")


# Each signed column of a prescription, and a new value as a forger would choose it.
SIGNED_COLUMNS = {
    "patient": lambda w: w.other_patient,
    "prescriber": lambda w: w.colleague,
    "appointment": lambda w: w.other_visit,
    "supersedes": lambda w: w.unrelated,
    "valid_days": lambda w: w.rx.valid_days + 180,
    "signed_at": lambda w: w.rx.signed_at + dt.timedelta(seconds=1),
    "valid_until": lambda w: w.rx.valid_until + dt.timedelta(days=365),
    "clinic_name": lambda w: "Another Clinic",
    "patient_name": lambda w: "Someone Else",
    "patient_birth_date": lambda w: w.rx.patient_birth_date + dt.timedelta(days=1),
    "patient_mrn": lambda w: "MRN-TAMPERED",
    "prescriber_name": lambda w: "Dr Somebody Else",
    "prescriber_licence": lambda w: "GMC 0000000",
    "prescriber_jurisdiction": lambda w: "Elsewhere",
    "signing_key": lambda w: prescriber_key_rotate(actor=w.prescriber),
    "signature": lambda w: flip(w.rx.signature),
}
# Not signed, on purpose: the row's identity, its lifecycle (what verification reports besides
# "invalid"), bookkeeping, and the codes that find it (a changed code finds nothing).
LIFECYCLE_COLUMNS = {
    "id",
    "status",
    "created_at",
    "updated_at",
    "check_code",
    "dispense_code",
    "cancelled_at",
    "cancelled_by",
    "cancel_reason",
}
# Each column of an item (every one is signed), and a new value.
ITEM_COLUMNS = {
    "position": 3,
    "medication": "Oxycodone",
    "strength": "80 mg",
    "form": "capsule",
    "dose": "2 tablets",
    "route": "sublingual",
    "frequency": "Every hour",
    "duration": "365 days",
    "quantity": 280,
    "quantity_unit": "packs",
    "refills": 12,
    "substitution_allowed": False,
    "instructions": "Take as many as you like.",
}
