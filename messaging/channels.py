"""Delivery channels behind one interface: `send(notification)` returns once the message is
handed over (or raises). Chosen by `Notification.channel` through `channel_for()`."""

from __future__ import annotations

import base64
import hashlib
from typing import Protocol
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from accounts.selectors import own_profile
from messaging.errors import NotificationUndeliverable
from messaging.models import Channel as ChannelName
from messaging.models import Notification
from messaging.sms import sms_gateway


class Channel(Protocol):
    # The User attribute that says whether the recipient wants this channel.
    preference: str

    def send(self, notification: Notification) -> None: ...


def message_id_for(idempotency_key: str) -> str:
    """A stable RFC 5322 Message-ID per idempotency key: a re-sent copy carries the same id,
    which mail systems and clients use to drop duplicates."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    domain = urlsplit(settings.SITE_URL).hostname or "telemed.invalid"
    return f"<notification.{digest}@{domain}>"


class EmailChannel:
    preference = "notify_email"

    def send(self, notification: Notification) -> None:
        address = notification.recipient.email
        if not address:
            raise NotificationUndeliverable("The recipient has no email address.")
        message = EmailMultiAlternatives(
            subject=notification.subject,
            body=notification.body_text,
            to=[address],
            headers={"Message-ID": message_id_for(notification.idempotency_key)},
        )
        if notification.body_html:
            message.attach_alternative(notification.body_html, "text/html")
        for attachment in notification.attachments:
            message.attach(attachment["filename"], base64.b64decode(attachment["content"]), attachment["content_type"])
        message.send(fail_silently=False)


def _phone(user) -> str:
    return getattr(own_profile(user), "phone", "") or ""


class SmsChannel:
    preference = "notify_sms"

    def send(self, notification: Notification) -> None:
        phone = _phone(notification.recipient)
        if not phone:
            raise NotificationUndeliverable("The recipient has no phone number.")
        sms_gateway().send(to=phone, body=notification.body_text, idempotency_key=notification.idempotency_key)


class InAppChannel:
    """The row itself is the in-app notice: status "sent" makes it visible to its recipient.
    Pushing it live over /ws/notifications/ is the messaging issue's part."""

    preference = "notify_in_app"

    def send(self, notification: Notification) -> None:
        return None


_CHANNELS: dict[str, Channel] = {
    ChannelName.EMAIL: EmailChannel(),
    ChannelName.SMS: SmsChannel(),
    ChannelName.IN_APP: InAppChannel(),
}


def channel_for(name: str) -> Channel:
    return _CHANNELS[name]
