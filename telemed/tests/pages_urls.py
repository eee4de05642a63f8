"""A URLconf for telemed/tests/test_pages.py: the real one, plus pages that fail on purpose and
stand-ins for sections later issues add (messaging) (so the menu can be seen growing by URL name)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import include, path

from telemed.urls import handler400, handler403, handler404, handler500
from telemed.urls import urlpatterns as portal_urlpatterns


def stand_in(request: HttpRequest) -> HttpResponse:
    return render(request, "base.html")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("not yours")


def suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("a forged header")


def with_messages(request: HttpRequest) -> HttpResponse:
    messages.success(request, "Your appointment is booked.")
    messages.error(request, "The payment failed.")
    return render(request, "home.html")


messaging = ([path("", stand_in, name="inbox")], "messaging")

urlpatterns = [
    *portal_urlpatterns,
    path("messages/", include(messaging)),
    path("test/boom/", boom),
    path("test/forbidden/", forbidden),
    path("test/suspicious/", suspicious),
    path("test/messages/", with_messages),
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
