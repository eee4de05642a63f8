"""Sign-in for mobile clients (JWT), registration, WebSocket tickets and the signed-in user."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.throttling import AuthRateThrottle
from accounts.models import PROVIDER_ROLES, PatientProfile, ProviderProfile, Role, Sex
from accounts.services.profiles import (
    NOTIFICATION_FIELDS,
    patient_profile_update,
    provider_profile_update,
)
from accounts.services.registration import REGISTRATION_DONE_MESSAGE, patient_register
from accounts.services.tokens import token_logout, token_obtain, token_refresh, ws_ticket_issue

_ERROR = inline_serializer("AuthError", fields={"detail": serializers.CharField(), "code": serializers.CharField()})


def _access_lifetime_seconds() -> int:
    return int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())


class TokenObtainApi(APIView):
    """Email + password (+ `otp`, required for staff) → an access and a refresh token."""

    authentication_classes: list = []
    # Public on purpose: signing in is how a signed-out client gets credentials; throttled per IP (AuthRateThrottle).
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]
    throttle_scope = "auth"

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TokenObtainInput"

        email = serializers.CharField(max_length=254)
        password = serializers.CharField(max_length=4096, trim_whitespace=False)
        otp = serializers.CharField(max_length=16, required=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TokenObtainOutput"

        access = serializers.CharField()
        refresh = serializers.CharField()
        token_type = serializers.CharField()
        expires_in = serializers.IntegerField(help_text="Seconds the access token is valid.")
        otp_verified = serializers.BooleanField()

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            401: OpenApiResponse(_ERROR, description="invalid_credentials, otp_required or otp_invalid"),
            429: OpenApiResponse(_ERROR, description="locked_out or throttled"),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pair = token_obtain(
            request=request._request,
            email=data.validated_data["email"],
            password=data.validated_data["password"],
            otp_code=data.validated_data.get("otp", ""),
        )
        out = {
            "access": pair.access,
            "refresh": pair.refresh,
            "token_type": "Bearer",
            "expires_in": _access_lifetime_seconds(),
            "otp_verified": pair.otp_verified,
        }
        return Response(self.OutputSerializer(out).data)


class TokenRefreshApi(APIView):
    """A refresh token → a new pair; the old refresh token is spent (reusing it revokes its login)."""

    authentication_classes: list = []
    # Public on purpose: the refresh token in the body is the credential (checked by the
    # service); anonymous, so the per-IP anon throttle applies.
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TokenRefreshInput"

        refresh = serializers.CharField(max_length=4096)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TokenRefreshOutput"

        access = serializers.CharField()
        refresh = serializers.CharField()
        token_type = serializers.CharField()
        expires_in = serializers.IntegerField()

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, 401: OpenApiResponse(_ERROR, description="token_not_valid and others")},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pair = token_refresh(raw_refresh=data.validated_data["refresh"])
        out = {
            "access": pair.access,
            "refresh": pair.refresh,
            "token_type": "Bearer",
            "expires_in": _access_lifetime_seconds(),
        }
        return Response(self.OutputSerializer(out).data)


class LogoutApi(APIView):
    """Sign a mobile login out: its refresh tokens stop working at once."""

    authentication_classes: list = []
    # Public on purpose: the refresh token in the body is what is revoked, and an expired
    # access token must not block signing out; the per-IP anon throttle applies.
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LogoutInput"

        refresh = serializers.CharField(max_length=4096)

    @extend_schema(
        request=InputSerializer,
        responses={204: None, 401: OpenApiResponse(_ERROR, description="token_not_valid")},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token_logout(raw_refresh=data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class RegisterApi(APIView):
    """Patient self-registration. The answer is the same whether or not the email is taken."""

    authentication_classes: list = []
    # Public on purpose: self-registration is for people without an account; throttled per IP (AuthRateThrottle).
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]
    throttle_scope = "auth"

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RegisterInput"

        email = serializers.EmailField(max_length=254)
        full_name = serializers.CharField(max_length=200)
        password = serializers.CharField(max_length=4096, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RegisterOutput"

        detail = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        patient_register(**data.validated_data)
        return Response(self.OutputSerializer({"detail": REGISTRATION_DONE_MESSAGE}).data, status=201)


class WsTicketApi(APIView):
    """A single-use ticket to open a WebSocket with `?ticket=` (a JWT never goes into a URL)."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "WsTicketOutput"

        ticket = serializers.CharField()
        expires_in = serializers.IntegerField()

    @extend_schema(request=None, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        device = getattr(request.user, "otp_device", None)
        ticket = ws_ticket_issue(user=request.user, otp_device_id=device.persistent_id if device else None)
        out = {"ticket": ticket, "expires_in": settings.WS_TICKET_SECONDS}
        return Response(self.OutputSerializer(out).data, status=201)


class MeApi(APIView):
    """Who is signed in, and whether the login was OTP-verified (open to staff without OTP)."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "MeOutput"

        id = serializers.IntegerField()
        email = serializers.EmailField()
        role = serializers.CharField()
        full_name = serializers.CharField()
        otp_verified = serializers.BooleanField()
        email_verified = serializers.BooleanField()

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        user = request.user
        is_verified = getattr(user, "is_verified", None)
        out = {
            "id": user.pk,
            "email": user.email,
            "role": user.role,
            "full_name": user.full_name,
            "otp_verified": bool(callable(is_verified) and is_verified()),
            "email_verified": getattr(user, "email_verified_at", None) is not None,
        }
        return Response(self.OutputSerializer(out).data)


class NotificationsSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ProfileNotifications"

    notify_email = serializers.BooleanField(required=False)
    notify_sms = serializers.BooleanField(required=False)
    notify_in_app = serializers.BooleanField(required=False)


class PatientProfileSerializer(serializers.Serializer):
    class Meta:
        ref_name = "PatientProfile"

    mrn = serializers.CharField(
        read_only=True, allow_null=True, help_text="Medical record number; null until the profile exists."
    )
    legal_name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    date_of_birth = serializers.DateField(allow_null=True, required=False)
    sex = serializers.ChoiceField(choices=Sex.choices, required=False)
    phone = serializers.CharField(max_length=32, allow_blank=True, required=False)
    address = serializers.CharField(allow_blank=True, required=False)
    emergency_contact_name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    emergency_contact_phone = serializers.CharField(max_length=32, allow_blank=True, required=False)
    preferred_language = serializers.CharField(max_length=16, required=False)
    notifications = NotificationsSerializer(required=False)


class ProviderProfileSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ProviderProfile"

    specialty = serializers.CharField(max_length=120, allow_blank=True, required=False)
    licence_number = serializers.CharField(max_length=64, allow_blank=True, required=False)
    licence_jurisdiction = serializers.CharField(max_length=120, allow_blank=True, required=False)
    bio = serializers.CharField(allow_blank=True, required=False)
    time_zone = serializers.CharField(max_length=64, required=False)
    accepting_new_patients = serializers.BooleanField(required=False)
    notifications = NotificationsSerializer(required=False)


_PROFILE = PolymorphicProxySerializer(
    component_name="MeProfile",
    serializers=[PatientProfileSerializer, ProviderProfileSerializer],
    resource_type_field_name=None,
)


class MeProfileApi(APIView):
    """The signed-in patient's or provider's own profile and notification preferences.

    Admins have no profile (404). Staff need an OTP-verified login, as for any personal data.
    """

    def _serializer_class(self, user):
        if user.role == Role.PATIENT:
            return PatientProfileSerializer
        if user.role in PROVIDER_ROLES:
            return ProviderProfileSerializer
        raise Http404("No profile.")

    def _output(self, user, profile) -> dict:
        serializer = self._serializer_class(user)
        data = {name: getattr(profile, name) for name in serializer().fields if name != "notifications"}
        data["notifications"] = {name: getattr(user, name) for name in NOTIFICATION_FIELDS}
        return serializer(data).data

    def _profile(self, user):
        # Read only: a user without a profile yet sees its defaults (the first PATCH creates it).
        if user.role == Role.PATIENT:
            return getattr(user, "patient_profile", None) or PatientProfile(
                user=user, legal_name=user.full_name, mrn=None
            )
        return getattr(user, "provider_profile", None) or ProviderProfile(user=user)

    @extend_schema(responses={200: _PROFILE, 404: OpenApiResponse(_ERROR)})
    def get(self, request: Request) -> Response:
        return Response(self._output(request.user, self._profile(request.user)))

    @extend_schema(request=_PROFILE, responses={200: _PROFILE, 400: OpenApiResponse(_ERROR)})
    def patch(self, request: Request) -> Response:
        user = request.user
        data = self._serializer_class(user)(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        notifications = fields.pop("notifications", None) or None
        update = patient_profile_update if user.role == Role.PATIENT else provider_profile_update
        profile = update(actor=user, user=user, notifications=notifications, **fields)
        user.refresh_from_db()
        return Response(self._output(user, profile))
