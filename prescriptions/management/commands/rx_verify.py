"""`manage.py rx_verify FILE [--offline]`: check a prescription paper (its PDF).

The paper alone (prescriptions.paper.paper_check): the embedded signature covers the embedded
prescription, made with the key it names, and the printed text is what was signed. Then,
unless --offline, the database: the key is a prescriber's key of this portal (active or
retired), the prescription on record carries this very signature and the codes printed on the
paper, and its current state (prescriptions.verification.verdict_for). Consulting the database
is audited as `prescriptions.verify` (via rx_verify).

Exit status: 0 valid; 1 invalid (or the file cannot be read); 2 genuine but not to be dispensed
(cancelled, superseded, expired, dispensed in full).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.services import audit_record, audit_record_denied
from prescriptions.models import PrescriberKey
from prescriptions.paper import PaperCheck, paper_blocks, paper_check
from prescriptions.selectors import (
    TARGET,
    VERIFY_ACTION,
    prescriber_key_by_fingerprint,
    prescription_by_public_id,
)
from prescriptions.signing import fingerprint_for_display
from prescriptions.verification import VERDICT_TEXT, Verdict, Verification, verdict_for

VIA = "rx_verify"
OFFLINE_TEXT = (
    "Valid on paper: the signature covers what is printed. Not checked: whether the key "
    "is the prescriber's (compare its fingerprint with the one the prescriber publishes) and "
    "whether the prescription was cancelled, replaced or dispensed."
)


@dataclass
class Outcome:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    verification: Verification | None = None
    key: PrescriberKey | None = None


def against_database(check: PaperCheck) -> Outcome:
    """The database's word on a paper that checked out offline, audited."""
    assert check.document is not None
    public_id = check.document["id"]
    outcome = Outcome(Verdict.INVALID)
    outcome.key = prescriber_key_by_fingerprint(check.fingerprint)
    if outcome.key is None:
        outcome.reasons.append(
            f"No prescriber of this portal has a key with fingerprint {fingerprint_for_display(check.fingerprint)}."
        )
    elif outcome.key.public_key != check.public_key:
        outcome.reasons.append("The public key in the PDF is not the one this portal holds for that fingerprint.")
    prescription = prescription_by_public_id(public_id)
    if prescription is None:
        outcome.reasons.append(f"No signed prescription {public_id} is on record.")
        audit_record_denied(
            actor=None, action=VERIFY_ACTION, target_type=TARGET, target_id=public_id, reason=f"no match ({VIA})"
        )
        return outcome
    # Same key and same signature as the row, and the row still matching its signature
    # (verdict_for), means the paper's document is the one on record.
    if outcome.key is not None and prescription.signing_key_id != outcome.key.pk:
        outcome.reasons.append("The prescription on record was signed with another key.")
    if prescription.signature != check.signature:
        outcome.reasons.append("The prescription on record carries another signature: this is not its paper.")
    if not hmac.compare_digest(prescription.check_code.upper().encode(), check.check_code.encode()):
        outcome.reasons.append("The check code printed on the paper is not this prescription's.")
    if not hmac.compare_digest(prescription.dispense_code.upper().encode(), check.dispense_code.encode()):
        outcome.reasons.append("The dispense code printed on the paper is not this prescription's.")
    verification = verdict_for(prescription)
    if verification.verdict == Verdict.INVALID:
        outcome.reasons.append("The prescription on record no longer matches its signature: its data was changed.")
    outcome.verification = verification
    outcome.verdict = Verdict.INVALID if outcome.reasons else verification.verdict
    with transaction.atomic():
        audit_record(
            actor=None,
            action=VERIFY_ACTION,
            target_type=TARGET,
            target_id=prescription.pk,
            patient=prescription.patient,
            reason=f"{outcome.verdict.value} ({VIA})",
        )
    return outcome


class Command(BaseCommand):
    help = (
        "Check a prescription paper (PDF): its embedded signature, that the printed text is what was signed, "
        "and (unless --offline) the prescriber's key and the prescription's state in the database. "
        "Exit 0 valid, 1 invalid, 2 genuine but not to be dispensed (cancelled, replaced, expired, dispensed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the prescription PDF")
        parser.add_argument(
            "--offline", action="store_true", help="check the paper alone, without the database (nothing audited)"
        )

    def handle(self, *args, file: str, offline: bool, **options):
        try:
            data = Path(file).read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror or error}.") from None
        check = paper_check(data)
        if not check.ok:
            self._invalid(check.reasons, check.document)
        if offline:
            self._report("VALID (offline)", OFFLINE_TEXT, check, None, None)
            return
        outcome = against_database(check)
        if outcome.verdict == Verdict.INVALID:
            self._invalid(outcome.reasons, check.document)
        self._report(
            outcome.verdict.value.upper(), VERDICT_TEXT[outcome.verdict], check, outcome.key, outcome.verification
        )
        if outcome.verdict != Verdict.VALID:
            raise CommandError(f"{outcome.verdict.value.upper()}: do not dispense.", returncode=2)

    def _invalid(self, reasons: list[str], document: dict[str, Any] | None) -> NoReturn:
        self.stdout.write(self.style.ERROR("INVALID"))
        self.stdout.write(VERDICT_TEXT[Verdict.INVALID])
        for reason in reasons:
            self.stdout.write(f"  - {reason}")
        if document is not None:
            prescriber = document["prescriber"]
            self.stdout.write(
                f"The paper claims to be prescription {document['id']} by {prescriber['name']} "
                f"(licence {prescriber['licence']}, key {fingerprint_for_display(prescriber['key'])}): do not trust it."
            )
        raise CommandError("INVALID: do not dispense.", returncode=1)

    def _report(
        self,
        headline: str,
        text: str,
        check: PaperCheck,
        key: PrescriberKey | None,
        verification: Verification | None,
    ) -> None:
        assert check.document is not None
        style = self.style.SUCCESS if verification is None or verification.dispensable else self.style.WARNING
        self.stdout.write(style(headline))
        self.stdout.write(text)
        if key is not None:
            state = "active" if key.active else "retired (what it signed stays valid)"
            owner = key.prescriber.full_name or key.prescriber.email
            self.stdout.write(f"Key {fingerprint_for_display(key.fingerprint)}: {owner}'s key at this portal, {state}.")
        self.stdout.write("")
        # What the paper says, as it prints it (the codes and the QR block left out).
        blocks = paper_blocks(check.document, check_code=check.check_code, dispense_code=check.dispense_code)
        for block in blocks[:-1]:
            for line in block.all_lines:
                self.stdout.write(("  " if line.style not in ("title", "heading") else "") + line.text)
        if verification is not None:
            self.stdout.write("")
            self.stdout.write("Dispensed so far:")
            for state in verification.items:
                self.stdout.write(
                    f"  {state.item.position}. {state.item.medication}: {state.dispensed} of "
                    f"{state.item.total_allowed} {state.item.quantity_unit} dispensed, {state.remaining} left, "
                    f"{state.refills_left} refill(s) left"
                )
