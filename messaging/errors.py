"""Errors of the messaging app."""

from __future__ import annotations

from enum import StrEnum

from telemed.errors import ApplicationError


class MessagingErrorCode(StrEnum):
    NOTIFICATION_UNDELIVERABLE = "notification_undeliverable"


class NotificationUndeliverable(ApplicationError):
    """The recipient cannot be reached on this channel (no phone number, no address): no retry helps."""

    def __init__(self, message: str) -> None:
        super().__init__(message, MessagingErrorCode.NOTIFICATION_UNDELIVERABLE)
