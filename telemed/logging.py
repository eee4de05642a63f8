"""Log formatting: JSON lines in production, the request id on every line, secrets redacted."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.http import HttpRequest
from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

from telemed.middleware import request_id_var

# Values that must never reach a log line whatever a developer passes to a logger:
# credentials, tokens and session ids. Health data is kept out by policy (services log ids,
# never field values); tests seed canaries to prove it.
_SECRET_PATTERNS = [
    re.compile(
        r"(?i)(password|passwd|secret|token|otp|ticket|authorization|sessionid|csrftoken|api[_-]?key)"
        r"(\"?\s*[:=]\s*\"?|'?\s*[:=]\s*'?|\s+)([^\s,;&\"'}]+)"
    ),
    re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),  # a JWT anywhere
    # The personal iCal feed's secret sits in its path (calendar apps send no credentials).
    re.compile(r"(?<=/calendar/feed/)[A-Za-z0-9_-]+(?=\.ics)"),
]
# A query string is user input (search terms, a ticket, a symptom typed into a filter):
# django.request, daphne and runserver all log the full path, so drop whatever follows `?`.
_QUERY_STRING = re.compile(r"(/[^\s?\"'<>]*)\?[^\s\"'<>]*")


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 3:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
        else:
            text = pattern.sub("[redacted]", text)
    return _QUERY_STRING.sub(r"\1?[redacted]", text)


def _describe_request(request: HttpRequest) -> str:
    # Django passes the request object as `extra`; its repr carries the query string.
    return f"{request.method} {request.path}"


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, HttpRequest):
        return _describe_request(value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return redact(str(value))


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request_id = request_id_var.get()
            # Django logs a 4xx/5xx response ("Not Found: ...") after the whole middleware
            # chain has returned, when the context variable is already reset; that record
            # carries the request itself, and the middleware put the id on it.
            request = getattr(record, "request", None)
            if request_id == "-" and isinstance(request, HttpRequest):
                request_id = getattr(request, "request_id", request_id)
            record.request_id = request_id
        return True


class RedactingFilter(logging.Filter):
    """Rewrite the rendered message so a secret passed as an argument is masked too."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not stop logging
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        request = getattr(record, "request", None)
        if isinstance(request, HttpRequest):
            record.request = _describe_request(request)
        return True


class PlainFormatter(logging.Formatter):
    """The DEBUG console format; tracebacks go through the same redaction as messages."""

    def formatException(self, ei) -> str:
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact(super().formatStack(stack_info))


class JsonFormatter(_BaseJsonFormatter):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        super().__init__(*args, **kwargs)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        # Every field, not only the message: tracebacks and `extra=` values are free text too.
        return _scrub(super().process_log_record(log_data))
