"""Reads of the prescriptions app, every one through the accounts policy and into the audit trail.

Who sees a prescription (on top of records' chart table):

| who                                   | drafts             | signed, cancelled, superseded |
| ------------------------------------- | ------------------ | ----------------------------- |
| the patient, a proxy (records.view)   | no (404)           | yes                           |
| a doctor caring for the patient       | yes                | yes                           |
| a nurse of the care team              | yes (read only)    | yes (read only)               |
| anyone else, admins by role included  | 404                | 404                           |

The public verify page reads by public id *and* check code (`prescription_verify`), and tells
only what a pharmacist needs.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F, Prefetch, QuerySet
from django.http import Http404

from accounts.models import Role, User
from audit.services import audit_record, audit_record_denied
from prescriptions.errors import PrescriptionsForbiddenError
from prescriptions.models import (
    PrescriberKey,
    Prescription,
    PrescriptionStatus,
    RefillRequest,
    RefillStatus,
)
from prescriptions.paper import prescription_pdf
from prescriptions.verification import Verdict, Verification, verdict_for
from records.selectors import ChartAccess, Need, access_chart_for_user, chart_patients_for_clinician
from telemed.crypto.errors import DecryptionError
from telemed.ids import positive_id

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

VIEW_ACTION = "prescriptions.prescription.view"
PDF_ACTION = "prescriptions.prescription.pdf"
VERIFY_ACTION = "prescriptions.verify"
TARGET = "prescriptions.prescription"


def prescriber_keys_for(user: User) -> QuerySet[PrescriberKey]:
    """A prescriber's keys, the active one first (public parts only are meant for display)."""
    # NULLs sort first on SQLite and last on PostgreSQL unless told: the active key (no
    # retired_at) first, then the newest retired.
    return PrescriberKey.objects.filter(prescriber=user).order_by(
        F("retired_at").desc(nulls_first=True), "-created_at", "-pk"
    )


def prescriber_key_by_fingerprint(fingerprint: str) -> PrescriberKey | None:
    """The key a signature names, active or retired (a verifier's lookup; public)."""
    return PrescriberKey.objects.select_related("prescriber").filter(fingerprint=str(fingerprint)[:32]).first()


def prescriber_key_active(user: User) -> PrescriberKey:
    """The prescriber's active key (the signing service makes one first if there is none)."""
    return PrescriberKey.objects.get(prescriber=user, retired_at__isnull=True)


# --- One prescription ------------------------------------------------------------------------


@dataclass(frozen=True)
class PrescriptionAccess:
    prescription: Prescription
    chart: ChartAccess

    @property
    def patient_side(self) -> bool:
        return self.chart.patient_side

    @property
    def may_prescribe(self) -> bool:
        """A doctor with clinical standing: cancels, revises, answers refill requests."""
        return self.chart.may(Need.CLINICAL)

    @property
    def is_author(self) -> bool:
        return self.prescription.prescriber_id == self.chart.user.pk

    @property
    def may_request_refill(self) -> bool:
        return self.patient_side and self.prescription.status == PrescriptionStatus.SIGNED


def _prescriptions() -> QuerySet[Prescription]:
    return Prescription.objects.select_related(
        "patient", "prescriber", "signing_key", "supersedes", "cancelled_by", "appointment"
    ).prefetch_related("items", "warnings")


class RxNeed(StrEnum):
    READ = "read"
    # Cancel, revise, sign, check, answer refill requests: a doctor caring for the patient.
    PRESCRIBE = "prescribe"
    # Ask for a refill: the patient or their proxy.
    REFILL = "refill"


_NEED_REFUSALS = {
    RxNeed.PRESCRIBE: "Only a doctor caring for this patient may do this.",
    RxNeed.REFILL: "Only the patient or their proxy asks for a refill.",
}


def access_prescription_for_user(
    user: User | AnonymousUser | None,
    prescription_id: object,
    *,
    action: str = VIEW_ACTION,
    record_read: bool = True,
    need: RxNeed = RxNeed.READ,
) -> PrescriptionAccess:
    """A prescription named by an outside id (its number), if `user` may see it (table above).

    Http404, audited as denied, for an unknown id, a chart the policy refuses, or a draft asked
    for by the patient's side. PrescriptionsForbiddenError (403, audited) when the user may see
    it but not do `need` — checked before the interface reads any input, so a reader who may
    not act meets 403 whatever they sent. A read is audited as `action` unless
    `record_read=False` (the service called next records what it does).
    """
    pk = positive_id(prescription_id)
    prescription = _prescriptions().filter(pk=pk).first() if pk else None
    if prescription is None:
        audit_record_denied(
            actor=user,
            action=action,
            target_type=TARGET,
            target_id=str(prescription_id)[:64],
            reason="no such prescription",
        )
        raise Http404("No such prescription.")
    chart = access_chart_for_user(user, prescription.patient_id, action=action, record_read=False)
    if prescription.status == PrescriptionStatus.DRAFT and chart.patient_side:
        audit_record_denied(
            actor=user,
            action=action,
            target_type=TARGET,
            target_id=prescription.pk,
            patient=prescription.patient,
            reason="drafts are not shown to the patient's side",
        )
        raise Http404("No such prescription.")
    access = PrescriptionAccess(prescription=prescription, chart=chart)
    allowed = {
        RxNeed.READ: True,
        RxNeed.PRESCRIBE: access.may_prescribe,
        RxNeed.REFILL: access.patient_side,
    }[need]
    if not allowed:
        audit_record_denied(
            actor=user,
            action=action,
            target_type=TARGET,
            target_id=prescription.pk,
            patient=prescription.patient,
            reason=f"may read, may not {need.value}",
        )
        raise PrescriptionsForbiddenError(_NEED_REFUSALS[need])
    if record_read:
        with transaction.atomic():
            audit_record(
                actor=user,
                action=action,
                target_type=TARGET,
                target_id=prescription.pk,
                patient=prescription.patient,
                reason=f"{prescription.public_id}; {chart.audit_reason}",
                breakglass=chart.breakglass,
            )
    return access


# --- Lists -----------------------------------------------------------------------------------


def prescriptions_for_chart(chart: ChartAccess) -> QuerySet[Prescription]:
    """A patient's prescriptions for someone who may read the chart (drafts to clinicians only)."""
    rows = _prescriptions().filter(patient=chart.patient)
    if chart.patient_side:
        rows = rows.exclude(status=PrescriptionStatus.DRAFT)
    return rows.prefetch_related(
        Prefetch("refill_requests", queryset=RefillRequest.objects.order_by("-created_at", "-pk"))
    )


def prescriptions_written_by(user: User, *, status: str | None = None) -> QuerySet[Prescription]:
    """What a doctor wrote, for patients they still have standing with (newest first)."""
    if getattr(user, "role", None) != Role.DOCTOR:
        return Prescription.objects.none()
    rows = _prescriptions().filter(prescriber=user, patient__in=chart_patients_for_clinician(user))
    return rows.filter(status=status) if status else rows


def refill_queue_for_prescriber(user: User) -> QuerySet[RefillRequest]:
    """Open refill requests on prescriptions this doctor wrote, for patients still in their care."""
    if getattr(user, "role", None) != Role.DOCTOR:
        return RefillRequest.objects.none()
    return (
        RefillRequest.objects.filter(
            status=RefillStatus.OPEN,
            prescription__prescriber=user,
            prescription__patient__in=chart_patients_for_clinician(user),
        )
        .select_related("prescription__patient", "requested_by")
        .prefetch_related("prescription__items")
        .order_by("created_at", "pk")
    )


def access_refill_request_for_user(
    user: User | AnonymousUser | None, refill_id: object, *, action: str, need: RxNeed = RxNeed.READ
) -> tuple[RefillRequest, PrescriptionAccess]:
    """A refill request by its outside id, with the access to its prescription (Http404 and
    403 as `access_prescription_for_user`)."""
    pk = positive_id(refill_id)
    refill = RefillRequest.objects.select_related("prescription").filter(pk=pk).first() if pk else None
    if refill is None:
        audit_record_denied(
            actor=user,
            action=action,
            target_type="prescriptions.refillrequest",
            target_id=str(refill_id)[:64],
            reason="no such refill request",
        )
        raise Http404("No such refill request.")
    access = access_prescription_for_user(user, refill.prescription_id, action=action, record_read=False, need=need)
    return refill, access


# --- Public verification ---------------------------------------------------------------------


def _normal_code(value: object) -> str:
    return "".join(str(value or "").split()).replace("-", "").upper()[:32]


def prescription_by_codes(public_id: object, check_code: object) -> Prescription | None:
    """The signed prescription with this public id and check code (compared in constant time).

    None for a wrong id or code, a prescription never signed (a discarded draft), or a check
    code that no longer decrypts (a tampered row has no paper to match).
    """
    prescription = prescription_by_public_id(public_id)
    if prescription is None:
        return None
    try:
        stored = prescription.check_code
    except DecryptionError:
        return None
    given = _normal_code(check_code).encode()
    if not hmac.compare_digest(stored.upper().encode(), given):
        return None
    return prescription


def prescription_verify(
    public_id: object, check_code: object, *, actor: User | AnonymousUser | None = None, via: str = "page"
) -> Verification:
    """The verdict for whoever holds the paper, audited (`prescriptions.verify`) either way.

    A wrong id or check code is NOT_FOUND and tells nothing else (the interfaces rate-limit
    attempts).
    """
    prescription = prescription_by_codes(public_id, check_code)
    if prescription is None:
        audit_record_denied(
            actor=actor,
            action=VERIFY_ACTION,
            target_type=TARGET,
            target_id=_normal_code(public_id)[:64],
            reason=f"no match ({via})",
        )
        return Verification(Verdict.NOT_FOUND)
    verification = verdict_for(prescription)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=VERIFY_ACTION,
            target_type=TARGET,
            target_id=prescription.pk,
            patient=prescription.patient,
            reason=f"{verification.verdict.value} ({via})",
        )
    return verification


def prescription_paper_for_user(
    user: User | AnonymousUser | None, prescription_id: object
) -> tuple[Prescription, bytes]:
    """The signed prescription's PDF for someone who may see it, audited `prescriptions.prescription.pdf`.

    A draft has no paper (Http404, whoever asks): the paper is what a pharmacist dispenses from.
    """
    access = access_prescription_for_user(user, prescription_id, action=PDF_ACTION, record_read=False)
    prescription = access.prescription
    if not prescription.is_signed:
        raise Http404("A draft has no paper.")
    pdf = prescription_pdf(prescription)
    with transaction.atomic():
        audit_record(
            actor=user,
            action=PDF_ACTION,
            target_type=TARGET,
            target_id=prescription.pk,
            patient=prescription.patient,
            reason=f"{prescription.public_id}; {access.chart.audit_reason}",
            breakglass=access.chart.breakglass,
        )
    return prescription, pdf


def prescription_by_public_id(public_id: object) -> Prescription | None:
    """The signed (or since cancelled, superseded) prescription with this public id, for a
    verifier that holds its signed paper (`manage.py rx_verify`, run by an operator): no check
    code, no access check and no audit, so never for a web interface (they use
    prescription_verify). The items are not loaded here: a tampered one may not decrypt, which
    verification reports as "invalid" rather than raising."""
    return (
        Prescription.objects.select_related("signing_key", "supersedes", "patient")
        # Decrypted on first use, where a tampered value can be caught (see prescription_by_codes).
        .defer("check_code", "dispense_code")
        .filter(public_id=_normal_code(public_id), signed_at__isnull=False)
        .exclude(status=PrescriptionStatus.DRAFT)
        .first()
    )


LIST_ACTION = "prescriptions.prescription.list"


def prescriptions_shown(user: User, prescriptions: Iterable[Prescription], *, action: str = LIST_ACTION) -> None:
    """Record that a list across patients (a doctor's desk, their refill queue) showed `user`
    these prescriptions: one audit event per patient, so each patient's access log says so.
    Lists of one chart are recorded by the chart's access selector instead."""
    by_patient: dict[int, list[str]] = {}
    patients: dict[int, User] = {}
    for prescription in prescriptions:
        by_patient.setdefault(prescription.patient_id, []).append(prescription.public_id)
        patients[prescription.patient_id] = prescription.patient
    if not by_patient:
        return
    with transaction.atomic():
        for patient_id, ids in by_patient.items():
            audit_record(
                actor=user,
                action=action,
                target_type=TARGET,
                patient=patients[patient_id],
                reason=f"listed {', '.join(ids[:10])}{' …' if len(ids) > 10 else ''}",
            )
