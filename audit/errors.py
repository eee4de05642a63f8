"""Errors the audit services raise for a caller's mistake."""

from __future__ import annotations

from enum import StrEnum

from telemed.errors import ApplicationError


class AuditErrorCode(StrEnum):
    INVALID_ACTION = "audit_invalid_action"
    REASON_REQUIRED = "audit_reason_required"
    EXPORT_FORBIDDEN = "audit_export_forbidden"
    EXPORT_FILTER_REQUIRED = "audit_export_filter_required"
    EXPORT_INVALID_RANGE = "audit_export_invalid_range"
    PATIENT_NOT_FOUND = "audit_patient_not_found"


class AuditError(ApplicationError):
    pass


class AuditExportForbidden(AuditError):
    status_code = 403
