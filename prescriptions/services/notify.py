"""What the prescriptions app tells people, through the messaging outbox, in the caller's
transaction. No health details in any notice: never a medicine, only that something is ready
and a link (the portal shows the rest after sign-in).

Keys: ``prescription:<id>:<what>:<channel>`` and ``refill:<id>:<what>:<channel>``.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from messaging.services import CHANNEL_EMAIL, CHANNEL_IN_APP, notification_schedule
from prescriptions.models import Prescription, RefillRequest

CHANNELS = (CHANNEL_EMAIL, CHANNEL_IN_APP)


def _link(name: str, *args: object) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name, args=args)


def _send(*, recipient: User, kind: str, key: str, subject: str, message: str, link: str) -> None:
    greeting = recipient.full_name or recipient.email
    text = f"Hello {greeting},\n\n{message}\n\n{link}\n\n— {settings.CLINIC_NAME}\n"
    for channel in CHANNELS:
        notification_schedule(
            recipient=recipient,
            kind=kind,
            channel=channel,
            subject=subject,
            body_text=text,
            due_at=timezone.now(),
            idempotency_key=f"{key}:{channel}",
        )


def _patient_side(prescription: Prescription, extra: User | None) -> list[User]:
    recipients = [prescription.patient]
    if extra is not None and extra.pk != prescription.patient_id and extra.role == "patient":
        recipients.append(extra)
    return recipients


def notify_prescription_ready(prescription: Prescription) -> None:
    for recipient in _patient_side(prescription, None):
        _send(
            recipient=recipient,
            kind="prescription.ready",
            key=f"prescription:{prescription.pk}:ready:{recipient.pk}",
            subject="A new prescription is ready",
            message="Your doctor has signed a new prescription. You can read it and download it in the portal.",
            link=_link("prescriptions:detail", prescription.pk),
        )


def notify_prescription_cancelled(prescription: Prescription) -> None:
    for recipient in _patient_side(prescription, None):
        _send(
            recipient=recipient,
            kind="prescription.cancelled",
            key=f"prescription:{prescription.pk}:cancelled:{recipient.pk}",
            subject="A prescription was cancelled",
            message="Your doctor has cancelled one of your prescriptions. The portal says which, and why.",
            link=_link("prescriptions:detail", prescription.pk),
        )


def notify_refill_requested(refill: RefillRequest) -> None:
    prescriber = refill.prescription.prescriber
    _send(
        recipient=prescriber,
        kind="prescription.refill_requested",
        key=f"refill:{refill.pk}:requested",
        subject="A refill request is waiting",
        message="A patient has asked for a refill of a prescription you wrote.",
        link=_link("prescriptions:refill_queue"),
    )


def notify_refill_decided(refill: RefillRequest) -> None:
    approved = refill.new_prescription_id is not None
    message = (
        "Your refill request was approved: a new prescription is ready in the portal."
        if approved
        else "Your refill request was declined. The portal shows your doctor's reason."
    )
    target = refill.new_prescription_id or refill.prescription_id
    for recipient in _patient_side(refill.prescription, refill.requested_by):
        _send(
            recipient=recipient,
            kind="prescription.refill_decided",
            key=f"refill:{refill.pk}:decided:{recipient.pk}",
            subject="Your refill request was answered",
            message=message,
            link=_link("prescriptions:detail", target),
        )
