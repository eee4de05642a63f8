"""The prescriptions API for mobile clients: write, check, sign, cancel and revise prescriptions;
their paper; refill requests; prescribers' keys; and the public verify and dispense endpoints a
pharmacy uses with the paper's codes. Thin: selectors read (checking the accounts policy and
writing the audit trail), services write (checking it again); these views parse, call one of
them and render.

Who reaches what (see `prescriptions.selectors`): the patient and their proxy read signed
prescriptions and ask for refills; a doctor caring for the patient (or with break-glass) writes,
signs (their own drafts, with a fresh authenticator code), cancels, revises and answers refill
requests; a care-team nurse reads, drafts included. A prescription that is not yours to see is
404 (audited as denied); one you may read but not change this way is 403
`prescriptions_forbidden`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.models import Role
from prescriptions.api.serializers import (
    ItemInputSerializer,
    PrescriberKeySerializer,
    PrescriptionSerializer,
    RefillRequestSerializer,
    SafetyWarningSerializer,
    VerificationSerializer,
    WarningsConflictSerializer,
    prescription_data,
    prescriptions_data,
    refill_requests_data,
)
from prescriptions.errors import UnacknowledgedWarnings
from prescriptions.models import Prescription, PrescriptionStatus, RefillRequest
from prescriptions.selectors import (
    RxNeed,
    access_prescription_for_user,
    access_refill_request_for_user,
    prescriber_keys_for,
    prescription_paper_for_user,
    prescription_verify,
    prescriptions_for_chart,
    prescriptions_shown,
    prescriptions_written_by,
    refill_queue_for_prescriber,
)
from prescriptions.services.dispensing import dispense_record
from prescriptions.services.keys import prescriber_key_rotate
from prescriptions.services.prescribing import (
    prescription_cancel,
    prescription_check,
    prescription_create,
    prescription_revise,
    prescription_sign,
    prescription_update,
)
from prescriptions.services.refills import refill_request_approve, refill_request_create, refill_request_decline
from prescriptions.verification import Verdict
from records.selectors import access_chart_for_user
from telemed.api.negotiation import JsonErrorsWhateverAccepted
from telemed.api.schema import error_response, page_of, paginated
from telemed.middleware import client_ip

AnyResponse = TypeVar("AnyResponse", bound=HttpResponse)
REASON_MAX_LENGTH = 2000
LIST_ACTION = "prescriptions.prescriptions.view"
REFILLS_LIST_ACTION = "prescriptions.refill_requests.view"

READ_ERRORS = {
    401: error_response("not_authenticated"),
    403: error_response("otp_required: a staff login without two-step verification"),
    404: error_response("not_found: no such prescription, or not yours to see (the attempt is audited)"),
}
WRITE_ERRORS = {
    **READ_ERRORS,
    400: error_response("invalid, with `fields`; prescriptions_invalid: a rule of the service, in `detail`"),
    403: error_response(
        "prescriptions_forbidden: you may see this prescription but not do this (a nurse, the patient's side, "
        "a doctor who is not the author of a draft); otp_required"
    ),
    415: error_response("unsupported_media_type: send JSON"),
}
WARNINGS_CONFLICT = OpenApiResponse(
    WarningsConflictSerializer,
    description="prescription_warnings_unacknowledged: the safety check warns and no `override_reason` was "
    "given; the body lists the `warnings` (nothing was signed, the code was not used).",
)
PRESCRIPTION_PARAMETER = OpenApiParameter("prescription_id", OpenApiTypes.INT, OpenApiParameter.PATH)
REFILL_PARAMETER = OpenApiParameter("refill_id", OpenApiTypes.INT, OpenApiParameter.PATH)
PUBLIC_ID_PARAMETER = OpenApiParameter(
    "public_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The id printed on the paper."
)


class WarningsInConflict:
    """Adds the warnings to a 409 `prescription_warnings_unacknowledged`, so that a client can show
    them; the project's handler makes the rest of the body."""

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)  # type: ignore[misc]
        if isinstance(exc, UnacknowledgedWarnings):
            response.data["warnings"] = SafetyWarningSerializer(exc.warnings, many=True).data
        return response


def _not_stored(response: AnyResponse) -> AnyResponse:
    # What a prescription says is health data: no shared or browser cache keeps a copy.
    response["Cache-Control"] = "no-store"
    return response


class SignInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "PrescriptionSignInput"

    otp_code = serializers.CharField(
        max_length=16,
        required=False,
        allow_blank=True,
        default="",
        help_text="A fresh 6-digit code from the prescriber's authenticator (not the one used to sign in).",
    )
    override_reason = serializers.CharField(
        max_length=REASON_MAX_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why the safety warnings are overridden (stored and audited); needed when the check warns.",
    )


# --- prescriptions ---------------------------------------------------------------------------


class PrescriptionsApi(APIView):
    """GET: a page of prescriptions, newest first. The patient: their own (a proxy names the
    patient); a doctor or nurse: the named patient's, drafts included; a doctor without `patient`:
    the ones they wrote, for patients still in their care.
    POST: a doctor caring for the patient writes a draft."""

    class ListInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PrescriptionListQuery"

        patient = serializers.IntegerField(
            min_value=1,
            required=False,
            help_text="Whose prescriptions: the caller by default for a patient; a proxy or a clinician names "
            "the patient.",
        )
        status = serializers.ListField(
            child=serializers.ChoiceField(choices=PrescriptionStatus.choices),
            required=False,
            help_text="Only these statuses; repeat the parameter for several.",
        )

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PrescriptionCreateInput"

        patient = serializers.IntegerField(min_value=1)
        items = ItemInputSerializer(many=True, allow_empty=False, help_text="At most 10 medicines.")
        appointment = serializers.IntegerField(
            min_value=1, required=False, allow_null=True, help_text="One of the patient's appointments."
        )
        valid_days = serializers.IntegerField(
            min_value=1, max_value=366, default=180, help_text="Days it may be dispensed, from signing."
        )

    OutputSerializer = PrescriptionSerializer

    @extend_schema(
        operation_id="prescriptions_list",
        parameters=[ListInputSerializer],
        responses={
            200: page_of("PrescriptionPage", PrescriptionSerializer),
            **READ_ERRORS,
            400: error_response("invalid: a bad status; no `patient` from a nurse or an admin"),
            404: error_response("not_found: a patient whose chart is not yours to see (audited)"),
        },
    )
    def get(self, request: Request) -> Response:
        query = self.ListInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        user = request.user
        patient_id = params.get("patient") or (user.pk if user.role == Role.PATIENT else None)
        if patient_id is not None:
            chart = access_chart_for_user(user, patient_id, section="prescriptions", action=LIST_ACTION)
            rows = prescriptions_for_chart(chart)
        elif user.role == Role.DOCTOR:
            rows = prescriptions_written_by(user)
        else:
            raise exceptions.ValidationError({"patient": ["Name the patient whose prescriptions to list."]})
        if params.get("status"):
            rows = rows.filter(status__in=params["status"])
        rows = rows.select_related("superseded_by").prefetch_related("refill_requests")
        across_patients = patient_id is None

        def shown(page: list[Prescription]) -> Any:
            if across_patients:
                prescriptions_shown(user, page)
            return prescriptions_data(page, request)

        return paginated(request, self, rows, shown)

    @extend_schema(
        operation_id="prescriptions_create",
        request=InputSerializer,
        responses={
            201: PrescriptionSerializer,
            **WRITE_ERRORS,
            400: error_response(
                "invalid, with `fields`; prescriptions_invalid (an item's field, over 10 items); "
                "prescription_no_items; appointment_mismatch: not one of the patient's appointments"
            ),
            403: error_response("prescriptions_forbidden: only a doctor caring for the patient prescribes"),
            404: error_response("not_found: a patient whose chart is not yours to see (audited)"),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        # An outsider meets 404 here; the service refuses (403) whoever may read but not prescribe.
        chart = access_chart_for_user(
            request.user, params["patient"], action="prescriptions.prescription.create", record_read=False
        )
        prescription = prescription_create(
            actor=request.user,
            patient=chart.patient,
            items=params["items"],
            appointment_id=params.get("appointment"),
            valid_days=params["valid_days"],
        )
        return Response(prescription_data(prescription, request), status=status.HTTP_201_CREATED)


class PrescriptionApi(APIView):
    """GET: one prescription (a draft only for clinicians). PATCH: its author changes their
    draft (only what is sent changes; `items` replaces every item). A signed prescription is
    never edited: 409 `prescription_signed` (revise it instead)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PrescriptionUpdateInput"

        items = ItemInputSerializer(many=True, allow_empty=False, required=False, help_text="Replaces every item.")
        appointment = serializers.IntegerField(min_value=1, required=False, allow_null=True)
        valid_days = serializers.IntegerField(min_value=1, max_value=366, required=False)

    OutputSerializer = PrescriptionSerializer

    @extend_schema(
        operation_id="prescriptions_get",
        parameters=[PRESCRIPTION_PARAMETER],
        responses={200: PrescriptionSerializer, **READ_ERRORS},
    )
    def get(self, request: Request, prescription_id: int) -> Response:
        access = access_prescription_for_user(request.user, prescription_id)
        return Response(prescription_data(access.prescription, request))

    @extend_schema(
        operation_id="prescriptions_update",
        parameters=[PRESCRIPTION_PARAMETER],
        request=InputSerializer,
        responses={
            200: PrescriptionSerializer,
            **WRITE_ERRORS,
            400: error_response(
                "invalid, with `fields`; prescriptions_invalid; prescription_no_items; appointment_mismatch"
            ),
            403: error_response("prescriptions_forbidden: not the draft's author"),
            409: error_response("prescription_signed: a signed prescription is never edited; revise it"),
        },
    )
    def patch(self, request: Request, prescription_id: int) -> Response:
        access = access_prescription_for_user(
            request.user, prescription_id, action="prescriptions.prescription.update", record_read=False
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        changes: dict[str, Any] = {"items": params.get("items"), "valid_days": params.get("valid_days")}
        if "appointment" in params:
            changes["appointment_id"] = params["appointment"]
        prescription = prescription_update(actor=request.user, prescription=access.prescription, **changes)
        return Response(prescription_data(prescription, request))


class PrescriptionCheckApi(APIView):
    """The safety check of a prescription against the patient's allergies and current medicines
    (the shipped interaction table; not exhaustive: no warning never means safe). A doctor caring
    for the patient; audited, since it reads the chart."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PrescriptionCheck"

        warnings = SafetyWarningSerializer(many=True, help_text="Empty when the table knows of no problem.")

    @extend_schema(
        operation_id="prescriptions_check",
        parameters=[PRESCRIPTION_PARAMETER],
        request=None,
        responses={
            200: OutputSerializer,
            **READ_ERRORS,
            403: error_response("prescriptions_forbidden: not a doctor caring for the patient; otp_required"),
        },
    )
    def post(self, request: Request, prescription_id: int) -> Response:
        access = access_prescription_for_user(
            request.user,
            prescription_id,
            action="prescriptions.prescription.check",
            record_read=False,
            need=RxNeed.PRESCRIBE,
        )
        warnings = prescription_check(actor=request.user, prescription=access.prescription)
        return Response(self.OutputSerializer({"warnings": [warning.as_dict() for warning in warnings]}).data)


class PrescriptionSignApi(WarningsInConflict, APIView):
    """The author signs their draft with a fresh code from their authenticator. When the safety
    check warns, an `override_reason` is needed: without it the answer is 409 with the warnings,
    and nothing is signed. Refusals that need no code come before the code is used."""

    InputSerializer = SignInputSerializer
    OutputSerializer = PrescriptionSerializer

    @extend_schema(
        operation_id="prescriptions_sign",
        parameters=[PRESCRIPTION_PARAMETER],
        request=SignInputSerializer,
        responses={
            200: PrescriptionSerializer,
            **WRITE_ERRORS,
            400: error_response(
                "otp_code_required: no code; otp_code_invalid: a wrong or already used code; invalid, with `fields`; "
                "prescription_no_items"
            ),
            403: error_response("prescriptions_forbidden: not a doctor, or not the draft's author; otp_required"),
            409: WARNINGS_CONFLICT,
        },
        description="409 also answers `prescription_signed` (already signed) and `prescriber_licence_missing` "
        "(the prescriber's profile has no licence number), without `warnings`.",
    )
    def post(self, request: Request, prescription_id: int) -> Response:
        access = access_prescription_for_user(
            request.user,
            prescription_id,
            action="prescriptions.prescription.sign",
            record_read=False,
            need=RxNeed.PRESCRIBE,
        )
        data = SignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        prescription = prescription_sign(actor=request.user, prescription=access.prescription, **data.validated_data)
        return Response(prescription_data(prescription, request))


class PrescriptionCancelApi(APIView):
    """A doctor caring for the patient cancels a draft (its author) or a signed prescription,
    with a reason. It then verifies as cancelled; what was dispensed stays recorded."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PrescriptionCancelInput"

        reason = serializers.CharField(max_length=REASON_MAX_LENGTH, help_text="Kept with the prescription.")

    OutputSerializer = PrescriptionSerializer

    @extend_schema(
        operation_id="prescriptions_cancel",
        parameters=[PRESCRIPTION_PARAMETER],
        request=InputSerializer,
        responses={
            200: PrescriptionSerializer,
            **WRITE_ERRORS,
            409: error_response("prescription_not_active: already cancelled or superseded"),
        },
    )
    def post(self, request: Request, prescription_id: int) -> Response:
        access = access_prescription_for_user(
            request.user,
            prescription_id,
            action="prescriptions.prescription.cancel",
            record_read=False,
            need=RxNeed.PRESCRIBE,
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        prescription = prescription_cancel(
            actor=request.user, prescription=access.prescription, reason=data.validated_data["reason"]
        )
        return Response(prescription_data(prescription, request))


class PrescriptionReviseApi(APIView):
    """A doctor caring for the patient starts a revision of a signed prescription: a new draft
    with its items, which replaces it once signed."""

    OutputSerializer = PrescriptionSerializer

    @extend_schema(
        operation_id="prescriptions_revise",
        parameters=[PRESCRIPTION_PARAMETER],
        request=None,
        responses={
            201: PrescriptionSerializer,
            **READ_ERRORS,
            403: error_response("prescriptions_forbidden: not a doctor caring for the patient; otp_required"),
            409: error_response("prescription_not_active: only a signed, active prescription is revised"),
        },
    )
    def post(self, request: Request, prescription_id: int) -> Response:
        access = access_prescription_for_user(
            request.user,
            prescription_id,
            action="prescriptions.prescription.revise",
            record_read=False,
            need=RxNeed.PRESCRIBE,
        )
        draft = prescription_revise(actor=request.user, prescription=access.prescription)
        return Response(prescription_data(draft, request), status=status.HTTP_201_CREATED)


class PrescriptionPdfApi(APIView):
    """The signed prescription's paper: the PDF with the QR code and the dispense code, as an
    attachment, never cached. A draft has none (404)."""

    content_negotiation_class = JsonErrorsWhateverAccepted

    @extend_schema(
        operation_id="prescriptions_pdf",
        parameters=[PRESCRIPTION_PARAMETER],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF, as an attachment."),
            **{(code, "application/json"): response for code, response in READ_ERRORS.items()},
            (404, "application/json"): error_response("not_found: a draft, or not yours to see (audited)"),
        },
    )
    def get(self, request: Request, prescription_id: int) -> HttpResponse:
        prescription, pdf = prescription_paper_for_user(request.user, prescription_id)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="prescription-{prescription.public_id}.pdf"'
        response["X-Content-Type-Options"] = "nosniff"
        return _not_stored(response)


# --- refill requests -------------------------------------------------------------------------


class PrescriptionRefillRequestApi(APIView):
    """The patient, or their proxy, asks the prescriber for a refill of a signed prescription.
    One open request per prescription: a second is 409 `refill_request_open`."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RefillRequestInput"

        note = serializers.CharField(
            max_length=REASON_MAX_LENGTH, required=False, allow_blank=True, default="", help_text="For the prescriber."
        )

    OutputSerializer = RefillRequestSerializer

    @extend_schema(
        operation_id="prescriptions_refill_request_create",
        parameters=[PRESCRIPTION_PARAMETER],
        request=InputSerializer,
        responses={
            201: RefillRequestSerializer,
            **WRITE_ERRORS,
            403: error_response("prescriptions_forbidden: only the patient or their proxy asks for a refill"),
            409: error_response(
                "refill_request_open: one is already waiting for the prescriber; prescription_not_active: "
                "cancelled or superseded"
            ),
        },
    )
    def post(self, request: Request, prescription_id: int) -> Response:
        access = access_prescription_for_user(
            request.user,
            prescription_id,
            action="prescriptions.refill.request",
            record_read=False,
            need=RxNeed.REFILL,
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refill = refill_request_create(
            actor=request.user, prescription=access.prescription, note=data.validated_data["note"]
        )
        return Response(RefillRequestSerializer(refill).data, status=status.HTTP_201_CREATED)


class RefillRequestsApi(APIView):
    """A page of refill requests. A doctor: the open requests on prescriptions they wrote,
    oldest first (their queue). The patient (a proxy names the patient), or a clinician naming
    the patient: every request for the patient's prescriptions, newest first."""

    class ListInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RefillRequestListQuery"

        patient = serializers.IntegerField(
            min_value=1,
            required=False,
            help_text="Whose requests: the caller by default for a patient; a proxy or a clinician names the patient.",
        )

    OutputSerializer = RefillRequestSerializer

    @extend_schema(
        operation_id="prescriptions_refill_requests_list",
        parameters=[ListInputSerializer],
        responses={
            200: page_of("RefillRequestPage", RefillRequestSerializer),
            **READ_ERRORS,
            400: error_response("invalid: no `patient` from a nurse or an admin"),
            404: error_response("not_found: a patient whose chart is not yours to see (audited)"),
        },
    )
    def get(self, request: Request) -> Response:
        query = self.ListInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        user = request.user
        patient_id = query.validated_data.get("patient") or (user.pk if user.role == Role.PATIENT else None)
        if patient_id is not None:
            chart = access_chart_for_user(user, patient_id, section="refill requests", action=REFILLS_LIST_ACTION)
            prescriptions = prescriptions_for_chart(chart).prefetch_related("refill_requests__requested_by")
            rows: Any = sorted(
                (refill for prescription in prescriptions for refill in prescription.refill_requests.all()),
                key=lambda refill: (refill.created_at, refill.pk),
                reverse=True,
            )
        elif user.role == Role.DOCTOR:
            rows = refill_queue_for_prescriber(user)
        else:
            raise exceptions.ValidationError({"patient": ["Name the patient whose refill requests to list."]})
        across_patients = patient_id is None

        def shown(page: list[RefillRequest]) -> Any:
            if across_patients:
                prescriptions_shown(user, [refill.prescription for refill in page])
            return refill_requests_data(page)

        return paginated(request, self, rows, shown)


class RefillRequestApproveApi(WarningsInConflict, APIView):
    """The prescriber approves: a new prescription with the same items, signed now with a fresh
    authenticator code, replacing the old one; the patient is told. When the safety check warns,
    an `override_reason` is needed (409 with the warnings otherwise)."""

    InputSerializer = SignInputSerializer
    OutputSerializer = PrescriptionSerializer

    @extend_schema(
        operation_id="prescriptions_refill_request_approve",
        parameters=[REFILL_PARAMETER],
        request=SignInputSerializer,
        responses={
            201: PrescriptionSerializer,
            **WRITE_ERRORS,
            400: error_response("otp_code_required; otp_code_invalid; invalid, with `fields`"),
            403: error_response("prescriptions_forbidden: not a doctor caring for the patient; otp_required"),
            404: error_response("not_found: no such refill request, or not yours to see (audited)"),
            409: WARNINGS_CONFLICT,
        },
        description="409 also answers `refill_request_decided` (already answered), `prescription_not_active` "
        "(the prescription was cancelled or replaced meanwhile) and `prescriber_licence_missing`, without "
        "`warnings`.",
    )
    def post(self, request: Request, refill_id: int) -> Response:
        refill, _access = access_refill_request_for_user(
            request.user, refill_id, action="prescriptions.refill.approve", need=RxNeed.PRESCRIBE
        )
        data = SignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        prescription = refill_request_approve(actor=request.user, refill=refill, **data.validated_data)
        return Response(prescription_data(prescription, request), status=status.HTTP_201_CREATED)


class RefillRequestDeclineApi(APIView):
    """The prescriber declines, with a reason the patient reads; the patient is told."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RefillRequestDeclineInput"

        reason = serializers.CharField(max_length=REASON_MAX_LENGTH, help_text="For the patient.")

    OutputSerializer = RefillRequestSerializer

    @extend_schema(
        operation_id="prescriptions_refill_request_decline",
        parameters=[REFILL_PARAMETER],
        request=InputSerializer,
        responses={
            200: RefillRequestSerializer,
            **WRITE_ERRORS,
            403: error_response("prescriptions_forbidden: not a doctor caring for the patient; otp_required"),
            404: error_response("not_found: no such refill request, or not yours to see (audited)"),
            409: error_response("refill_request_decided: already answered"),
        },
    )
    def post(self, request: Request, refill_id: int) -> Response:
        refill, _access = access_refill_request_for_user(
            request.user, refill_id, action="prescriptions.refill.decline", need=RxNeed.PRESCRIBE
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refill = refill_request_decline(actor=request.user, refill=refill, reason=data.validated_data["reason"])
        return Response(RefillRequestSerializer(refill).data)


# --- prescribers' keys -----------------------------------------------------------------------


class PrescriberKeysApi(APIView):
    """The caller's signing keys, the active one first: public parts only. Anyone but a doctor
    has none."""

    OutputSerializer = PrescriberKeySerializer

    @extend_schema(
        operation_id="prescriptions_keys_list",
        responses={
            200: page_of("PrescriberKeyPage", PrescriberKeySerializer),
            401: READ_ERRORS[401],
            403: READ_ERRORS[403],
        },
    )
    def get(self, request: Request) -> Response:
        keys = prescriber_keys_for(request.user)
        return paginated(request, self, keys, lambda page: PrescriberKeySerializer(page, many=True).data)


class PrescriberKeyRotateApi(APIView):
    """A doctor retires their active key and gets a new one. What the old key signed still
    verifies."""

    OutputSerializer = PrescriberKeySerializer

    @extend_schema(
        operation_id="prescriptions_key_rotate",
        request=None,
        responses={
            201: PrescriberKeySerializer,
            401: READ_ERRORS[401],
            403: error_response("prescriptions_forbidden: only a doctor with a verified sign-in; otp_required"),
        },
    )
    def post(self, request: Request) -> Response:
        key = prescriber_key_rotate(actor=request.user)
        return Response(PrescriberKeySerializer(key).data, status=status.HTTP_201_CREATED)


# --- public: verify and dispense with the paper's codes ------------------------------------


class ClientIpScopedRateThrottle(ScopedRateThrottle):
    """The view's `throttle_scope` rate per client IP.

    DRF's own identification believes any X-Forwarded-For header, so a client could take a
    new identity per request and guess codes without limit; telemed.middleware.client_ip
    believes only TRUSTED_PROXIES.
    """

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}


PUBLIC_NOT_FOUND = error_response(
    "not_found: no prescription with this id and check code (the attempt is audited; attempts are rate-limited)"
)
THROTTLED = error_response("throttled: too many attempts from this address; see `Retry-After`")


class VerifyApi(APIView):
    """What the QR code on the paper opens, for a pharmacist's app: the verdict, and for a
    prescription that matches its signature only what a pharmacist needs (the items with what
    is left, the prescriber and their licence, the patient's initials and year of birth)."""

    authentication_classes: list = []
    # Public on purpose: whoever holds the paper holds the id and the 50-bit check code, and
    # nothing is told without both; attempts are throttled per client IP and audited.
    permission_classes = [AllowAny]
    throttle_classes = [ClientIpScopedRateThrottle]
    throttle_scope = "rx_verify"

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PrescriptionVerifyQuery"

        c = serializers.CharField(max_length=64, help_text="The check code from the QR code's URL.")

    OutputSerializer = VerificationSerializer

    @extend_schema(
        operation_id="prescriptions_verify",
        auth=[],
        parameters=[PUBLIC_ID_PARAMETER, InputSerializer],
        responses={
            200: VerificationSerializer,
            400: error_response("invalid: no check code"),
            404: PUBLIC_NOT_FOUND,
            429: THROTTLED,
        },
    )
    def get(self, request: Request, public_id: str) -> Response:
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        verification = prescription_verify(public_id, query.validated_data["c"], via="api")
        if verification.verdict == Verdict.NOT_FOUND:
            raise exceptions.NotFound(verification.text)
        return _not_stored(Response(VerificationSerializer(verification).data))


class DispenseLineSerializer(serializers.Serializer):
    class Meta:
        ref_name = "DispenseLineInput"

    position = serializers.IntegerField(min_value=1, max_value=32767, help_text="The item's `position`.")
    quantity = serializers.IntegerField(min_value=0, max_value=100000, help_text="In the item's `quantity_unit`.")


class DispenseApi(APIView):
    """A pharmacy records what it hands over, with the dispense code printed on the paper (not
    in the QR code). Partial dispenses add up; more than is left of an item is refused and
    nothing is recorded. The answer is the new state."""

    authentication_classes: list = []
    # Public on purpose: a pharmacist has no account here; the paper's check code and its
    # separate dispense code are the credential, wrong codes are audited, and attempts are
    # throttled per client IP.
    permission_classes = [AllowAny]
    throttle_classes = [ClientIpScopedRateThrottle]
    throttle_scope = "rx_dispense"

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DispenseInput"

        c = serializers.CharField(max_length=64, help_text="The check code from the QR code's URL.")
        dispense_code = serializers.CharField(max_length=32, help_text="The dispense code printed on the paper.")
        pharmacy = serializers.CharField(max_length=200)
        pharmacist = serializers.CharField(max_length=200)
        lines = DispenseLineSerializer(many=True, allow_empty=False, help_text="What is handed over now.")

    OutputSerializer = VerificationSerializer

    @extend_schema(
        operation_id="prescriptions_dispense",
        auth=[],
        parameters=[PUBLIC_ID_PARAMETER],
        request=InputSerializer,
        responses={
            200: VerificationSerializer,
            400: error_response("invalid, with `fields`; prescriptions_invalid: no quantity, an unknown item"),
            403: error_response("dispense_code_invalid: not the code on this paper (audited)"),
            404: PUBLIC_NOT_FOUND,
            409: error_response(
                "prescription_over_dispense: more than is left of an item (nothing recorded); "
                "prescription_not_dispensable: invalid, cancelled, superseded, expired or dispensed in full"
            ),
            429: THROTTLED,
        },
    )
    def post(self, request: Request, public_id: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        verification = prescription_verify(public_id, params["c"], via="api dispense")
        if verification.prescription is None:
            raise exceptions.NotFound(verification.text)
        state = dispense_record(
            prescription=verification.prescription,
            dispense_code=params["dispense_code"],
            lines=[(line["position"], line["quantity"]) for line in params["lines"]],
            pharmacy=params["pharmacy"],
            pharmacist=params["pharmacist"],
        )
        return _not_stored(Response(VerificationSerializer(state).data))
