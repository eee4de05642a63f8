"""Log formatting: JSON lines in production, the request id on every line, secrets redacted."""

from __future__ import annotations

import logging
import re

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

from telemed.middleware import request_id_var

# Values that must never reach a log line whatever a developer passes to a logger:
# credentials, tokens and session ids. Health data is kept out by policy (services log ids,
# never field values); tests seed canaries to prove it.
_SECRET_PATTERNS = [
    re.compile(r"(?i)(password|passwd|secret|token|otp|ticket|authorization|sessionid|csrftoken|api[_-]?key)"
               r"(\"?\s*[:=]\s*\"?|'?\s*[:=]\s*'?|\s+)([^\s,;&\"'}]+)"),
    re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),  # a JWT anywhere
]


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 3:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
        else:
            text = pattern.sub("[redacted]", text)
    return text


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
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
        return True


class JsonFormatter(_BaseJsonFormatter):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        super().__init__(*args, **kwargs)
