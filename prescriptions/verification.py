"""What a prescription's state is for whoever holds the paper (the public verify page, the API,
`manage.py rx_verify`).

Order of verdicts: a prescription whose rows no longer match its signature is INVALID whatever
else is true; then CANCELLED, SUPERSEDED, fully DISPENSED, EXPIRED; else VALID (possibly with
some already dispensed: the item lines say how much is left and how many refills).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from django.db.models import Sum
from django.utils import timezone

from prescriptions.document import integrity_ok
from prescriptions.models import Dispense, Prescription, PrescriptionItem, PrescriptionStatus
from telemed.crypto import DecryptionError


class Verdict(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"
    DISPENSED = "dispensed"
    NOT_FOUND = "not_found"


VERDICT_TEXT = {
    Verdict.VALID: "Valid: signed by the prescriber and not altered.",
    Verdict.INVALID: "Invalid: this prescription does not match its signature. Do not dispense.",
    Verdict.CANCELLED: "Cancelled by the prescriber. Do not dispense.",
    Verdict.SUPERSEDED: "Replaced by a newer prescription. Do not dispense this one.",
    Verdict.EXPIRED: "Expired. Do not dispense.",
    Verdict.DISPENSED: "Already dispensed in full, refills included.",
    Verdict.NOT_FOUND: "No prescription matches this id and check code.",
}


@dataclass(frozen=True)
class ItemState:
    item: PrescriptionItem
    dispensed: int
    remaining: int
    refills_left: int


@dataclass
class Verification:
    verdict: Verdict
    prescription: Prescription | None = None
    items: list[ItemState] = field(default_factory=list)

    @property
    def text(self) -> str:
        return VERDICT_TEXT[self.verdict]

    @property
    def dispensable(self) -> bool:
        return self.verdict == Verdict.VALID

    @property
    def patient_initials(self) -> str:
        assert self.prescription is not None
        return "".join(f"{part[0].upper()}." for part in self.prescription.patient_name.split() if part)

    @property
    def patient_birth_year(self) -> int | None:
        assert self.prescription is not None
        born = self.prescription.patient_birth_date
        return born.year if born else None


def refills_left(item: PrescriptionItem, dispensed: int) -> int:
    """Refills not yet started: the first fill is the quantity, each refill another quantity."""
    fills_started = -(-dispensed // item.quantity)  # ceiling division
    return max(0, item.refills - max(0, fills_started - 1))


def dispensed_totals(prescription_ids: Iterable[int]) -> dict[int, int]:
    """What was dispensed of each item of these prescriptions, by item id (one query)."""
    ids = list(prescription_ids)
    if not ids:
        return {}
    rows = (
        Dispense.objects.filter(prescription_id__in=ids)
        .values_list("item_id")
        .annotate(total=Sum("quantity"))
        .values_list("item_id", "total")
    )
    return {item_id: int(total or 0) for item_id, total in rows}


def item_states(
    prescription: Prescription, items: list[PrescriptionItem], totals: dict[int, int] | None = None
) -> list[ItemState]:
    """Each item with what was dispensed, what is left and the refills left (`totals` from
    `dispensed_totals`, or read now)."""
    if totals is None:
        totals = dispensed_totals([prescription.pk])
    states = []
    for item in items:
        dispensed = totals.get(item.pk, 0)
        states.append(
            ItemState(
                item=item,
                dispensed=dispensed,
                remaining=max(0, item.total_allowed - dispensed),
                refills_left=refills_left(item, dispensed),
            )
        )
    return states


def lifecycle_verdict(prescription: Prescription, states: list[ItemState], today: dt.date) -> Verdict:
    """The verdict of a signed prescription whose signature holds (see the module docstring)."""
    if prescription.status == PrescriptionStatus.CANCELLED:
        return Verdict.CANCELLED
    if prescription.status == PrescriptionStatus.SUPERSEDED:
        return Verdict.SUPERSEDED
    if all(state.remaining == 0 for state in states):
        return Verdict.DISPENSED
    if prescription.valid_until is not None and prescription.valid_until < today:
        return Verdict.EXPIRED
    return Verdict.VALID


def verdict_for(prescription: Prescription, *, today: dt.date | None = None) -> Verification:
    """The verdict for a prescription and the state of each item (no audit; callers audit)."""
    try:
        items = list(prescription.items.all())
    except DecryptionError:
        # A ciphertext altered in the database: tampered, whatever else is true.
        return Verification(Verdict.INVALID, prescription)
    if prescription.status == PrescriptionStatus.DRAFT or not integrity_ok(prescription, items):
        return Verification(Verdict.INVALID, prescription)
    states = item_states(prescription, items)
    return Verification(lifecycle_verdict(prescription, states, today or timezone.localdate()), prescription, states)


def listed_states(prescriptions: Iterable[Prescription]) -> dict[int, Verification]:
    """Where each signed prescription of a list stands, by id, in one query for all (items
    prefetched): `verdict_for` without its signature check, which reads the patient's profile
    for each row. Lists show the lifecycle; the signature is checked where one prescription is
    shown (its page, the verify page, the paper). Drafts (never signed) are left out."""
    rows = [row for row in prescriptions if row.signed_at is not None]
    totals = dispensed_totals(row.pk for row in rows)
    today = timezone.localdate()
    listed = {}
    for row in rows:
        states = item_states(row, list(row.items.all()), totals)
        listed[row.pk] = Verification(lifecycle_verdict(row, states, today), row, states)
    return listed
