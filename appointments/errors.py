"""Error codes of the appointments app (STYLE.md "Validation and errors")."""

from __future__ import annotations

from enum import StrEnum

from telemed.errors import ApplicationError, ConflictError


class AppointmentsErrorCode(StrEnum):
    SLOT_TAKEN = "slot_taken"
    SLOT_UNAVAILABLE = "slot_unavailable"
    INVALID_TRANSITION = "invalid_transition"
    CANCELLATION_WINDOW_PASSED = "cancellation_window_passed"
    NOT_A_PROVIDER = "not_a_provider"
    NOT_A_PATIENT = "not_a_patient"
    TYPE_INACTIVE = "appointment_type_inactive"
    FORBIDDEN = "appointments_forbidden"
    TOO_EARLY = "too_early"
    REASON_TOO_LONG = "reason_too_long"
    PATIENT_BUSY = "patient_busy"
    WAITLIST_DATES = "waitlist_dates_invalid"
    OFFER_NOT_PENDING = "offer_not_pending"
    OFFER_EXPIRED = "offer_expired"


class SlotTakenError(ConflictError):
    def __init__(self) -> None:
        super().__init__(
            "Someone has just booked this time. Please choose another slot.", AppointmentsErrorCode.SLOT_TAKEN
        )


class SlotUnavailableError(ApplicationError):
    def __init__(self) -> None:
        super().__init__("This time is not offered for booking.", AppointmentsErrorCode.SLOT_UNAVAILABLE)


class InvalidTransitionError(ApplicationError):
    status_code = 409

    def __init__(self, current: str, verb: str) -> None:
        super().__init__(
            f"An appointment that is {current.replace('_', ' ')} cannot be {verb}.",
            AppointmentsErrorCode.INVALID_TRANSITION,
        )
