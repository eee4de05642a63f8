"""Error codes of the prescriptions app (STYLE.md "Validation and errors")."""

from __future__ import annotations

from enum import StrEnum

from telemed.errors import ApplicationError


class PrescriptionsErrorCode(StrEnum):
    FORBIDDEN = "prescriptions_forbidden"
    INVALID = "prescriptions_invalid"
    NO_ITEMS = "prescription_no_items"
    SIGNED = "prescription_signed"
    NOT_SIGNED = "prescription_not_signed"
    NOT_ACTIVE = "prescription_not_active"
    OTP_REQUIRED = "otp_code_required"
    OTP_INVALID = "otp_code_invalid"
    WARNINGS_UNACKNOWLEDGED = "prescription_warnings_unacknowledged"
    LICENCE_MISSING = "prescriber_licence_missing"
    KEY_RETIRED = "prescriptions_key_retired"
    OVER_DISPENSE = "prescription_over_dispense"
    DISPENSE_REFUSED = "prescription_not_dispensable"
    DISPENSE_CODE_INVALID = "dispense_code_invalid"
    REFILL_OPEN = "refill_request_open"
    REFILL_DECIDED = "refill_request_decided"
    APPOINTMENT_MISMATCH = "appointment_mismatch"


class PrescriptionsError(ApplicationError):
    """A prescribing rule the caller broke (400 unless a status is given)."""


class PrescriptionsForbiddenError(ApplicationError):
    """The user may see this prescription or chart but not do this (403)."""

    status_code = 403

    def __init__(self, message: str) -> None:
        super().__init__(message, PrescriptionsErrorCode.FORBIDDEN)


class UnacknowledgedWarnings(ApplicationError):
    """Signing refused until the prescriber gives a reason to override the warnings (409)."""

    status_code = 409

    def __init__(self, warnings: list) -> None:
        count = len(warnings)
        super().__init__(
            f"{count} safety warning{'s' if count != 1 else ''} to review: give a reason to override "
            "before signing, or change the prescription.",
            PrescriptionsErrorCode.WARNINGS_UNACKNOWLEDGED,
        )
        self.warnings = warnings
