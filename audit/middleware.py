"""Bind the request's address, user agent and id for the audit rows its services write."""

from __future__ import annotations

import contextvars

from django.http import HttpRequest

from audit.chain import normalize_ip
from audit.context import USER_AGENT_MAX, AuditContext, audit_context_var
from telemed.middleware import ContextBindingMiddleware, client_ip, request_id_var


class AuditContextMiddleware(ContextBindingMiddleware):
    """Must sit after RequestIdMiddleware (it reads the request id that one sets)."""

    def bind(self, request: HttpRequest) -> list[tuple[contextvars.ContextVar, contextvars.Token]]:
        rid = request_id_var.get()
        ctx = AuditContext(
            # A trusted proxy can still forward a malformed hop; store no address rather than garbage.
            ip=normalize_ip(client_ip(request)),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
            request_id="" if rid == "-" else rid,
        )
        return [(audit_context_var, audit_context_var.set(ctx))]
