"""Checks that more than one service makes before it writes (booking, the waitlist)."""

from __future__ import annotations

from accounts.models import Role, User
from appointments.errors import AppointmentsErrorCode
from appointments.models import AppointmentType
from telemed.errors import ApplicationError


def parties_validate(*, provider: User, appointment_type: AppointmentType, patient: User | None = None) -> None:
    """An active doctor, an offered type and (when given) an active patient, or ApplicationError."""
    if provider.role != Role.DOCTOR or not provider.is_active:
        raise ApplicationError("Choose an active doctor.", AppointmentsErrorCode.NOT_A_PROVIDER)
    if patient is not None and (patient.role != Role.PATIENT or not patient.is_active):
        raise ApplicationError("Choose an active patient.", AppointmentsErrorCode.NOT_A_PATIENT)
    if not appointment_type.active:
        raise ApplicationError("This appointment type is no longer offered.", AppointmentsErrorCode.TYPE_INACTIVE)
