"""Demo prescriptions for `make run` (called by `manage.py seed_demo_prescriptions`).

Each demo patient gets signed prescriptions from their doctor: Paula a repeat of her
lisinopril with refills left and the first month dispensed; Sam his metformin and reliever
inhaler; Lee levothyroxine, and sumatriptan with a refill request waiting in Dr Baker's queue.
Signed through the same code as a real signature (identity snapshots, Ed25519, the overridden
"already taking it" warnings with a reason) except the authenticator code: the seed command
runs at the console with DEBUG on, where no doctor is present to type one.

Idempotent: a patient who already has a prescription is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from accounts.models import User
from prescriptions.models import Prescription
from prescriptions.services.dispensing import dispense_record
from prescriptions.services.keys import prescriber_key_ensure
from prescriptions.services.prescribing import prescription_create, sign_locked
from prescriptions.services.refills import refill_request_create

REPEAT_REASON = "Repeat prescription of a medicine the patient already takes."


def _item(medication: str, strength: str, form: str, dose: str, frequency: str, **rest: Any) -> dict[str, Any]:
    return {
        "medication": medication,
        "strength": strength,
        "form": form,
        "dose": dose,
        "route": rest.pop("route", "oral"),
        "frequency": frequency,
        **rest,
    }


@dataclass(frozen=True)
class DemoPrescription:
    patient: str
    doctor: str
    items: tuple[dict[str, Any], ...]
    dispense: tuple[tuple[int, int], ...] = ()
    refill_note: str = ""


ADAMS = "dr.adams@demo.telemed.test"
BAKER = "dr.baker@demo.telemed.test"

DEMO_PRESCRIPTIONS = (
    DemoPrescription(
        patient="paula.patel@demo.telemed.test",
        doctor=ADAMS,
        items=(
            _item(
                "Lisinopril",
                "10 mg",
                "tablet",
                "1 tablet",
                "Once daily, in the morning",
                duration="28 days",
                quantity=28,
                quantity_unit="tablets",
                refills=5,
                instructions="Keep taking it even when your blood pressure is normal.",
            ),
        ),
        dispense=((1, 28),),
    ),
    DemoPrescription(
        patient="sam.silva@demo.telemed.test",
        doctor=ADAMS,
        items=(
            _item(
                "Metformin",
                "500 mg",
                "tablet",
                "1 tablet",
                "Twice daily with meals",
                duration="28 days",
                quantity=56,
                quantity_unit="tablets",
                refills=2,
                instructions="Take with food to spare your stomach.",
            ),
            _item(
                "Salbutamol inhaler",
                "100 micrograms per puff",
                "inhaler",
                "2 puffs",
                "When needed for wheeze, up to 4 times a day",
                route="inhaled",
                quantity=1,
                quantity_unit="inhaler",
                refills=3,
                substitution_allowed=False,
                instructions="If you need it more than 3 times a week, book a review.",
            ),
        ),
    ),
    DemoPrescription(
        patient="lee.lopez@demo.telemed.test",
        doctor=BAKER,
        items=(
            _item(
                "Levothyroxine",
                "75 micrograms",
                "tablet",
                "1 tablet",
                "Once daily, 30 minutes before breakfast",
                duration="28 days",
                quantity=28,
                quantity_unit="tablets",
                refills=3,
            ),
        ),
    ),
    DemoPrescription(
        patient="lee.lopez@demo.telemed.test",
        doctor=BAKER,
        items=(
            _item(
                "Sumatriptan",
                "50 mg",
                "tablet",
                "1 tablet",
                "At the start of a migraine; may repeat once after 2 hours",
                quantity=6,
                quantity_unit="tablets",
                refills=0,
                instructions="No more than 2 tablets in 24 hours.",
            ),
        ),
        dispense=((1, 6),),
        refill_note="I have used the last tablet; migraines about twice a month.",
    ),
)


def demo_emails() -> set[str]:
    return {spec.patient for spec in DEMO_PRESCRIPTIONS} | {spec.doctor for spec in DEMO_PRESCRIPTIONS}


def _acting(user: User) -> User:
    # As records.services.demo: the in-memory user passes the OTP check for this console run.
    user.is_verified = lambda: True  # type: ignore[attr-defined]
    return user


def _sign_for_demo(doctor: User, draft: Prescription) -> Prescription:
    prescriber_key_ensure(actor=doctor)
    with transaction.atomic(durable=True):
        locked = Prescription.objects.select_for_update().get(pk=draft.pk)
        return sign_locked(doctor, locked, REPEAT_REASON)


def demo_prescriptions_ensure(*, users: dict[str, User]) -> int:
    """Write the demo prescriptions of every demo patient who has none; how many were signed."""
    done_patients = set(
        Prescription.objects.filter(patient__email__in=[spec.patient for spec in DEMO_PRESCRIPTIONS])
        .values_list("patient__email", flat=True)
        .distinct()
    )
    written = 0
    for spec in DEMO_PRESCRIPTIONS:
        if spec.patient in done_patients:
            continue
        patient, doctor = users[spec.patient], _acting(users[spec.doctor])
        draft = prescription_create(actor=doctor, patient=patient, items=spec.items)
        signed = _sign_for_demo(doctor, draft)
        written += 1
        if spec.dispense:
            dispense_record(
                prescription=signed,
                dispense_code=signed.dispense_code,
                lines=spec.dispense,
                pharmacy="Riverside Pharmacy",
                pharmacist="J. Okafor",
            )
        if spec.refill_note:
            refill_request_create(actor=patient, prescription=signed, note=spec.refill_note)
    return written
