"""The records API for mobile clients: the chart's summary and sections, one entry, vitals,
clinical notes, documents, and the patient's own access log. Thin: selectors read (checking
the accounts policy and writing the audit trail), services write (checking it again); these
views parse, call one of them and render.

Who reaches what (see `records.selectors`): the patient and their proxy (`records.view`)
read; the patient records home vitals and uploads documents; a doctor caring for the patient
(or with break-glass) does everything clinical; a care-team nurse reads, records vitals and
acknowledges home readings. Admins see no chart by role alone. A chart that is not yours to
see is 404 (audited as denied); one you may read but not change this way is 403
`records_forbidden`. The chart is checked before the body is read, so an outsider meets 404
whatever they send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from records.api.serializers import (
    CLINICAL_STATUS_SETTABLE,
    AccessEventSerializer,
    AllergySerializer,
    AmendmentSerializer,
    ConditionSerializer,
    DocumentSerializer,
    ImmunizationSerializer,
    InstantField,
    MeasurementField,
    MedicationSerializer,
    NoteSerializer,
    PartySerializer,
    VitalSignsSerializer,
    settable,
)
from records.downloads import document_response
from records.models import (
    VITAL_FIELDS,
    VITAL_RANGES,
    AllergyStatus,
    ConditionStatus,
    DocumentCategory,
    MedicationStatus,
    Route,
    Severity,
    Source,
)
from records.selectors import (
    VIEW_ACTION,
    ChartAccess,
    Need,
    access_chart_for_user,
    access_document_for_user,
    access_entry_for_user,
    access_log_for_patient,
    access_note_for_user,
    allergies_for_chart,
    conditions_for_chart,
    documents_for_chart,
    immunizations_for_chart,
    medications_for_chart,
    notes_for_chart,
    vitals_for_chart,
)
from records.services.chart import (
    allergy_record,
    condition_record,
    entry_mark_entered_in_error,
    entry_update,
    immunization_record,
    medication_record,
    vitals_acknowledge,
    vitals_record,
)
from records.services.documents import document_mark_entered_in_error, document_open, document_upload
from records.services.notes import SOAP_FIELDS, note_amend, note_create, note_discard, note_sign, note_update
from telemed.api.negotiation import JsonErrorsWhateverAccepted
from telemed.api.schema import error_response, page_of, paginated

REASON_MAX_LENGTH = 2000


READ_ERRORS = {
    401: error_response("not_authenticated"),
    403: error_response("otp_required: a staff login without two-step verification"),
    404: error_response("not_found: no such patient, or not yours to see (the attempt is audited)"),
}
WRITE_ERRORS = {
    **READ_ERRORS,
    400: error_response("invalid, with `fields`"),
    403: error_response(
        "records_forbidden: you may read this chart but not change it this way (a proxy, a nurse on "
        "clinical entries, a patient on clinical entries); otp_required"
    ),
    415: error_response("unsupported_media_type: send JSON"),
}


class ReasonInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "EnteredInErrorInput"

    reason = serializers.CharField(
        max_length=REASON_MAX_LENGTH, help_text="Why this is a mistake (kept in the audit trail)."
    )


# --- the chart's summary ---------------------------------------------------------------------


class ChartApi(APIView):
    """What a clinician glances at in a consultation, and a patient opens first."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ChartSummary"

        patient = PartySerializer()
        allergies = AllergySerializer(many=True, help_text="Active allergies.")
        conditions = ConditionSerializer(many=True, help_text="The active problem list.")
        medications = MedicationSerializer(many=True, help_text="Active medications.")
        latest_vitals = VitalSignsSerializer(allow_null=True, help_text="The most recent set of vital signs.")
        awaiting_acknowledgement = VitalSignsSerializer(
            many=True, help_text="The patient's home readings no clinician has acknowledged yet, newest first."
        )
        notes_count = serializers.IntegerField(
            help_text="Notes the caller may read (signed only, for the patient's side)."
        )
        documents_count = serializers.IntegerField()

    @extend_schema(operation_id="records_chart", responses={200: OutputSerializer, **READ_ERRORS})
    def get(self, request: Request, patient_id: int) -> Response:
        access = access_chart_for_user(request.user, patient_id, section="summary")
        vitals = vitals_for_chart(access)
        summary = {
            "patient": access.patient,
            "allergies": allergies_for_chart(access).filter(status=AllergyStatus.ACTIVE),
            "conditions": conditions_for_chart(access).filter(status=ConditionStatus.ACTIVE),
            "medications": medications_for_chart(access).filter(status=MedicationStatus.ACTIVE),
            "latest_vitals": vitals.first(),
            "awaiting_acknowledgement": vitals.filter(source=Source.PATIENT, acknowledged_at__isnull=True),
            "notes_count": notes_for_chart(access).count(),
            "documents_count": documents_for_chart(access).count(),
        }
        return Response(self.OutputSerializer(summary).data)


# --- the structured sections: list and add ---------------------------------------------------


class _SectionApi(APIView):
    """GET: a page of one section of the chart (entries marked entered in error left out).
    POST: add an entry (a doctor caring for the patient, or with break-glass)."""

    section: str
    model_name: str
    InputSerializer: type[serializers.Serializer]
    OutputSerializer: type[serializers.Serializer]
    # Each section names its selector (the rows) and its service (the write).
    rows: Callable[[ChartAccess], QuerySet]
    record: Callable[..., Any]

    def get(self, request: Request, patient_id: int) -> Response:
        access = access_chart_for_user(request.user, patient_id, section=self.section)
        return paginated(request, self, self.rows(access), lambda page: self.OutputSerializer(page, many=True).data)

    def post(self, request: Request, patient_id: int) -> Response:
        access = access_chart_for_user(
            request.user, patient_id, need=Need.CLINICAL, action=f"records.{self.model_name}.create"
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = self.record(actor=request.user, patient=access.patient, **data.validated_data)
        return Response(self.OutputSerializer(entry).data, status=status.HTTP_201_CREATED)


def _section_schema(name: str, output: type[serializers.Serializer], body: type[serializers.Serializer]):
    return extend_schema_view(
        get=extend_schema(
            operation_id=f"records_{name}_list",
            responses={200: page_of(f"{output.Meta.ref_name}Page", output), **READ_ERRORS},
        ),
        post=extend_schema(
            operation_id=f"records_{name}_create", request=body, responses={201: output, **WRITE_ERRORS}
        ),
    )


class AllergyInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "AllergyInput"

    substance = serializers.CharField()
    reaction = serializers.CharField(required=False, allow_blank=True)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    status = serializers.ChoiceField(choices=CLINICAL_STATUS_SETTABLE, required=False)
    noted_on = serializers.DateField(required=False, allow_null=True)


class ConditionInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ConditionInput"

    description = serializers.CharField()
    code = serializers.CharField(required=False, allow_blank=True, help_text="ICD-10 or SNOMED CT.")
    onset_on = serializers.DateField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=CLINICAL_STATUS_SETTABLE, required=False)


class MedicationInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "MedicationInput"

    name = serializers.CharField()
    dose = serializers.CharField(required=False, allow_blank=True)
    route = serializers.ChoiceField(choices=Route.choices, required=False)
    frequency = serializers.CharField(required=False, allow_blank=True)
    started_on = serializers.DateField(required=False, allow_null=True)
    stopped_on = serializers.DateField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=settable(MedicationStatus.choices), required=False)


class ImmunizationInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ImmunizationInput"

    vaccine = serializers.CharField()
    administered_on = serializers.DateField()
    dose_number = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=32767)
    lot_number = serializers.CharField(required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)


@_section_schema("allergies", AllergySerializer, AllergyInputSerializer)
class AllergiesApi(_SectionApi):
    section, model_name = "allergies", "allergy"
    InputSerializer, OutputSerializer = AllergyInputSerializer, AllergySerializer
    rows = staticmethod(allergies_for_chart)
    record = staticmethod(allergy_record)


@_section_schema("conditions", ConditionSerializer, ConditionInputSerializer)
class ConditionsApi(_SectionApi):
    section, model_name = "problems", "condition"
    InputSerializer, OutputSerializer = ConditionInputSerializer, ConditionSerializer
    rows = staticmethod(conditions_for_chart)
    record = staticmethod(condition_record)


@_section_schema("medications", MedicationSerializer, MedicationInputSerializer)
class MedicationsApi(_SectionApi):
    section, model_name = "medications", "medication"
    InputSerializer, OutputSerializer = MedicationInputSerializer, MedicationSerializer
    rows = staticmethod(medications_for_chart)
    record = staticmethod(medication_record)


@_section_schema("immunizations", ImmunizationSerializer, ImmunizationInputSerializer)
class ImmunizationsApi(_SectionApi):
    section, model_name = "immunizations", "immunization"
    InputSerializer, OutputSerializer = ImmunizationInputSerializer, ImmunizationSerializer
    rows = staticmethod(immunizations_for_chart)
    record = staticmethod(immunization_record)


# --- one structured entry --------------------------------------------------------------------

# URL plural -> (the selectors' kind, its section view).
ENTRY_KINDS: dict[str, tuple[str, type[_SectionApi]]] = {
    "allergies": ("allergy", AllergiesApi),
    "conditions": ("condition", ConditionsApi),
    "medications": ("medication", MedicationsApi),
    "immunizations": ("immunization", ImmunizationsApi),
}
KIND_PARAMETER = OpenApiParameter(
    "kind", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(ENTRY_KINDS), description="The chart section."
)
ENTRY_PARAMETER = OpenApiParameter("entry_id", OpenApiTypes.INT, OpenApiParameter.PATH)
ANY_ENTRY = PolymorphicProxySerializer(
    component_name="ChartEntry",
    serializers=[AllergySerializer, ConditionSerializer, MedicationSerializer, ImmunizationSerializer],
    resource_type_field_name=None,
)


def _kind(kind: str) -> tuple[str, type[_SectionApi]]:
    # The URL pattern admits only the four kinds.
    return ENTRY_KINDS[kind]


class EntryApi(APIView):
    """GET: one allergy, problem, medication or immunization (also one marked entered in error).
    PATCH: change some of its fields (a doctor caring for the patient)."""

    @extend_schema(
        operation_id="records_entry_get",
        parameters=[KIND_PARAMETER, ENTRY_PARAMETER],
        responses={200: ANY_ENTRY, **READ_ERRORS},
    )
    def get(self, request: Request, kind: str, entry_id: int) -> Response:
        key, section = _kind(kind)
        entry, _access = access_entry_for_user(request.user, key, entry_id, need=Need.READ, action=VIEW_ACTION)
        return Response(section.OutputSerializer(entry).data)

    @extend_schema(
        operation_id="records_entry_update",
        parameters=[KIND_PARAMETER, ENTRY_PARAMETER],
        request=PolymorphicProxySerializer(
            component_name="ChartEntryUpdate",
            serializers=[
                AllergyInputSerializer(partial=True),
                ConditionInputSerializer(partial=True),
                MedicationInputSerializer(partial=True),
                ImmunizationInputSerializer(partial=True),
            ],
            resource_type_field_name=None,
        ),
        responses={
            200: ANY_ENTRY,
            **WRITE_ERRORS,
            400: error_response("invalid, with `fields`; records_invalid: the entry was marked entered in error"),
        },
        description="Send only the fields to change, those of the entry's kind.",
    )
    def patch(self, request: Request, kind: str, entry_id: int) -> Response:
        key, section = _kind(kind)
        entry, _access = access_entry_for_user(
            request.user, key, entry_id, need=Need.CLINICAL, action=f"records.{key}.update"
        )
        data = section.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        entry = entry_update(entry, actor=request.user, **data.validated_data)
        return Response(section.OutputSerializer(entry).data)


class EntryErrorApi(APIView):
    """Mark an entry as a mistake: kept, hidden from the chart's lists, audited with the reason."""

    @extend_schema(
        operation_id="records_entry_entered_in_error",
        parameters=[KIND_PARAMETER, ENTRY_PARAMETER],
        request=ReasonInputSerializer,
        responses={200: ANY_ENTRY, **WRITE_ERRORS},
    )
    def post(self, request: Request, kind: str, entry_id: int) -> Response:
        key, section = _kind(kind)
        entry, _access = access_entry_for_user(
            request.user, key, entry_id, need=Need.CLINICAL, action=f"records.{key}.entered_in_error"
        )
        data = ReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = entry_mark_entered_in_error(entry, actor=request.user, reason=data.validated_data["reason"])
        return Response(section.OutputSerializer(entry).data)


# --- vitals ----------------------------------------------------------------------------------


def _measurement(name: str, extra: str = "") -> MeasurementField:
    _name, label, unit, low, high = next(item for item in VITAL_RANGES if item[0] == name)
    return MeasurementField(help_text=f"{label}, {low} to {high} {unit}. {extra}".strip())


class VitalsApi(APIView):
    """GET: the patient's vital signs, newest first (`since`: measured at or after).
    POST: a set of measurements — the patient's home reading (waits for a clinician's
    acknowledgement), or a doctor's or nurse's. Out-of-range values are refused per field
    with the plausible range."""

    class ListInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "VitalsListQuery"

        since = InstantField(
            required=False, help_text="Only sets measured at or after this instant (ISO 8601 with offset)."
        )

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "VitalsInput"

        systolic_mmhg = _measurement("systolic_mmhg", "With diastolic_mmhg.")
        diastolic_mmhg = _measurement("diastolic_mmhg", "With systolic_mmhg.")
        heart_rate_bpm = _measurement("heart_rate_bpm")
        temperature_c = _measurement("temperature_c")
        respiratory_rate = _measurement("respiratory_rate")
        spo2_pct = _measurement("spo2_pct")
        weight_kg = _measurement("weight_kg")
        height_cm = _measurement("height_cm")
        measured_at = InstantField(required=False, help_text="When it was measured; now by default. Not in the future.")
        note = serializers.CharField(required=False, allow_blank=True, default="")

    OutputSerializer = VitalSignsSerializer

    @extend_schema(
        operation_id="records_vitals_list",
        parameters=[ListInputSerializer],
        responses={
            200: page_of("VitalSignsPage", VitalSignsSerializer),
            **READ_ERRORS,
            400: error_response("invalid `since`"),
        },
    )
    def get(self, request: Request, patient_id: int) -> Response:
        access = access_chart_for_user(request.user, patient_id, section="vitals")
        query = self.ListInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = vitals_for_chart(access, since=query.validated_data.get("since"))
        return paginated(request, self, rows, lambda page: VitalSignsSerializer(page, many=True).data)

    @extend_schema(
        operation_id="records_vitals_create",
        request=InputSerializer,
        responses={
            201: VitalSignsSerializer,
            **WRITE_ERRORS,
            400: error_response("invalid: `fields` names each measurement out of its plausible range, with the range"),
        },
    )
    def post(self, request: Request, patient_id: int) -> Response:
        access = access_chart_for_user(request.user, patient_id, need=Need.VITALS, action="records.vitals.create")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        vitals = vitals_record(
            actor=request.user,
            patient=access.patient,
            measurements={name: params[name] for name in VITAL_FIELDS if params.get(name) is not None},
            measured_at=params.get("measured_at"),
            note=params["note"],
        )
        return Response(VitalSignsSerializer(vitals).data, status=status.HTTP_201_CREATED)


VITALS_PARAMETER = OpenApiParameter("vitals_id", OpenApiTypes.INT, OpenApiParameter.PATH)


class VitalsAcknowledgeApi(APIView):
    """A doctor or nurse acknowledges a patient's home reading (once)."""

    @extend_schema(
        operation_id="records_vitals_acknowledge",
        parameters=[VITALS_PARAMETER],
        request=None,
        responses={
            200: VitalSignsSerializer,
            **READ_ERRORS,
            400: error_response("not_patient_reported: a clinician's own measurement"),
            403: error_response("records_forbidden: not the patient's doctor or nurse; otp_required"),
            409: error_response("already_acknowledged"),
        },
    )
    def post(self, request: Request, vitals_id: int) -> Response:
        vitals, _access = access_entry_for_user(
            request.user, "vitals", vitals_id, need=Need.ACKNOWLEDGE, action="records.vitals.acknowledge"
        )
        vitals = vitals_acknowledge(vitals, actor=request.user)
        return Response(VitalSignsSerializer(vitals).data)


class VitalsErrorApi(APIView):
    """Mark a set of vitals as a mistake (the patient: their own home readings only)."""

    @extend_schema(
        operation_id="records_vitals_entered_in_error",
        parameters=[VITALS_PARAMETER],
        request=ReasonInputSerializer,
        responses={200: VitalSignsSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request, vitals_id: int) -> Response:
        vitals, _access = access_entry_for_user(
            request.user, "vitals", vitals_id, need=Need.VITALS, action="records.vitals.entered_in_error"
        )
        data = ReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        vitals = entry_mark_entered_in_error(vitals, actor=request.user, reason=data.validated_data["reason"])
        return Response(VitalSignsSerializer(vitals).data)


# --- clinical notes --------------------------------------------------------------------------


class NoteInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "NoteInput"

    subjective = serializers.CharField(required=False, allow_blank=True)
    objective = serializers.CharField(required=False, allow_blank=True)
    assessment = serializers.CharField(required=False, allow_blank=True)
    plan = serializers.CharField(required=False, allow_blank=True)
    appointment = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="One of the patient's appointments, or null."
    )


NOTE_PARAMETER = OpenApiParameter("note_id", OpenApiTypes.INT, OpenApiParameter.PATH)


class NotesApi(APIView):
    """GET: the chart's notes (the patient's side: signed notes only, by signing time; clinicians
    also see drafts). POST: start a draft (a doctor caring for the patient)."""

    InputSerializer = NoteInputSerializer
    OutputSerializer = NoteSerializer

    @extend_schema(
        operation_id="records_notes_list", responses={200: page_of("ClinicalNotePage", NoteSerializer), **READ_ERRORS}
    )
    def get(self, request: Request, patient_id: int) -> Response:
        access = access_chart_for_user(request.user, patient_id, section="notes")
        return paginated(request, self, notes_for_chart(access), lambda page: NoteSerializer(page, many=True).data)

    @extend_schema(
        operation_id="records_notes_create",
        request=NoteInputSerializer,
        responses={201: NoteSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request, patient_id: int) -> Response:
        access = access_chart_for_user(
            request.user, patient_id, need=Need.CLINICAL, action="records.clinicalnote.create"
        )
        data = NoteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = dict(data.validated_data)
        note = note_create(
            actor=request.user, patient=access.patient, appointment_id=params.pop("appointment", None), **params
        )
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)


class NoteApi(APIView):
    """GET: one note (a draft only for clinicians). PATCH: the author edits their draft (only the
    fields sent change). DELETE: the author discards their draft. A signed note answers 409
    `note_signed`: add an amendment instead."""

    InputSerializer = NoteInputSerializer
    OutputSerializer = NoteSerializer

    @extend_schema(
        operation_id="records_note_get", parameters=[NOTE_PARAMETER], responses={200: NoteSerializer, **READ_ERRORS}
    )
    def get(self, request: Request, note_id: int) -> Response:
        note, _access = access_note_for_user(request.user, note_id)
        return Response(NoteSerializer(note).data)

    @extend_schema(
        operation_id="records_note_update",
        parameters=[NOTE_PARAMETER],
        request=NoteInputSerializer,
        responses={
            200: NoteSerializer,
            **WRITE_ERRORS,
            403: error_response("records_forbidden: not a doctor of this patient, or not the draft's author"),
            409: error_response("note_signed: a signed note never changes"),
        },
    )
    def patch(self, request: Request, note_id: int) -> Response:
        note, _access = access_note_for_user(
            request.user, note_id, need=Need.CLINICAL, action="records.clinicalnote.update"
        )
        data = NoteInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        # The service saves the whole draft: what was not sent stays as it is.
        soap = {name: params.get(name, getattr(note, name)) for name in SOAP_FIELDS}
        appointment_id = params.get("appointment", note.appointment_id)
        note = note_update(note, actor=request.user, appointment_id=appointment_id, **soap)
        return Response(NoteSerializer(note).data)

    @extend_schema(
        operation_id="records_note_discard",
        parameters=[NOTE_PARAMETER],
        responses={
            204: None,
            **READ_ERRORS,
            403: error_response("records_forbidden: not the draft's author"),
            409: error_response("note_signed: a signed note is never removed"),
        },
    )
    def delete(self, request: Request, note_id: int) -> Response:
        note, _access = access_note_for_user(
            request.user, note_id, need=Need.CLINICAL, action="records.clinicalnote.discard"
        )
        note_discard(note, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class NoteSignApi(APIView):
    """The author signs their draft: locked, attributed and timestamped from now on."""

    @extend_schema(
        operation_id="records_note_sign",
        parameters=[NOTE_PARAMETER],
        request=None,
        responses={
            200: NoteSerializer,
            **READ_ERRORS,
            400: error_response("note_empty: nothing written yet"),
            403: error_response("records_forbidden: not a doctor of this patient, or not the draft's author"),
            409: error_response("note_signed: already signed"),
        },
    )
    def post(self, request: Request, note_id: int) -> Response:
        note, _access = access_note_for_user(
            request.user, note_id, need=Need.CLINICAL, action="records.clinicalnote.sign"
        )
        note = note_sign(note, actor=request.user)
        return Response(NoteSerializer(note).data)


class NoteAmendApi(APIView):
    """A doctor caring for the patient adds an amendment to a signed note."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "NoteAmendmentInput"

        reason = serializers.CharField(help_text="Why the note is amended.")
        text = serializers.CharField(help_text="The amendment.")

    OutputSerializer = AmendmentSerializer

    @extend_schema(
        operation_id="records_note_amend",
        parameters=[NOTE_PARAMETER],
        request=InputSerializer,
        responses={
            201: AmendmentSerializer,
            **WRITE_ERRORS,
            409: error_response("note_not_signed: edit the draft instead"),
        },
    )
    def post(self, request: Request, note_id: int) -> Response:
        note, _access = access_note_for_user(
            request.user, note_id, need=Need.CLINICAL, action="records.clinicalnote.amend"
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        amendment = note_amend(note, actor=request.user, **data.validated_data)
        return Response(AmendmentSerializer(amendment).data, status=status.HTTP_201_CREATED)


# --- documents -------------------------------------------------------------------------------


class DocumentsApi(APIView):
    """GET: the chart's documents (metadata; the bytes come from each `download_url`).
    POST (multipart): the patient or a doctor caring for them adds a file. Its type is decided
    from its bytes (PDF, PNG, JPEG, plain text), it is scanned for malware when a scanner is
    configured, and stored encrypted."""

    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DocumentUploadInput"

        # Empty files and oversized ones are the service's to refuse, with its own codes.
        file = serializers.FileField(allow_empty_file=True, use_url=False)
        title = serializers.CharField(
            required=False, allow_blank=True, default="", help_text="The file's name if empty."
        )
        category = serializers.ChoiceField(choices=DocumentCategory.choices, default=DocumentCategory.OTHER)

    OutputSerializer = DocumentSerializer

    @extend_schema(
        operation_id="records_documents_list",
        responses={200: page_of("DocumentPage", DocumentSerializer), **READ_ERRORS},
    )
    def get(self, request: Request, patient_id: int) -> Response:
        access = access_chart_for_user(request.user, patient_id, section="documents")
        context = {"request": request}
        return paginated(
            request,
            self,
            documents_for_chart(access),
            lambda page: DocumentSerializer(page, many=True, context=context).data,
        )

    @extend_schema(
        operation_id="records_documents_upload",
        request={"multipart/form-data": InputSerializer},
        responses={
            201: DocumentSerializer,
            **WRITE_ERRORS,
            400: error_response("invalid (no file, a bad category, a long title), upload_empty"),
            403: error_response("records_forbidden: a proxy or a nurse; otp_required"),
            413: error_response(
                "upload_too_large: over the size limit (refused before the body is read when it says its length)"
            ),
            415: error_response(
                "upload_type_refused: not a PDF, PNG, JPEG or UTF-8 text, whatever its name; or not multipart"
            ),
            422: error_response("upload_infected: the virus scanner found malware"),
            503: error_response("upload_scan_failed: the virus scanner is configured but not answering; try again"),
        },
    )
    def post(self, request: Request, patient_id: int) -> Response:
        access = access_chart_for_user(request.user, patient_id, need=Need.UPLOAD, action="records.document.upload")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        document = document_upload(
            actor=request.user,
            patient=access.patient,
            upload=params["file"],
            title=params["title"],
            category=params["category"],
        )
        return Response(DocumentSerializer(document, context={"request": request}).data, status=status.HTTP_201_CREATED)


DOCUMENT_PARAMETER = OpenApiParameter("public_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class DocumentApi(APIView):
    """One document's metadata."""

    @extend_schema(
        operation_id="records_document_get",
        parameters=[DOCUMENT_PARAMETER],
        responses={200: DocumentSerializer, **READ_ERRORS},
    )
    def get(self, request: Request, public_id: Any) -> Response:
        document, _access = access_document_for_user(request.user, public_id, action=VIEW_ACTION)
        return Response(DocumentSerializer(document, context={"request": request}).data)


class DocumentDownloadApi(APIView):
    """The document's bytes, decrypted and checked against the SHA-256 taken at upload.

    A changed stored object is refused (409), the document marked "integrity failed" and the
    clinic's admins alerted. The answer is never cached and never sniffed by the browser.
    """

    content_negotiation_class = JsonErrorsWhateverAccepted

    @extend_schema(
        operation_id="records_document_download",
        parameters=[DOCUMENT_PARAMETER],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The file, as an attachment; `Content-Type` is the document's (PDF, PNG, JPEG or text).",
            ),
            **{(code, "application/json"): response for code, response in READ_ERRORS.items()},
            (409, "application/json"): error_response("document_integrity_failed: the stored file was changed or lost"),
            (410, "application/json"): error_response("document_unavailable: withdrawn, or known to be damaged"),
        },
    )
    def get(self, request: Request, public_id: Any) -> StreamingHttpResponse:
        document, _access = access_document_for_user(request.user, public_id)
        chunks = document_open(document, actor=request.user)
        return document_response(request._request, document, chunks)


class DocumentErrorApi(APIView):
    """Withdraw a document filed by mistake (kept, hidden, no longer downloadable). The patient
    withdraws only what they uploaded."""

    @extend_schema(
        operation_id="records_document_entered_in_error",
        parameters=[DOCUMENT_PARAMETER],
        request=ReasonInputSerializer,
        responses={200: DocumentSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request, public_id: Any) -> Response:
        document, _access = access_document_for_user(
            request.user, public_id, need=Need.UPLOAD, action="records.document.entered_in_error"
        )
        data = ReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        document = document_mark_entered_in_error(document, actor=request.user, reason=data.validated_data["reason"])
        return Response(DocumentSerializer(document, context={"request": request}).data)


# --- who viewed my chart ---------------------------------------------------------------------


class AccessLogApi(APIView):
    """The patient's own access log: who did what with their chart, newest first (their own
    actions left out). Only the patient themself: a proxy or staff member gets 404."""

    OutputSerializer = AccessEventSerializer

    @extend_schema(
        operation_id="records_access_log",
        responses={200: page_of("ChartAccessEventPage", AccessEventSerializer), **READ_ERRORS},
    )
    def get(self, request: Request) -> Response:
        events = access_log_for_patient(request.user)
        return paginated(request, self, events, lambda page: AccessEventSerializer(page, many=True).data)
