"""The real-time doorbell: after commit, the right channel-layer groups hear `appointment.changed`."""

import asyncio
import datetime as dt
import json
import threading

import pytest
from channels.layers import get_channel_layer

from accounts.tests.factories import VerifiedPatientFactory
from appointments import groups
from appointments.errors import SlotTakenError
from appointments.services import appointment_cancel, appointment_reschedule, appointment_transition
from appointments.tests.conftest import book, paris
from appointments.tests.factories import working_week

pytestmark = pytest.mark.django_db

REASON = "Recurring migraines since the accident"


class Listener:
    """A test channel subscribed to some groups of the real channel layer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *group_names: str) -> None:
        self.loop = loop
        self.layer = get_channel_layer()
        self.channel = self._run(self.layer.new_channel())
        for name in group_names:
            self._run(self.layer.group_add(name, self.channel))

    def _run(self, coroutine, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def receive(self, timeout: float = 5) -> dict:
        return self._run(asyncio.wait_for(self.layer.receive(self.channel), timeout), timeout + 5)

    def hears_nothing(self, timeout: float = 0.3) -> bool:
        try:
            self.receive(timeout)
        except TimeoutError:
            return True
        return False


@pytest.fixture
def listen(settings):
    """`listen(*groups)`: a Listener on those groups.

    Every listener of a test receives on one event loop of its own (in a thread): the Redis
    layer binds its receive lock and buffers to the loop that first waited. Touching
    CHANNEL_LAYERS makes Channels build a fresh layer for this test (and again after it), so
    no loop of an earlier test is bound to it; the services send through the same layer.
    """
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield lambda *group_names: Listener(loop, *group_names)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


def test_a_booking_rings_the_patient_and_the_providers_day_only_after_commit(
    frozen_monday, schedule, video_type, patient, listen, django_capture_on_commit_callbacks
):
    patient_group = groups.patient(patient.pk)
    day_group = groups.provider_day(schedule.pk, paris(25, 0).date())
    patient_side, provider_side = listen(patient_group), listen(day_group)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        appointment = book(
            patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10), reason=REASON
        )
    # Still inside the (test) transaction: nobody heard anything yet.
    assert patient_side.hears_nothing()
    for callback in callbacks:
        callback()
    for listener in (patient_side, provider_side):
        event = listener.receive()
        assert event["type"] == "appointment.changed"
        assert (event["appointment_id"], event["status"]) == (appointment.pk, "confirmed")
        assert event["starts_at"] == appointment.starts_at.isoformat()
        assert "reason" not in event
        assert "migraine" not in json.dumps(event).lower()
    assert patient_side.hears_nothing()


def test_the_event_never_carries_the_reason(
    frozen_monday, schedule, video_type, patient, listen, verified, django_capture_on_commit_callbacks
):
    listener = listen(groups.patient(patient.pk))
    with django_capture_on_commit_callbacks(execute=True):
        appointment = book(
            patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10), reason=REASON
        )
    with django_capture_on_commit_callbacks(execute=True):
        appointment_transition(actor=verified(schedule), appointment=appointment, verb="start")
    with django_capture_on_commit_callbacks(execute=True):
        appointment_transition(actor=verified(schedule), appointment=appointment, verb="complete")
    heard = [listener.receive() for _ in range(3)]
    assert [event["status"] for event in heard] == ["confirmed", "in_progress", "completed"]
    for event in heard:
        assert set(event) == {
            "type",
            "appointment_id",
            "patient_id",
            "provider_id",
            "status",
            "starts_at",
            "ends_at",
            "updated_at",
        }
        assert "migraine" not in json.dumps(event).lower()


def test_a_reschedule_rings_both_the_day_it_left_and_the_day_it_moved_to(
    frozen_monday, schedule, video_type, patient, listen, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        appointment = book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
    old_day = listen(groups.provider_day(schedule.pk, paris(25, 0).date()))
    new_day = listen(groups.provider_day(schedule.pk, paris(26, 0).date()))
    with django_capture_on_commit_callbacks(execute=True):
        appointment_reschedule(actor=patient, appointment=appointment, starts_at=paris(26, 11))
    for listener in (old_day, new_day):
        event = listener.receive()
        assert (event["appointment_id"], event["starts_at"]) == (appointment.pk, paris(26, 11).isoformat())


def test_a_cancel_rings_with_the_cancelled_status(
    frozen_monday, schedule, video_type, patient, listen, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        appointment = book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
    listener = listen(groups.patient(patient.pk))
    with django_capture_on_commit_callbacks(execute=True):
        appointment_cancel(actor=patient, appointment=appointment)
    assert listener.receive()["status"] == "cancelled"


def test_the_providers_day_is_named_by_the_providers_local_date(frozen_monday, doctor, video_type, patient):
    # A Paris night clinic: 00:30 Paris on the 25th is still the 24th in UTC.
    working_week(doctor, start=dt.time(0, 30), end=dt.time(3))
    appointment = book(patient=patient, provider=doctor, appointment_type=video_type, starts_at=paris(25, 0, 30))
    assert groups.for_appointment(appointment) == [
        groups.patient(patient.pk),
        groups.provider_day(doctor.pk, paris(25, 0).date()),
    ]


def test_a_refused_booking_rings_no_one(
    frozen_monday, schedule, video_type, patient, listen, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
    other = VerifiedPatientFactory()
    listener = listen(groups.patient(other.pk), groups.provider_day(schedule.pk, paris(25, 0).date()))
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(SlotTakenError):
        book(patient=other, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
    assert callbacks == []
    assert listener.hears_nothing()
