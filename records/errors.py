"""Error codes of the records app (STYLE.md "Validation and errors")."""

from __future__ import annotations

from enum import StrEnum

from telemed.errors import ApplicationError


class RecordsErrorCode(StrEnum):
    VITAL_OUT_OF_RANGE = "vital_out_of_range"
    VITALS_EMPTY = "vitals_empty"
    BLOOD_PRESSURE_INCOMPLETE = "blood_pressure_incomplete"
    NOTE_SIGNED = "note_signed"
    NOTE_NOT_SIGNED = "note_not_signed"
    NOTE_EMPTY = "note_empty"
    NOT_AUTHOR = "not_note_author"
    ALREADY_ACKNOWLEDGED = "already_acknowledged"
    NOT_PATIENT_REPORTED = "not_patient_reported"
    FORBIDDEN = "records_forbidden"
    INVALID = "records_invalid"
    UPLOAD_TOO_LARGE = "upload_too_large"
    UPLOAD_EMPTY = "upload_empty"
    UPLOAD_TYPE_REFUSED = "upload_type_refused"
    UPLOAD_INFECTED = "upload_infected"
    UPLOAD_SCAN_FAILED = "upload_scan_failed"
    DOCUMENT_INTEGRITY = "document_integrity_failed"
    DOCUMENT_UNAVAILABLE = "document_unavailable"
    APPOINTMENT_MISMATCH = "appointment_mismatch"


class RecordsError(ApplicationError):
    """A chart rule the caller broke (400 unless a status is given)."""


class RecordsForbiddenError(ApplicationError):
    """The user may see this chart but not make this change (403)."""

    status_code = 403

    def __init__(self, message: str) -> None:
        super().__init__(message, RecordsErrorCode.FORBIDDEN)
