"""Request id on every response and log line; the client IP as the trusted proxies tell it."""

from __future__ import annotations

import abc
import contextvars
import re
import uuid
from collections.abc import Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_ip(request: HttpRequest) -> str:
    """The address that connected, or the nearest untrusted hop of X-Forwarded-For.

    X-Forwarded-For is believed only when REMOTE_ADDR is a trusted proxy, and then read
    from the right: a client can prepend any address it likes, so the left end is worthless.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    trusted = set(settings.TRUSTED_PROXIES)
    if remote not in trusted:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return remote


class ContextBindingMiddleware(abc.ABC):
    """Base for middleware that binds context variables for the length of one request.

    Works in both sync and async stacks (daphne serves async; the test client is sync).
    Subclasses bind in `bind()`, returning the tokens to reset, and may decorate the response.
    """

    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    @abc.abstractmethod
    def bind(self, request: HttpRequest) -> list[tuple[contextvars.ContextVar, contextvars.Token]]:
        """Set the request's context variables; return (variable, token) pairs to reset."""

    def decorate(self, request: HttpRequest, response: HttpResponse) -> None:  # noqa: B027 (optional hook)
        """Change the response on its way out (nothing by default)."""

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        tokens = self.bind(request)
        try:
            response: HttpResponse = self.get_response(request)
            self.decorate(request, response)
            return response
        finally:
            for var, token in reversed(tokens):
                var.reset(token)

    async def __acall__(self, request: HttpRequest):
        tokens = self.bind(request)
        try:
            response: HttpResponse = await self.get_response(request)
            self.decorate(request, response)
            return response
        finally:
            for var, token in reversed(tokens):
                var.reset(token)


class RequestIdMiddleware(ContextBindingMiddleware):
    """Give each request an id (or keep a well-formed one from the proxy) and echo it back."""

    def bind(self, request: HttpRequest) -> list[tuple[contextvars.ContextVar, contextvars.Token]]:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        rid = incoming if _INCOMING_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = rid  # type: ignore[attr-defined]
        return [(request_id_var, request_id_var.set(rid))]

    def decorate(self, request: HttpRequest, response: HttpResponse) -> None:
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
