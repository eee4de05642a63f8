"""Who is on the other end of the wire, for audit rows, without passing the request into services.

AuditContextMiddleware binds it for each HTTP request; consumers and Celery tasks that want
their events to carry an address or a request id bind it themselves with `audit_context(...)`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from telemed.middleware import request_id_var

USER_AGENT_MAX = 512


@dataclass(frozen=True)
class AuditContext:
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""


audit_context_var: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar("audit_context", default=None)


def current_audit_context() -> AuditContext:
    """The bound context, or one that carries only the request id (if any) of the current log context."""
    bound = audit_context_var.get()
    if bound is not None:
        return bound
    rid = request_id_var.get()
    return AuditContext(request_id="" if rid == "-" else rid)


@contextmanager
def audit_context(*, ip: str | None = None, user_agent: str = "", request_id: str = "") -> Iterator[AuditContext]:
    """Bind request metadata for audit rows written inside the block (consumers, tasks, tests)."""
    ctx = AuditContext(ip=ip, user_agent=user_agent[:USER_AGENT_MAX], request_id=request_id)
    token = audit_context_var.set(ctx)
    try:
        yield ctx
    finally:
        audit_context_var.reset(token)
