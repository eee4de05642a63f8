import datetime as dt
import zoneinfo

import pytest
import time_machine

from accounts.tests.factories import otp_verified_user
from appointments.services import appointment_book
from appointments.tests.factories import AppointmentTypeFactory, working_week

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
UTC = dt.UTC
# A Monday morning, 08:00 in Paris: the week ahead is bookable from 09:00.
MONDAY_8AM = dt.datetime(2026, 11, 23, 8, 0, tzinfo=PARIS)


@pytest.fixture
def frozen_monday():
    """Time stands at Monday 23 November 2026, 08:00 Paris (ticking)."""
    with time_machine.travel(MONDAY_8AM, tick=True) as traveller:
        yield traveller


@pytest.fixture
def still_monday():
    """Time stands still at Monday 23 November 2026, 08:00:00 Paris (for exact boundaries)."""
    with time_machine.travel(MONDAY_8AM, tick=False) as traveller:
        yield traveller


@pytest.fixture
def video_type(db):
    """20 minutes plus a 10-minute buffer after: slots every 30 minutes."""
    return AppointmentTypeFactory(name="Video consultation")


@pytest.fixture
def schedule(doctor, video_type):
    """`doctor` works 09:00-12:00 Paris time every day."""
    working_week(doctor)
    return doctor


@pytest.fixture
def verified():
    """`verified(user)`: `user` as django-otp presents an OTP-verified login."""
    return otp_verified_user


def paris(day: int, hour: int, minute: int = 0, *, month: int = 11) -> dt.datetime:
    """A wall-clock time in Paris in 2026 (November unless told)."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=PARIS)


def hhmm(slots, zone=PARIS) -> list[str]:
    """Slot starts as the local wall-clock times a person reads on the page."""
    return [slot.starts_at.astimezone(zone).strftime("%H:%M") for slot in slots]


def book(*, patient, provider, appointment_type, starts_at, actor=None, reason=""):
    """Book through the real service, acting as the patient unless told otherwise."""
    return appointment_book(
        actor=actor or patient,
        patient=patient,
        provider=provider,
        appointment_type=appointment_type,
        starts_at=starts_at,
        reason=reason,
    )
