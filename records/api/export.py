"""The patient's copy of their record for mobile clients: `GET /api/v1/me/record/export/json/`
and `.../pdf/` (records.services.export).

The caller's own record, or (`?patient=<id>`) the record of the patient a proxy acts for.
Anyone else, clinicians included, meets 404 (audited as denied): the export is the patient's
right of access; clinicians read the chart endpoints.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.models import Scope
from accounts.selectors import access_patient_for_user
from records.selectors import EXPORT_ACTION
from records.services.export import (
    CONTENT_TYPES,
    FORMAT,
    export_filename,
    record_export_json,
    record_export_pdf,
)
from telemed.api.schema import ErrorSerializer


class PdfRenderer(BaseRenderer):
    """Lets a client ask for `Accept: application/pdf`. The file itself is returned as a plain
    HttpResponse; what this renders is an error, which stays JSON whatever was asked for."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return JSONRenderer().render(data)


class ExportQuerySerializer(serializers.Serializer):
    patient = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="A proxy: the patient whose record to export. Default: the caller's own.",
    )


class PartySerializer(serializers.Serializer):
    class Meta:
        ref_name = "RecordExportParty"

    name = serializers.CharField()
    role = serializers.CharField()


class RecordExportSerializer(serializers.Serializer):
    """The shape of `telemed.record.v1` (every key always present; lists may be empty)."""

    class Meta:
        ref_name = "RecordExport"

    format = serializers.CharField(help_text=f"Always `{FORMAT}` for this version.")
    generated_at = serializers.DateTimeField()
    clinic = serializers.CharField()
    patient = serializers.DictField(help_text="name, legal_name, email, date_of_birth, sex, mrn")
    allergies = serializers.ListField(child=serializers.DictField())
    problems = serializers.ListField(child=serializers.DictField())
    medications = serializers.ListField(child=serializers.DictField())
    immunizations = serializers.ListField(child=serializers.DictField())
    vitals = serializers.ListField(child=serializers.DictField())
    notes = serializers.ListField(
        child=serializers.DictField(), help_text="Signed notes only, each with its `amendments`."
    )
    documents = serializers.ListField(
        child=serializers.DictField(),
        help_text="Metadata of each document; `download` is the API path of its bytes.",
    )


def _export(request: Request, render: Callable[..., bytes], *, fmt: str) -> HttpResponse:
    query = ExportQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    user = request.user
    patient, _decision = access_patient_for_user(
        user, query.validated_data.get("patient") or user.pk, action=EXPORT_ACTION, scope=Scope.RECORDS_VIEW
    )
    response = HttpResponse(render(actor=user, patient=patient), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{export_filename(fmt)}"'
    response["Cache-Control"] = "no-store, private"
    return response


_ERRORS = {
    (400, "application/json"): OpenApiResponse(ErrorSerializer, description="invalid: a malformed `patient`"),
    (404, "application/json"): OpenApiResponse(
        ErrorSerializer, description="not_found: not the caller's record, nor one they act for as a proxy"
    ),
}


class RecordExportJsonApi(APIView):
    """The whole record as JSON (`telemed.record.v1`), as an attachment. Audited."""

    @extend_schema(
        operation_id="records_export_json",
        parameters=[ExportQuerySerializer],
        responses={(200, "application/json"): RecordExportSerializer, **_ERRORS},
    )
    def get(self, request: Request) -> HttpResponse:
        return _export(request, record_export_json, fmt="json")


class RecordExportPdfApi(APIView):
    """The whole record as a readable PDF, as an attachment. Audited."""

    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        operation_id="records_export_pdf",
        parameters=[ExportQuerySerializer],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="A PDF document."),
            **_ERRORS,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        return _export(request, record_export_pdf, fmt="pdf")
