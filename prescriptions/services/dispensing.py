"""Recording what a pharmacy hands over, against the paper's one-time dispense code.

The pharmacist enters the dispense code printed on the paper (not in the QR code, so a photo
of the QR code alone records nothing), their name and the pharmacy's, and a quantity per item.
Refused: a prescription that does not verify as valid (invalid, cancelled, superseded,
expired, fully dispensed), a wrong code (audited; the interfaces rate-limit attempts), and
more than is left of an item (quantity x (1 + refills) minus what was dispensed).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit.services import audit_record, audit_record_denied
from prescriptions.errors import PrescriptionsError, PrescriptionsErrorCode
from prescriptions.models import Dispense, Prescription
from prescriptions.verification import Verdict, Verification, verdict_for
from telemed.crypto.errors import DecryptionError

ACTION = "prescriptions.dispense"


def dispense_code_matches(prescription: Prescription, code: str) -> bool:
    try:
        wanted = prescription.dispense_code.upper().encode()
    except DecryptionError:
        # A tampered code matches nothing; the prescription verifies as it verifies.
        return False
    given = "".join((code or "").split()).replace("-", "").upper().encode()
    return hmac.compare_digest(wanted, given)


def dispense_record(
    *,
    prescription: Prescription,
    dispense_code: str,
    lines: Iterable[tuple[int, int]],
    pharmacy: str,
    pharmacist: str,
    actor: User | None = None,
) -> Verification:
    """Record one dispense (item position, quantity per line) and return the new state.

    One transaction under the prescription's row lock: two pharmacies dispensing at once
    cannot both take the last tablets.
    """
    pharmacy, pharmacist = (pharmacy or "").strip(), (pharmacist or "").strip()
    if not pharmacy or not pharmacist:
        raise PrescriptionsError("Name the pharmacy and the pharmacist.", PrescriptionsErrorCode.INVALID)
    wanted: dict[int, int] = {}
    for position, quantity in lines:
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
            raise PrescriptionsError("Quantities are whole numbers.", PrescriptionsErrorCode.INVALID)
        try:
            position = int(position)
        except (TypeError, ValueError):
            raise PrescriptionsError("Items are named by their number.", PrescriptionsErrorCode.INVALID) from None
        if quantity:
            wanted[position] = wanted.get(position, 0) + quantity
    if not wanted:
        raise PrescriptionsError("Enter a quantity for at least one item.", PrescriptionsErrorCode.INVALID)
    if not dispense_code_matches(prescription, dispense_code):
        _refused(actor, prescription, "wrong dispense code")
        raise PrescriptionsError(
            "That dispense code is not the one on this prescription.",
            PrescriptionsErrorCode.DISPENSE_CODE_INVALID,
            status_code=403,
        )
    try:
        return _record(prescription, wanted, pharmacy=pharmacy, pharmacist=pharmacist, actor=actor)
    except PrescriptionsError as refusal:
        # Audited after the rollback, in a transaction of its own: a refused dispense is as
        # much a part of the trail as a recorded one. The code only: the message names the
        # medicine, and the trail is not encrypted.
        _refused(actor, prescription, f"refused: {refusal.code}")
        raise


def _refused(actor: User | None, prescription: Prescription, reason: str) -> None:
    audit_record_denied(
        actor=actor,
        action=ACTION,
        target_type="prescriptions.prescription",
        target_id=prescription.pk,
        patient=prescription.patient,
        reason=reason,
    )


def _record(
    prescription: Prescription, wanted: dict[int, int], *, pharmacy: str, pharmacist: str, actor: User | None
) -> Verification:
    with transaction.atomic(durable=True):
        locked = Prescription.objects.select_for_update().get(pk=prescription.pk)
        state = verdict_for(locked)
        if state.verdict != Verdict.VALID:
            raise PrescriptionsError(
                f"Not dispensable: {state.text}", PrescriptionsErrorCode.DISPENSE_REFUSED, status_code=409
            )
        by_position = {item_state.item.position: item_state for item_state in state.items}
        for position, quantity in wanted.items():
            item_state = by_position.get(position)
            if item_state is None:
                raise PrescriptionsError(f"This prescription has no item {position}.", PrescriptionsErrorCode.INVALID)
            if quantity > item_state.remaining:
                item = item_state.item
                raise PrescriptionsError(
                    f"Item {position} ({item.medication}): {item_state.remaining} {item.quantity_unit} left to "
                    f"dispense, {quantity} asked.",
                    PrescriptionsErrorCode.OVER_DISPENSE,
                    status_code=409,
                )
        now = timezone.now()
        summary = []
        for position, quantity in sorted(wanted.items()):
            item = by_position[position].item
            Dispense.objects.create(
                prescription=locked,
                item=item,
                quantity=quantity,
                pharmacy=pharmacy[:200],
                pharmacist=pharmacist[:200],
                recorded_by=actor,
                dispensed_at=now,
            )
            summary.append(f"item {position} x {quantity}")
        audit_record(
            actor=actor,
            action=ACTION,
            target_type="prescriptions.prescription",
            target_id=locked.pk,
            patient=locked.patient,
            reason=f"{pharmacy} ({pharmacist}): {', '.join(summary)}",
        )
        return verdict_for(locked)
