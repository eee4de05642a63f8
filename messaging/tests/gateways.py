"""A test double of an SMS provider, for the worker processes of test_delivery_faults.

A real SMS gateway cannot run here; this one is the embedded file gateway behind a gate, so a
test can hold a delivery inside the provider call, kill the worker there, and see that nothing
reached the provider. Selected with SMS_BACKEND=messaging.tests.gateways.GatedSmsGateway.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from django.conf import settings

from messaging.sms import FileSmsGateway

# Longer than any test waits: a gate nobody opens fails the delivery instead of hanging a worker.
GATE_TIMEOUT_SECONDS = 120


def gate_dir(var_dir: Path) -> Path:
    return var_dir / "sms-gate"


class GatedSmsGateway:
    """Marks `entered-*` in the gate folder, waits for its `open` file, then hands the SMS to the
    file gateway (SMS_OUTBOX_PATH)."""

    def send(self, *, to: str, body: str, idempotency_key: str) -> None:
        gate = gate_dir(settings.VAR_DIR)
        gate.mkdir(parents=True, exist_ok=True)
        (gate / f"entered-{os.getpid()}-{uuid.uuid4().hex}").touch()
        deadline = time.monotonic() + GATE_TIMEOUT_SECONDS
        while not (gate / "open").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the SMS gate was never opened")
            time.sleep(0.05)
        FileSmsGateway().send(to=to, body=body, idempotency_key=idempotency_key)
