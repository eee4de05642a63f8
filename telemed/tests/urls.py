"""Test-only urlconf: the project's routes plus small views that fail in each way the API can."""

import logging
import uuid

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse
from django.urls import path
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from telemed.errors import ApplicationError, ConflictError
from telemed.urls import handler400, handler403, handler404, handler500
from telemed.urls import urlpatterns as project_urlpatterns

logger = logging.getLogger("telemed.tests.views")


class _Open(APIView):
    # Test-only views (not in the project's URLconf) that exercise the error handler and
    # throttles without signing in.
    permission_classes = [AllowAny]


class ApplicationErrorApi(_Open):
    def get(self, request):
        raise ApplicationError("That slot is no longer free.", "slot_taken", status_code=409)


class ConflictErrorApi(_Open):
    def get(self, request):
        raise ConflictError("Already booked.", "already_booked")


class ValidationErrorApi(_Open):
    class InputSerializer(serializers.Serializer):
        diagnosis = serializers.CharField(max_length=5)
        age = serializers.IntegerField(min_value=0)

    def post(self, request):
        self.InputSerializer(data=request.data).is_valid(raise_exception=True)
        return Response(status=204)


class BareValidationErrorApi(_Open):
    def get(self, request):
        raise serializers.ValidationError("Pick a slot first.")


class DjangoValidationErrorApi(_Open):
    def get(self, request):
        raise DjangoValidationError({"starts_at": ["Must be in the future."]})


class AuthenticatedOnlyApi(APIView):
    def get(self, request):
        return Response({"ok": True})


class NotFoundApi(_Open):
    def get(self, request):
        raise Http404("No such appointment for this patient")


class PermissionDeniedApi(_Open):
    def get(self, request):
        raise DjangoPermissionDenied


class OncePerRunThrottle(SimpleRateThrottle):
    """One request a minute per X-Test-Run, so tests never share a bucket in a shared cache."""

    rate = "1/min"

    def get_cache_key(self, request, view):
        return f"test-throttle:{request.headers.get('X-Test-Run', uuid.uuid4().hex)}"


class ThrottledApi(_Open):
    throttle_classes = [OncePerRunThrottle]

    def get(self, request):
        return Response({"ok": True})


class OpenApi(_Open):
    """Throttled by the project's default classes only (REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"])."""

    def get(self, request):
        return Response({"ok": True})


class NumbersApi(GenericAPIView):
    # Test-only (pagination of the error shape), no auth needed: see _Open.
    permission_classes = [AllowAny]

    def get(self, request):
        page = self.paginate_queryset(list(range(1, 251)))
        return self.get_paginated_response(page)


def logs_and_answers(request):
    logger.info("visited the logging view")
    return HttpResponse("ok")


def breaks(request):
    raise RuntimeError("the view broke")


urlpatterns = [
    path("tests/api/application-error/", ApplicationErrorApi.as_view()),
    path("tests/api/conflict-error/", ConflictErrorApi.as_view()),
    path("tests/api/validation-error/", ValidationErrorApi.as_view()),
    path("tests/api/bare-validation-error/", BareValidationErrorApi.as_view()),
    path("tests/api/django-validation-error/", DjangoValidationErrorApi.as_view()),
    path("tests/api/authenticated-only/", AuthenticatedOnlyApi.as_view()),
    path("tests/api/not-found/", NotFoundApi.as_view()),
    path("tests/api/permission-denied/", PermissionDeniedApi.as_view()),
    path("tests/api/throttled/", ThrottledApi.as_view()),
    path("tests/api/open/", OpenApi.as_view()),
    path("tests/api/numbers/", NumbersApi.as_view()),
    path("tests/logs/", logs_and_answers),
    path("tests/breaks/", breaks),
    *project_urlpatterns,
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
