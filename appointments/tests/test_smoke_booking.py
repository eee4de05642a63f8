import pytest

from appointments.models import Appointment
from appointments.selectors import slots_between
from appointments.services import appointment_book, appointment_cancel
from appointments.tests.conftest import paris

pytestmark = pytest.mark.django_db


def test_a_patient_books_a_free_slot_and_it_leaves_the_list(
    frozen_monday, schedule, video_type, patient, mailoutbox, verified
):
    slots = slots_between(provider_ids=[schedule.pk], appointment_type=video_type, start=paris(23, 0), end=paris(24, 0))
    assert [s.starts_at.astimezone(paris(23, 0).tzinfo).strftime("%H:%M") for s in slots] == [
        "09:30",
        "10:00",
        "10:30",
        "11:00",
        "11:30",
    ]
    appointment = appointment_book(
        actor=patient,
        patient=patient,
        provider=schedule,
        appointment_type=video_type,
        starts_at=paris(23, 10),
        reason="Cough",
    )
    assert appointment.status == Appointment.Status.CONFIRMED
    after = slots_between(provider_ids=[schedule.pk], appointment_type=video_type, start=paris(23, 0), end=paris(24, 0))
    assert paris(23, 10) not in [s.starts_at for s in after]
    assert len(mailoutbox) == 0  # the outbox holds it until the sweeper runs
    cancelled = appointment_cancel(actor=verified(schedule), appointment=appointment)
    assert cancelled.status == Appointment.Status.CANCELLED
    again = slots_between(provider_ids=[schedule.pk], appointment_type=video_type, start=paris(23, 0), end=paris(24, 0))
    assert paris(23, 10) in [s.starts_at for s in again]
