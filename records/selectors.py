"""Reads of the chart, every one through the accounts policy and into the audit trail.

Who may do what with a patient's chart (`chart_permission`, on top of `accounts.policy`):

| need        | patient | proxy (records.view) | doctor (care / break-glass) | nurse (care team / break-glass) |
| ----------- | ------- | -------------------- | --------------------------- | ------------------------------- |
| read        | yes     | yes                  | yes                         | yes                             |
| vitals      | yes (home readings) | no           | yes                         | yes                             |
| upload      | yes     | no                   | yes                         | no                              |
| clinical    | no      | no                   | yes                         | no                              |
| acknowledge | no      | no                   | yes                         | yes                             |

Admins never by role alone (the policy refuses them). The patient's side (the patient and
their proxies) sees signed notes only; clinicians also see drafts. A refused chart is Http404
(audited as denied by `accounts.selectors.access_patient_for_user`); a chart the user may read
but not change in the way asked is RecordsForbiddenError (403, audited as denied).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.http import Http404

from accounts.models import Role, Scope, User
from accounts.policy import VIA_BREAKGLASS, VIA_CARE, VIA_CARE_TEAM, VIA_PROXY, VIA_SELF, AccessDecision, chart_access
from accounts.selectors import PATIENT_ACCESS_ACTION, access_patient_for_user, patients_list_for_provider
from audit.models import AuditEvent
from audit.selectors import audit_event_list
from audit.services import audit_record, audit_record_denied
from records.errors import RecordsForbiddenError
from records.models import (
    Allergy,
    AllergyStatus,
    ClinicalNote,
    Condition,
    ConditionStatus,
    Document,
    DocumentStatus,
    Immunization,
    ImmunizationStatus,
    Medication,
    MedicationStatus,
    NoteStatus,
    Source,
    VitalSigns,
)
from telemed.ids import positive_id

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

VIEW_ACTION = "records.chart.view"
NOTE_VIEW_ACTION = "records.note.view"
DOCUMENT_DOWNLOAD_ACTION = "records.document.download"
ACCESS_LOG_ACTION = "records.access_log.view"
EXPORT_ACTION = "records.export"

CLINICIAN_STANDINGS = frozenset({VIA_CARE, VIA_CARE_TEAM, VIA_BREAKGLASS})


class Need(StrEnum):
    READ = "read"
    VITALS = "vitals"
    UPLOAD = "upload"
    CLINICAL = "clinical"
    ACKNOWLEDGE = "acknowledge"


_REFUSALS = {
    Need.VITALS: "Only the patient and their clinicians record vital signs.",
    Need.UPLOAD: "Only the patient and their doctors add documents to this chart.",
    Need.CLINICAL: "Only a doctor caring for this patient changes this part of the chart.",
    Need.ACKNOWLEDGE: "Only the patient's clinicians acknowledge home readings.",
}


def _meets(user: Any, decision: AccessDecision, need: Need) -> bool:
    if not decision.allowed:
        return False
    clinician = decision.via in CLINICIAN_STANDINGS
    match need:
        case Need.READ:
            return True
        case Need.VITALS:
            return decision.via == VIA_SELF or (clinician and user.role in (Role.DOCTOR, Role.NURSE))
        case Need.UPLOAD:
            return decision.via == VIA_SELF or (clinician and user.role == Role.DOCTOR)
        case Need.CLINICAL:
            return clinician and user.role == Role.DOCTOR
        case Need.ACKNOWLEDGE:
            return clinician and user.role in (Role.DOCTOR, Role.NURSE)
    return False


def chart_permission(user: User | AnonymousUser | None, patient: User, need: Need = Need.READ) -> AccessDecision | None:
    """The policy's decision when it lets `user` do `need` on `patient`'s chart, else None.

    Pure (no audit); services call it to check again what the interface's access selector
    already checked, so a service called from anywhere still enforces the rule.
    """
    decision = chart_access(user, patient, write=False, scope=Scope.RECORDS_VIEW)
    return decision if _meets(user, decision, need) else None


@dataclass(frozen=True)
class ChartAccess:
    """What an access selector hands to an interface: whose chart, on what standing."""

    user: User
    patient: User
    decision: AccessDecision

    @property
    def patient_side(self) -> bool:
        """The patient or their proxy (sees signed notes only; sees the access log)."""
        return self.decision.via in (VIA_SELF, VIA_PROXY)

    @property
    def is_self(self) -> bool:
        return self.decision.via == VIA_SELF

    @property
    def breakglass(self) -> bool:
        return self.decision.breakglass

    def may(self, need: Need) -> bool:
        return _meets(self.user, self.decision, need)

    @property
    def audit_reason(self) -> str:
        return self.decision.label or f"via {self.decision.via}"


def _refuse(access_user: Any, patient: User, *, action: str, need: Need, target_type: str, target_id: object) -> None:
    audit_record_denied(
        actor=access_user,
        action=action,
        target_type=target_type,
        target_id=str(target_id)[:64],
        patient=patient,
        reason=f"may read, may not {need.value}",
    )
    raise RecordsForbiddenError(_REFUSALS.get(need, "You may not change this chart."))


def access_chart_for_user(
    user: User | AnonymousUser | None,
    patient_id: object,
    *,
    need: Need = Need.READ,
    section: str = "summary",
    action: str | None = None,
    record_read: bool = True,
) -> ChartAccess:
    """The chart of the patient named by an outside id, if `user` may `need` it.

    Http404 (audited as denied) when the policy refuses the chart; RecordsForbiddenError (403,
    audited) when the user may read it but not do `need`. A read (`need=READ`) is recorded as
    `records.chart.view` (or `action`) with the section, unless `record_read=False` because
    the service called next records the reading itself (a download); a write is recorded by
    the service that makes it. Call outside a transaction.
    """
    action = action or (VIEW_ACTION if need == Need.READ else f"records.chart.{need.value}")
    patient, decision = access_patient_for_user(user, patient_id, action=action, write=False, scope=Scope.RECORDS_VIEW)
    access = ChartAccess(user=user, patient=patient, decision=decision)  # type: ignore[arg-type]
    if not access.may(need):
        _refuse(user, patient, action=action, need=need, target_type="records.chart", target_id=patient.pk)
    if need == Need.READ and record_read:
        with transaction.atomic():
            audit_record(
                actor=user,
                action=action,
                target_type="records.chart",
                target_id=patient.pk,
                patient=patient,
                reason=f"{section}; {access.audit_reason}",
                breakglass=access.breakglass,
            )
    return access


# --- The chart's sections --------------------------------------------------------------------


@dataclass
class Chart:
    access: ChartAccess
    allergies: list[Allergy] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    medications: list[Medication] = field(default_factory=list)
    immunizations: list[Immunization] = field(default_factory=list)
    vitals: list[VitalSigns] = field(default_factory=list)
    notes: list[ClinicalNote] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)

    @property
    def latest_vitals(self) -> VitalSigns | None:
        return self.vitals[0] if self.vitals else None

    @property
    def active_allergies(self) -> list[Allergy]:
        return [item for item in self.allergies if item.status == AllergyStatus.ACTIVE]

    @property
    def active_conditions(self) -> list[Condition]:
        return [item for item in self.conditions if item.status == ConditionStatus.ACTIVE]

    @property
    def active_medications(self) -> list[Medication]:
        return [item for item in self.medications if item.status == MedicationStatus.ACTIVE]

    @property
    def unacknowledged_vitals(self) -> list[VitalSigns]:
        return [item for item in self.vitals if item.needs_acknowledgement]


def allergies_for_chart(access: ChartAccess, *, include_errors: bool = False) -> QuerySet[Allergy]:
    rows = Allergy.objects.filter(patient=access.patient).select_related("recorded_by")
    return rows if include_errors else rows.exclude(status=AllergyStatus.ENTERED_IN_ERROR)


def conditions_for_chart(access: ChartAccess, *, include_errors: bool = False) -> QuerySet[Condition]:
    rows = Condition.objects.filter(patient=access.patient).select_related("recorded_by")
    return rows if include_errors else rows.exclude(status=ConditionStatus.ENTERED_IN_ERROR)


def medications_for_chart(access: ChartAccess, *, include_errors: bool = False) -> QuerySet[Medication]:
    rows = Medication.objects.filter(patient=access.patient).select_related("recorded_by")
    return rows if include_errors else rows.exclude(status=MedicationStatus.ENTERED_IN_ERROR)


def immunizations_for_chart(access: ChartAccess, *, include_errors: bool = False) -> QuerySet[Immunization]:
    rows = Immunization.objects.filter(patient=access.patient).select_related("recorded_by")
    return rows if include_errors else rows.exclude(status=ImmunizationStatus.ENTERED_IN_ERROR)


def vitals_for_chart(
    access: ChartAccess, *, since: dt.datetime | None = None, include_errors: bool = False
) -> QuerySet[VitalSigns]:
    rows = VitalSigns.objects.filter(patient=access.patient).select_related("recorded_by", "acknowledged_by")
    if since is not None:
        rows = rows.filter(measured_at__gte=since)
    return rows if include_errors else rows.filter(entered_in_error=False)


def notes_for_chart(access: ChartAccess) -> QuerySet[ClinicalNote]:
    """Signed notes for the patient's side; clinicians also see drafts (anyone's, to avoid a
    second note for the same visit)."""
    rows = (
        ClinicalNote.objects.filter(patient=access.patient)
        .select_related("author", "signed_by", "appointment")
        .prefetch_related("amendments__author")
    )
    if access.patient_side:
        rows = rows.filter(status=NoteStatus.SIGNED).order_by("-signed_at", "-pk")
    return rows


def documents_for_chart(access: ChartAccess, *, include_errors: bool = False) -> QuerySet[Document]:
    rows = Document.objects.filter(patient=access.patient).select_related("recorded_by")
    return rows if include_errors else rows.exclude(status=DocumentStatus.ENTERED_IN_ERROR)


def chart_get(access: ChartAccess) -> Chart:
    """Every section of the chart, in a fixed number of queries (one per section, plus amendments)."""
    return Chart(
        access=access,
        allergies=list(allergies_for_chart(access)),
        conditions=list(conditions_for_chart(access)),
        medications=list(medications_for_chart(access)),
        immunizations=list(immunizations_for_chart(access)),
        vitals=list(vitals_for_chart(access)),
        notes=list(notes_for_chart(access)),
        documents=list(documents_for_chart(access)),
    )


# --- One entry by its outside id -------------------------------------------------------------

ENTRY_MODELS: dict[str, type[Model]] = {
    "allergy": Allergy,
    "condition": Condition,
    "medication": Medication,
    "immunization": Immunization,
    "vitals": VitalSigns,
}


def _entry_patient_or_404(model: type[Model], entry_id: object, *, user: Any, action: str) -> Any:
    pk = positive_id(entry_id)
    entry = model._default_manager.select_related("patient").filter(pk=pk).first() if pk else None  # type: ignore[attr-defined]
    if entry is None:
        audit_record_denied(
            actor=user,
            action=action,
            target_type=model._meta.label_lower,
            target_id=str(entry_id)[:64],
            reason=f"no such {model._meta.verbose_name}",
        )
        raise Http404("No such entry.")
    return entry


def access_entry_for_user(
    user: User | AnonymousUser | None, kind: str, entry_id: object, *, need: Need, action: str
) -> tuple[Any, ChartAccess]:
    """A chart entry (`kind` in ENTRY_MODELS) named by an outside id, with the access to its chart.

    Http404 for an unknown kind or id, or a chart the policy refuses (audited as denied);
    RecordsForbiddenError when the chart may be read but not changed this way. The change
    itself is audited by the service that makes it.
    """
    model = ENTRY_MODELS.get(kind)
    if model is None:
        raise Http404("No such entry.")
    entry = _entry_patient_or_404(model, entry_id, user=user, action=action)
    access = access_chart_for_user(user, entry.patient_id, need=need, action=action)
    return entry, access


def access_note_for_user(
    user: User | AnonymousUser | None, note_id: object, *, need: Need = Need.READ, action: str = NOTE_VIEW_ACTION
) -> tuple[ClinicalNote, ChartAccess]:
    """A clinical note by its outside id. The patient's side reaches signed notes only (a draft
    is Http404 to them, audited as denied). A read is audited as `records.note.view`."""
    note = _entry_patient_or_404(ClinicalNote, note_id, user=user, action=action)
    # The draft rule comes before the need: a patient asking to sign a draft's id must meet the
    # same 404 as one reading it, or the answer would tell that a draft exists.
    standing = chart_access(user, note.patient, write=False, scope=Scope.RECORDS_VIEW)
    if not note.is_signed and standing.allowed and standing.via in (VIA_SELF, VIA_PROXY):
        audit_record_denied(
            actor=user,
            action=action,
            target_type="records.clinicalnote",
            target_id=note.pk,
            patient=note.patient,
            reason="draft notes are not shown to the patient's side",
        )
        raise Http404("No such note.")
    access = access_chart_for_user(user, note.patient_id, need=need, action=action, section=f"note {note.pk}")
    note = (
        ClinicalNote.objects.select_related("author", "signed_by", "appointment")
        .prefetch_related("amendments__author")
        .get(pk=note.pk)
    )
    return note, access


def access_document_for_user(
    user: User | AnonymousUser | None,
    public_id: object,
    *,
    need: Need = Need.READ,
    action: str = DOCUMENT_DOWNLOAD_ACTION,
) -> tuple[Document, ChartAccess]:
    """A document by its public id (a UUID), with the access to its chart; Http404 otherwise.

    A read is audited here as `action`, except a download: `document_open` records that one
    (once per download, after its checks).
    """
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        key = None
    document = Document.objects.select_related("recorded_by").filter(public_id=key).first() if key else None
    if document is None:
        audit_record_denied(
            actor=user,
            action=action,
            target_type="records.document",
            target_id=str(public_id)[:64],
            reason="no such document",
        )
        raise Http404("No such document.")
    access = access_chart_for_user(
        user,
        document.patient_id,
        need=need,
        action=action,
        section=f"document {document.public_id}",
        record_read=action != DOCUMENT_DOWNLOAD_ACTION,
    )
    return document, access


# --- Lists for staff -------------------------------------------------------------------------


def chart_patients_for_clinician(user: User | AnonymousUser | None) -> QuerySet[User]:
    """The patients whose charts a doctor or nurse reaches through a care relationship."""
    return patients_list_for_provider(user)


def home_readings_awaiting_acknowledgement(user: User | AnonymousUser | None) -> QuerySet[VitalSigns]:
    """Patient-reported vitals not yet acknowledged, for the patients `user` cares for."""
    patients = patients_list_for_provider(user)
    return (
        VitalSigns.objects.filter(
            patient__in=patients, source=Source.PATIENT, acknowledged_at__isnull=True, entered_in_error=False
        )
        .select_related("patient")
        .order_by("measured_at", "pk")
    )


def home_readings_worklist(user: User | AnonymousUser | None, *, limit: int = 100) -> list[VitalSigns]:
    """The oldest `limit` home readings awaiting acknowledgement, for a clinician's work list.

    Showing a reading is reading the chart: one `records.vitals.worklist` event is recorded
    per patient shown (care relationships only, so never break-glass).
    """
    readings = list(home_readings_awaiting_acknowledgement(user)[:limit])
    patients = {reading.patient_id: reading.patient for reading in readings}
    if patients:
        with transaction.atomic():
            for patient in patients.values():
                audit_record(
                    actor=user,
                    action="records.vitals.worklist",
                    target_type="records.chart",
                    target_id=patient.pk,
                    patient=patient,
                    reason="home readings awaiting acknowledgement; via care",
                )
    return readings


# --- Who viewed my chart ---------------------------------------------------------------------


def access_log_for_patient(user: User | AnonymousUser | None) -> QuerySet[AuditEvent]:
    """Everything others did with `user`'s own chart, newest first, from the audit trail.

    Only the patient themself (email verified) reads it; a proxy or anyone else gets Http404.
    The reading is itself recorded (`records.access_log.view`).
    """
    patient_id = getattr(user, "pk", None)
    access = access_chart_for_user(user, patient_id or 0, action=ACCESS_LOG_ACTION, section="access log")
    if not access.is_self:
        raise Http404("No such page.")
    return (
        audit_event_list(patient=access.patient)
        .filter(~Q(actor=access.patient) | Q(actor__isnull=True))
        # Every allowed access also writes the domain's own event (records.chart.view, ...):
        # the generic gate's success row would list each look twice.
        .exclude(action=PATIENT_ACCESS_ACTION, outcome="success")
        .order_by("-occurred_at", "-seq")
    )


_VERBS = {
    "create": "Added",
    "update": "Changed",
    "entered_in_error": "Marked as a mistake",
    "acknowledge": "Acknowledged",
    "sign": "Signed",
    "amend": "Amended",
    "discard": "Discarded",
    "upload": "Uploaded",
    "download": "Downloaded",
    "view": "Viewed",
    "worklist": "Listed",
    "vitals": "Opened to record vital signs in",
    "clinical": "Opened to change",
    "open": "Opened emergency access to",
}
_THINGS = {
    "allergy": "an allergy",
    "condition": "a problem",
    "medication": "a medication",
    "immunization": "an immunization",
    "vitals": "vital signs",
    "clinicalnote": "a visit note",
    "note": "a visit note",
    "document": "a document",
    "chart": "your chart",
    "worklist": "your home readings in a work list",
    "breakglass": "your chart",
    "appointment": "an appointment",
}


def describe_access_event(event: AuditEvent) -> str:
    """Plain words for a patient reading their access log ("Viewed your chart")."""
    words = {
        "accounts.patient.access": "Opened your chart",
        VIEW_ACTION: "Viewed your chart",
        NOTE_VIEW_ACTION: "Read a visit note",
        DOCUMENT_DOWNLOAD_ACTION: "Downloaded a document",
        EXPORT_ACTION: "Exported your record",
        "records.access_log.view": "Read your access log",
    }
    if event.action in words:
        return words[event.action]
    head, _, verb = event.action.rpartition(".")
    thing = head.split(".")[-1]
    said_verb = _VERBS.get(verb, verb.replace("_", " ").capitalize())
    said_thing = _THINGS.get(thing, thing.replace("_", " "))
    return f"{said_verb} {said_thing}"


# --- For prescribing (the prescriptions app) -------------------------------------------------


@dataclass(frozen=True)
class PrescribingFacts:
    """What a prescribing check needs from the chart: active allergies and medications."""

    allergies: list[tuple[str, str, bool]]  # substance, reaction, severe
    medications: list[str]


def prescribing_facts(user: User, patient: User) -> PrescribingFacts:
    """The active allergies and medications of `patient`, for a doctor who may prescribe for them.

    RecordsForbiddenError unless the policy gives `user` clinical standing on the chart. Not
    audited here: the prescribing service that asks records the check with the patient.
    """
    if chart_permission(user, patient, Need.CLINICAL) is None:
        raise RecordsForbiddenError(_REFUSALS[Need.CLINICAL])
    allergies = [
        (row.substance, row.reaction, row.severity == "severe")
        for row in Allergy.objects.filter(patient=patient, status=AllergyStatus.ACTIVE)
    ]
    medications = [row.name for row in Medication.objects.filter(patient=patient, status=MedicationStatus.ACTIVE)]
    return PrescribingFacts(allergies=allergies, medications=medications)
