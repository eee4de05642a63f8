"""Bind the request's address, user agent and id for the audit rows its services write."""

from __future__ import annotations

import contextvars
from collections.abc import Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from audit.chain import normalize_ip
from audit.context import USER_AGENT_MAX, AuditContext, audit_context_var
from telemed.middleware import client_ip, request_id_var


class AuditContextMiddleware:
    """Must sit after RequestIdMiddleware (it reads the request id that one sets)."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    @staticmethod
    def _start(request: HttpRequest) -> contextvars.Token:
        rid = request_id_var.get()
        ctx = AuditContext(
            # A trusted proxy can still forward a malformed hop; store no address rather than garbage.
            ip=normalize_ip(client_ip(request)),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
            request_id="" if rid == "-" else rid,
        )
        return audit_context_var.set(ctx)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        token = self._start(request)
        try:
            response: HttpResponse = self.get_response(request)
            return response
        finally:
            audit_context_var.reset(token)

    async def __acall__(self, request: HttpRequest):
        token = self._start(request)
        try:
            response: HttpResponse = await self.get_response(request)
            return response
        finally:
            audit_context_var.reset(token)
