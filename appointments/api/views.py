"""The appointments API for mobile clients: free slots, booking, an appointment's lifecycle,
its calendar file, and the waitlist. Thin: selectors read (and check the policy), services
write (and check it again); these views parse, call one of them and render.

Who reaches what: any signed-in user (staff with an OTP-verified login, the project default)
reads slots, providers and types. A patient works on their own appointments, a proxy on those
of the patient they name (`patient`), verified staff on the front desk's. Objects named by ids
come through the `access_*` selectors: what is not yours to see is a 404.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from accounts.models import Role, User
from appointments.api.serializers import (
    REASON_MAX_LENGTH,
    AppointmentSerializer,
    DateRangeSerializer,
    InstantField,
    SlotSerializer,
    WaitlistEntrySerializer,
    WaitlistOfferSerializer,
    day_bounds,
)
from appointments.ical import appointment_ics
from appointments.models import Appointment, Modality
from appointments.selectors import (
    access_appointment_for_user,
    access_waitlist_entry_for_user,
    access_waitlist_offer_for_user,
    appointment_type_get_active,
    appointment_types_active,
    appointments_for_patient,
    appointments_for_provider,
    appointments_front_desk,
    patient_get_for_staff_booking,
    provider_get_bookable,
    providers_bookable,
    slots_for_dates,
    waitlist_entries_for_patient,
    zone_or_default,
)
from appointments.services import (
    appointment_book,
    appointment_cancel,
    appointment_reschedule,
    appointment_transition,
    waitlist_join,
    waitlist_leave,
    waitlist_offer_accept,
    waitlist_offer_decline,
)
from appointments.services.booking import TRANSITIONS
from telemed.api.schema import error_response, page_of, paginated

# The slot search: how many days by default and at most (the query count does not depend on
# it, the answer's size does).
SLOT_DAYS_DEFAULT = 14
SLOT_DAYS_MAX = 31
# The front desk's list when no dates are given: today and the next 13 days.
FRONT_DESK_DAYS_DEFAULT = 14


def _appointment_json(request: Request, appointment: Appointment, *, reason_visible: bool) -> dict:
    context = {"request": request, "reason_visible": lambda _appointment: reason_visible}
    return AppointmentSerializer(appointment, context=context).data


def _patient_named(user: User, patient_id: int | None, *, action: str) -> User:
    """The patient a request is for.

    A patient caller: themself, or the patient they name as a proxy (Http404 when they may not
    act for them: an id from outside never says whether it exists). Verified staff must name
    the patient (the front desk books for anyone; the services check it again).
    """
    if user.role == Role.PATIENT:
        if patient_id is None or patient_id == user.pk:
            # The services refuse (403) a patient who may not act yet, e.g. an unverified email.
            return user
        patient, _appointments = appointments_for_patient(user, patient_id, action=action)
        return patient
    if patient_id is None:
        raise ValidationError({"patient": ["Name the patient this is for."]})
    return patient_get_for_staff_booking(user, patient_id)


class PatientSide(BasePermission):
    """The waitlist belongs to patients and their proxies; staff use the front desk."""

    message = "The waitlist is for patients and the people who act for them."
    code = "patients_only"

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.role == Role.PATIENT)


class ICalendarRenderer(BaseRenderer):
    """Lets a client ask for `Accept: text/calendar`. The file itself is returned as a plain
    HttpResponse; what this renders is an error, which stays JSON whatever was asked for."""

    media_type = "text/calendar"
    format = "ics"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return JSONRenderer().render(data)


# --- slots, providers, types ---------------------------------------------------------------


class SlotsApi(APIView):
    """Free slots of one appointment type with one or more providers, day by day in `tz`."""

    class InputSerializer(DateRangeSerializer):
        class Meta:
            ref_name = "SlotsQuery"

        provider = serializers.ListField(
            child=serializers.IntegerField(min_value=1),
            min_length=1,
            help_text="A provider's id; repeat the parameter for several providers.",
        )
        type = serializers.IntegerField(min_value=1, help_text="The appointment type's id.")

        def validate(self, attrs):
            attrs = super().validate(attrs)
            zone = attrs.get("tz") or zone_or_default(None)
            first = attrs.get("from") or timezone.now().astimezone(zone).date()
            last = attrs.get("to") or first + dt.timedelta(days=SLOT_DAYS_DEFAULT - 1)
            if last < first:
                raise serializers.ValidationError({"to": ["The last day comes before the first."]})
            if (last - first).days + 1 > SLOT_DAYS_MAX:
                raise serializers.ValidationError({"to": [f"Ask for at most {SLOT_DAYS_MAX} days at a time."]})
            return {**attrs, "tz": zone, "from": first, "to": last}

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SlotsOutput"

        time_zone = serializers.CharField(help_text="The zone of the days asked for and of every time below.")
        slots = SlotSerializer(many=True)

    @extend_schema(
        parameters=[InputSerializer],
        responses={
            200: OutputSerializer,
            400: error_response(
                "invalid: no provider, no type, a bad date or time zone, `from` after `to`, over 31 days"
            ),
            404: error_response("not_found: an unknown or unbookable provider, or an unknown or inactive type"),
        },
    )
    def get(self, request: Request) -> Response:
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        provider_ids = list(dict.fromkeys(params["provider"]))
        providers = set(providers_bookable().filter(pk__in=provider_ids).values_list("pk", flat=True))
        if len(providers) != len(provider_ids):
            provider_get_bookable(next(pk for pk in provider_ids if pk not in providers))  # raises Http404
        appointment_type = appointment_type_get_active(params["type"])
        zone = params["tz"]
        slots = slots_for_dates(
            provider_ids=provider_ids,
            appointment_type=appointment_type,
            first_day=params["from"],
            last_day=params["to"],
            zone=zone,
        )
        # The booking screen's hot path: plain dicts, in the shape SlotSerializer documents
        # (DRF's field machinery would cost more than the slot computation).
        out = [
            {
                "provider": slot.provider_id,
                "type": slot.appointment_type_id,
                "starts_at": slot.starts_at.astimezone(zone).isoformat(),
                "ends_at": slot.ends_at.astimezone(zone).isoformat(),
            }
            for slot in slots
        ]
        return Response({"time_zone": str(zone), "slots": out})


class ProvidersApi(APIView):
    """Doctors who take bookings."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "BookableProvider"

        id = serializers.IntegerField()
        name = serializers.CharField(source="full_name")
        specialty = serializers.CharField(source="provider_profile.specialty")
        time_zone = serializers.CharField(source="provider_profile.time_zone")

    @extend_schema(
        responses={200: page_of("BookableProviderPage", OutputSerializer), 401: error_response("not_authenticated")}
    )
    def get(self, request: Request) -> Response:
        return paginated(request, self, providers_bookable(), lambda page: self.OutputSerializer(page, many=True).data)


class AppointmentTypesApi(APIView):
    """The appointment types offered for booking."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AppointmentTypeOffered"

        id = serializers.IntegerField()
        name = serializers.CharField()
        modality = serializers.ChoiceField(choices=Modality.choices)
        duration_minutes = serializers.IntegerField()
        minimum_notice_minutes = serializers.IntegerField(help_text="How long before its start a slot can be booked.")
        booking_horizon_days = serializers.IntegerField(help_text="How far ahead slots are offered.")
        cancellation_window_hours = serializers.IntegerField(
            help_text="The patient's side may cancel or reschedule until this many hours before the start."
        )

    @extend_schema(
        responses={
            200: page_of("AppointmentTypeOfferedPage", OutputSerializer),
            401: error_response("not_authenticated"),
        }
    )
    def get(self, request: Request) -> Response:
        return paginated(
            request, self, appointment_types_active(), lambda page: self.OutputSerializer(page, many=True).data
        )


# --- appointments ----------------------------------------------------------------------------


class AppointmentsApi(APIView):
    """GET: the caller's appointments (a page). POST: book one.

    Two operations on one URL (DRF routes by path), each with its own serializers.
    """

    class ListInputSerializer(DateRangeSerializer):
        class Meta:
            ref_name = "AppointmentListQuery"

        status = serializers.ListField(
            child=serializers.ChoiceField(choices=Appointment.Status.choices),
            required=False,
            help_text="Only these statuses; repeat the parameter for several.",
        )
        patient = serializers.IntegerField(
            min_value=1,
            required=False,
            help_text="A proxy: the patient whose appointments to list. Staff: only this patient's.",
        )
        provider = serializers.IntegerField(min_value=1, required=False, help_text="Staff: only this provider's.")

    class BookInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AppointmentBookInput"

        provider = serializers.IntegerField(min_value=1)
        type = serializers.IntegerField(min_value=1)
        starts_at = InstantField(help_text="A slot's `starts_at`, ISO 8601 with its UTC offset.")
        reason = serializers.CharField(max_length=REASON_MAX_LENGTH, required=False, allow_blank=True, default="")
        patient = serializers.IntegerField(
            min_value=1,
            required=False,
            help_text="Who the appointment is for: the caller by default for a patient; a proxy names the "
            "patient; required for staff.",
        )

    OutputSerializer = AppointmentSerializer

    @extend_schema(
        operation_id="appointments_list",
        parameters=[ListInputSerializer],
        responses={
            200: page_of("AppointmentPage", AppointmentSerializer),
            400: error_response("invalid: a bad date, time zone or status"),
            404: error_response("not_found: a patient the caller may not act for"),
        },
    )
    def get(self, request: Request) -> Response:
        query = self.ListInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        user = request.user
        zone = params.get("tz") or zone_or_default(None)
        first, last = params.get("from"), params.get("to")
        if user.role == Role.PATIENT:
            _patient, appointments = appointments_for_patient(
                user, params.get("patient") or user.pk, action="appointments.list.view"
            )
            if first is not None:
                appointments = appointments.filter(starts_at__gte=day_bounds(first, first, zone)[0])
            if last is not None:
                appointments = appointments.filter(starts_at__lt=day_bounds(last, last, zone)[1])
            if "provider" in params:
                appointments = appointments.filter(provider_id=params["provider"])

            def reason_visible(_appointment: Appointment) -> bool:
                return True

        else:
            # Staff (OTP-verified, by the permission classes): the front desk's window.
            first = first or timezone.now().astimezone(zone).date()
            last = last or first + dt.timedelta(days=FRONT_DESK_DAYS_DEFAULT - 1)
            if last < first:
                raise ValidationError({"to": ["The last day comes before the first."]})
            start, end = day_bounds(first, last, zone)
            if "provider" in params:
                appointments = appointments_for_provider(user, provider_id=params["provider"], start=start, end=end)
            else:
                appointments = appointments_front_desk(user, start=start, end=end)
            if "patient" in params:
                appointments = appointments.filter(patient_id=params["patient"])

            # In a list, the reason only for the provider it was written for.
            def reason_visible(appointment: Appointment) -> bool:
                return appointment.provider_id == user.pk

        if params.get("status"):
            appointments = appointments.filter(status__in=params["status"])
        context = {"request": request, "reason_visible": reason_visible}
        return paginated(
            request, self, appointments, lambda page: AppointmentSerializer(page, many=True, context=context).data
        )

    @extend_schema(
        operation_id="appointments_book",
        request=BookInputSerializer,
        responses={
            201: AppointmentSerializer,
            400: error_response(
                "invalid (field errors), slot_unavailable (a time not offered), reason_too_long, and others"
            ),
            403: error_response("appointments_forbidden: the caller may not book for this patient"),
            404: error_response("not_found: an unknown provider, type, or a patient the caller may not act for"),
            409: error_response("slot_taken: someone else has just booked it; patient_busy"),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.BookInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        patient = _patient_named(request.user, params.get("patient"), action="appointments.appointment.book_request")
        appointment = appointment_book(
            actor=request.user,
            patient=patient,
            provider=provider_get_bookable(params["provider"]),
            appointment_type=appointment_type_get_active(params["type"]),
            starts_at=params["starts_at"],
            reason=params["reason"],
        )
        # The booker wrote the reason: echoing it back tells them nothing new.
        return Response(_appointment_json(request, appointment, reason_visible=True), status=status.HTTP_201_CREATED)


class AppointmentDetailApi(APIView):
    """One appointment, for its patient, their proxy, its provider and the front desk."""

    OutputSerializer = AppointmentSerializer

    @extend_schema(
        responses={200: AppointmentSerializer, 404: error_response("not_found: unknown, or not yours to see")}
    )
    def get(self, request: Request, appointment_id: int) -> Response:
        access = access_appointment_for_user(request.user, appointment_id)
        return Response(_appointment_json(request, access.appointment, reason_visible=access.reason_visible))


class AppointmentCancelApi(APIView):
    """Cancel: the patient's side until the type's cancellation window, staff until the visit."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AppointmentCancelInput"

        reason = serializers.CharField(max_length=REASON_MAX_LENGTH, required=False, allow_blank=True, default="")

    OutputSerializer = AppointmentSerializer

    @extend_schema(
        request=InputSerializer,
        responses={
            200: AppointmentSerializer,
            400: error_response("invalid"),
            404: error_response("not_found"),
            409: error_response("cancellation_window_passed; invalid_transition (already cancelled, completed...)"),
        },
    )
    def post(self, request: Request, appointment_id: int) -> Response:
        # The object first: someone else's appointment is a 404 whatever the body says.
        access = access_appointment_for_user(
            request.user, appointment_id, action="appointments.appointment.cancel_request"
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appointment = appointment_cancel(
            actor=request.user, appointment=access.appointment, reason=data.validated_data["reason"]
        )
        return Response(_appointment_json(request, appointment, reason_visible=access.reason_visible))


class AppointmentRescheduleApi(APIView):
    """Move to another free slot with the same provider and type."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AppointmentRescheduleInput"

        starts_at = InstantField(help_text="A slot's `starts_at`, ISO 8601 with its UTC offset.")

    OutputSerializer = AppointmentSerializer

    @extend_schema(
        request=InputSerializer,
        responses={
            200: AppointmentSerializer,
            400: error_response("invalid; slot_unavailable (a time not offered)"),
            404: error_response("not_found"),
            409: error_response("slot_taken; patient_busy; cancellation_window_passed; invalid_transition"),
        },
    )
    def post(self, request: Request, appointment_id: int) -> Response:
        access = access_appointment_for_user(
            request.user, appointment_id, action="appointments.appointment.reschedule_request"
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appointment = appointment_reschedule(
            actor=request.user, appointment=access.appointment, starts_at=data.validated_data["starts_at"]
        )
        return Response(_appointment_json(request, appointment, reason_visible=access.reason_visible))


class AppointmentStatusApi(APIView):
    """Staff move an appointment along: confirm, check_in, start and complete (its provider
    only), no_show (after the start)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AppointmentStatusInput"

        verb = serializers.ChoiceField(choices=sorted(TRANSITIONS))

    OutputSerializer = AppointmentSerializer

    @extend_schema(
        request=InputSerializer,
        responses={
            200: AppointmentSerializer,
            400: error_response("invalid (an unknown verb); too_early (no_show before the start)"),
            403: error_response("appointments_forbidden: not staff, or not the provider for start/complete"),
            404: error_response("not_found"),
            409: error_response("invalid_transition: not from the current status"),
        },
    )
    def post(self, request: Request, appointment_id: int) -> Response:
        access = access_appointment_for_user(
            request.user, appointment_id, action="appointments.appointment.status_request"
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        verb = data.validated_data["verb"]
        appointment = appointment_transition(actor=request.user, appointment=access.appointment, verb=verb)
        return Response(_appointment_json(request, appointment, reason_visible=access.reason_visible))


class AppointmentIcsApi(APIView):
    """The appointment as an iCalendar file (no health details: see appointments.ical)."""

    renderer_classes = [JSONRenderer, ICalendarRenderer]

    @extend_schema(
        responses={
            (200, "text/calendar"): OpenApiResponse(OpenApiTypes.BINARY, description="An iCalendar (RFC 5545) file."),
            (404, "application/json"): error_response("not_found"),
        }
    )
    def get(self, request: Request, appointment_id: int) -> HttpResponse:
        access = access_appointment_for_user(request.user, appointment_id, action="appointments.appointment.ics")
        appointment = access.appointment
        body = appointment_ics(appointment, cancelled=appointment.status == Appointment.Status.CANCELLED)
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="appointment-{appointment.pk}.ics"'
        return response


# --- the waitlist ------------------------------------------------------------------------------


class WaitlistApi(APIView):
    """GET: the patient's open waitlist entries (a page). POST: join (or move the dates of an
    open entry for the same provider and type, keeping its place)."""

    permission_classes = [*api_settings.DEFAULT_PERMISSION_CLASSES, PatientSide]

    class ListInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "WaitlistListQuery"

        patient = serializers.IntegerField(min_value=1, required=False, help_text="A proxy: the patient's entries.")

    class JoinInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "WaitlistJoinInput"

        provider = serializers.IntegerField(min_value=1)
        type = serializers.IntegerField(min_value=1)
        earliest_date = serializers.DateField(help_text="In the provider's time zone, inclusive.")
        latest_date = serializers.DateField(help_text="In the provider's time zone, inclusive.")
        patient = serializers.IntegerField(min_value=1, required=False, help_text="A proxy names the patient.")

    OutputSerializer = WaitlistEntrySerializer

    @extend_schema(
        operation_id="waitlist_list",
        parameters=[ListInputSerializer],
        responses={
            200: page_of("WaitlistEntryPage", WaitlistEntrySerializer),
            403: error_response("patients_only"),
            404: error_response("not_found: a patient the caller may not act for"),
        },
    )
    def get(self, request: Request) -> Response:
        query = self.ListInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        patient, _appointments = appointments_for_patient(
            request.user, query.validated_data.get("patient") or request.user.pk, action="appointments.waitlist.view"
        )
        return paginated(
            request,
            self,
            waitlist_entries_for_patient(patient).select_related("patient"),
            lambda page: WaitlistEntrySerializer(page, many=True).data,
        )

    @extend_schema(
        operation_id="waitlist_join",
        request=JoinInputSerializer,
        responses={
            201: WaitlistEntrySerializer,
            400: error_response("invalid; waitlist_dates_invalid (before today, past the horizon, or reversed)"),
            403: error_response("patients_only; appointments_forbidden"),
            404: error_response("not_found: an unknown provider, type, or a patient the caller may not act for"),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.JoinInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        patient = _patient_named(request.user, params.get("patient"), action="appointments.waitlist.join_request")
        entry = waitlist_join(
            actor=request.user,
            patient=patient,
            provider=provider_get_bookable(params["provider"]),
            appointment_type=appointment_type_get_active(params["type"]),
            earliest_date=params["earliest_date"],
            latest_date=params["latest_date"],
        )
        return Response(WaitlistEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


class WaitlistEntryApi(APIView):
    """GET: one waitlist entry. DELETE: leave the waitlist (a pending offer passes to the next)."""

    OutputSerializer = WaitlistEntrySerializer

    @extend_schema(responses={200: WaitlistEntrySerializer, 404: error_response("not_found")})
    def get(self, request: Request, entry_id: int) -> Response:
        entry = access_waitlist_entry_for_user(request.user, entry_id)
        return Response(WaitlistEntrySerializer(entry).data)

    @extend_schema(responses={204: None, 404: error_response("not_found")})
    def delete(self, request: Request, entry_id: int) -> Response:
        entry = access_waitlist_entry_for_user(request.user, entry_id)
        waitlist_leave(actor=request.user, entry=entry)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WaitlistOfferApi(APIView):
    """A freed slot held for the patient until `expires_at`."""

    OutputSerializer = WaitlistOfferSerializer

    @extend_schema(responses={200: WaitlistOfferSerializer, 404: error_response("not_found")})
    def get(self, request: Request, offer_id: int) -> Response:
        offer = access_waitlist_offer_for_user(request.user, offer_id)
        return Response(WaitlistOfferSerializer(offer).data)


class WaitlistOfferAcceptApi(APIView):
    """Book the held slot."""

    OutputSerializer = AppointmentSerializer

    @extend_schema(
        request=None,
        responses={
            201: AppointmentSerializer,
            404: error_response("not_found"),
            409: error_response("offer_not_pending; offer_expired; patient_busy"),
        },
    )
    def post(self, request: Request, offer_id: int) -> Response:
        offer = access_waitlist_offer_for_user(request.user, offer_id)
        appointment = waitlist_offer_accept(actor=request.user, offer=offer)
        return Response(_appointment_json(request, appointment, reason_visible=True), status=status.HTTP_201_CREATED)


class WaitlistOfferDeclineApi(APIView):
    """Decline the held slot: it passes to the next patient; the entry keeps waiting."""

    OutputSerializer = WaitlistOfferSerializer

    @extend_schema(
        request=None,
        responses={
            200: WaitlistOfferSerializer,
            404: error_response("not_found"),
            409: error_response("offer_not_pending"),
        },
    )
    def post(self, request: Request, offer_id: int) -> Response:
        offer = access_waitlist_offer_for_user(request.user, offer_id)
        offer = waitlist_offer_decline(actor=request.user, offer=offer)
        return Response(WaitlistOfferSerializer(offer).data)
