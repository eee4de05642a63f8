"""Errors of the messaging app."""

from __future__ import annotations

from enum import StrEnum

from telemed.errors import ApplicationError


class MessagingErrorCode(StrEnum):
    NOTIFICATION_UNDELIVERABLE = "notification_undeliverable"
    FORBIDDEN = "messaging_forbidden"
    INVALID = "messaging_invalid"
    MESSAGE_EMPTY = "message_empty"
    MESSAGE_TOO_LONG = "message_too_long"
    CLIENT_MSG_ID_INVALID = "client_msg_id_invalid"
    CLIENT_MSG_ID_REUSED = "client_msg_id_reused"
    RETRACT_TOO_LATE = "retract_too_late"
    NOT_SENDER = "not_sender"
    CLOSED = "conversation_closed"


class MessagingError(ApplicationError):
    """A messaging rule the caller broke (400 unless a status is given)."""


class MessagingForbiddenError(ApplicationError):
    """A participant who may read but not do this (403)."""

    status_code = 403

    def __init__(self, message: str) -> None:
        super().__init__(message, MessagingErrorCode.FORBIDDEN)


class NotificationUndeliverable(ApplicationError):
    """The recipient cannot be reached on this channel (no phone number, no address): no retry helps."""

    def __init__(self, message: str) -> None:
        super().__init__(message, MessagingErrorCode.NOTIFICATION_UNDELIVERABLE)
