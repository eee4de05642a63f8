"""SMS gateways: the plug-in point for a real SMS provider (settings.SMS_BACKEND).

A gateway is any class with a no-argument constructor and

    send(*, to: str, body: str, idempotency_key: str) -> None

that returns once the provider has accepted the message and raises on refusal. A production
gateway (HTTP) passes `idempotency_key` to the provider's own idempotency/deduplication header
so that a re-send after a crash (docs/notifications.md) is dropped by the provider.
"""

from __future__ import annotations

import json
from typing import Protocol

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string


class SmsGateway(Protocol):
    def send(self, *, to: str, body: str, idempotency_key: str) -> None: ...


class FileSmsGateway:
    """The embedded gateway: one JSON line per SMS appended to settings.SMS_OUTBOX_PATH."""

    def send(self, *, to: str, body: str, idempotency_key: str) -> None:
        path = settings.SMS_OUTBOX_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {"to": to, "body": body, "idempotency_key": idempotency_key, "accepted_at": timezone.now().isoformat()}
        )
        # One write() of one line on an O_APPEND file: concurrent workers never interleave lines.
        with path.open("a", encoding="utf-8") as outbox:
            outbox.write(line + "\n")


def sms_gateway() -> SmsGateway:
    return import_string(settings.SMS_BACKEND)()
