"""The slots selector: what a patient is offered when they look for a time."""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.factories import DoctorFactory, PatientFactory
from appointments.models import Appointment, AvailabilityException, WaitlistOffer
from appointments.selectors import slots_between, slots_for_dates
from appointments.tests.conftest import PARIS, UTC, hhmm, paris
from appointments.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    AvailabilityExceptionFactory,
    WaitlistEntryFactory,
    WaitlistOfferFactory,
    WeeklyAvailabilityFactory,
    working_week,
)

pytestmark = pytest.mark.django_db

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
TUESDAY_SLOTS = ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]


def slots_on(provider, kind, day, *, month=11, providers=None):
    """The free slots of one Paris day (midnight to midnight)."""
    start = paris(day, 0, month=month)
    return slots_between(
        provider_ids=providers or [provider.pk],
        appointment_type=kind,
        start=start,
        end=start + dt.timedelta(days=1),
    )


def test_a_weekly_window_is_cut_into_steps_of_the_duration_plus_buffers(frozen_monday, schedule, video_type):
    slots = slots_on(schedule, video_type, 24)
    assert hhmm(slots) == TUESDAY_SLOTS
    assert all(slot.ends_at - slot.starts_at == dt.timedelta(minutes=20) for slot in slots)
    assert {slot.provider_id for slot in slots} == {schedule.pk}


def test_weekly_hours_are_read_in_the_providers_own_time_zone(frozen_monday, video_type):
    new_yorker = DoctorFactory()
    working_week(new_yorker, time_zone="America/New_York")
    slots = slots_on(new_yorker, video_type, 24)
    assert hhmm(slots, NEW_YORK) == TUESDAY_SLOTS
    # 09:00 in New York is 15:00 in Paris in November.
    assert hhmm(slots)[0] == "15:00"


def test_a_provider_without_weekly_hours_offers_nothing(frozen_monday, doctor, video_type):
    assert slots_on(doctor, video_type, 24) == []


@pytest.mark.parametrize(
    ("travel_to", "before", "after"),
    [
        # Spring forward on Sunday 29 March 2026 (CET +01:00 -> CEST +02:00).
        (dt.datetime(2026, 3, 25, 8, 0, tzinfo=PARIS), (3, 28), (3, 30)),
        # Fall back on Sunday 25 October 2026 (CEST +02:00 -> CET +01:00).
        (dt.datetime(2026, 10, 21, 8, 0, tzinfo=PARIS), (10, 24), (10, 26)),
    ],
)
def test_nine_oclock_stays_nine_oclock_local_across_a_dst_change(schedule, video_type, travel_to, before, after):
    with time_machine.travel(travel_to, tick=False):
        on_the_eve = slots_on(schedule, video_type, before[1], month=before[0])
        on_the_day = slots_on(schedule, video_type, after[1] - 1, month=after[0])
        the_day_after = slots_on(schedule, video_type, after[1], month=after[0])
    for slots in (on_the_eve, on_the_day, the_day_after):
        assert hhmm(slots) == TUESDAY_SLOTS
    # The UTC instant of the first slot moves by the hour the clocks moved.
    first_utc = [slots[0].starts_at.astimezone(UTC).time() for slots in (on_the_eve, on_the_day, the_day_after)]
    if travel_to.month == 3:
        assert first_utc == [dt.time(8, 0), dt.time(7, 0), dt.time(7, 0)]
    else:
        assert first_utc == [dt.time(7, 0), dt.time(8, 0), dt.time(8, 0)]


def test_the_buffers_of_a_type_space_its_slots(frozen_monday, schedule):
    padded = AppointmentTypeFactory(duration_minutes=30, buffer_before_minutes=5, buffer_after_minutes=10)
    slots = slots_on(schedule, padded, 24)
    # 5 min before, 30 min visit, 10 min after: a 45-minute step that starts 5 min in.
    assert hhmm(slots) == ["09:05", "09:50", "10:35", "11:20"]


def test_an_appointment_and_its_buffer_take_every_slot_they_overlap(frozen_monday, schedule, video_type, patient):
    # Off the grid on purpose (booked under an older type): 10:40-11:00, buffer until 11:10.
    AppointmentFactory(
        patient=patient,
        provider=schedule,
        appointment_type=video_type,
        starts_at=paris(24, 10, 40),
        ends_at=paris(24, 11, 0),
        blocked_from=paris(24, 10, 40),
        blocked_until=paris(24, 11, 10),
    )
    assert hhmm(slots_on(schedule, video_type, 24)) == ["09:00", "09:30", "10:00", "11:30"]


def test_a_cancelled_appointment_frees_its_slot(frozen_monday, schedule, video_type, patient):
    AppointmentFactory(
        patient=patient,
        provider=schedule,
        appointment_type=video_type,
        starts_at=paris(24, 10),
        blocked_until=paris(24, 10, 30),
        status=Appointment.Status.CANCELLED,
        cancelled_at=timezone.now(),
    )
    assert hhmm(slots_on(schedule, video_type, 24)) == TUESDAY_SLOTS


def test_time_off_removes_the_slots_it_touches_and_only_those(frozen_monday, schedule, video_type):
    AvailabilityExceptionFactory(provider=schedule, starts_at=paris(24, 10), ends_at=paris(24, 11))
    # 09:30 ends its buffer exactly at 10:00: touching is not overlapping.
    assert hhmm(slots_on(schedule, video_type, 24)) == ["09:00", "09:30", "11:00", "11:30"]
    assert hhmm(slots_on(schedule, video_type, 25)) == TUESDAY_SLOTS


def test_extra_hours_add_slots_even_on_a_day_off(frozen_monday, doctor, video_type):
    working_week(doctor, weekdays=range(5))  # Monday to Friday
    AvailabilityExceptionFactory(
        provider=doctor,
        kind=AvailabilityException.Kind.EXTRA_HOURS,
        starts_at=paris(24, 14),
        ends_at=paris(24, 15),
    )
    AvailabilityExceptionFactory(
        provider=doctor,
        kind=AvailabilityException.Kind.EXTRA_HOURS,
        starts_at=paris(28, 10),
        ends_at=paris(28, 11),
    )
    assert hhmm(slots_on(doctor, video_type, 24)) == [*TUESDAY_SLOTS, "14:00", "14:30"]
    assert hhmm(slots_on(doctor, video_type, 28)) == ["10:00", "10:30"]  # a Saturday
    assert slots_on(doctor, video_type, 29) == []  # Sunday: no hours, no extra


def test_minimum_notice_is_counted_from_now_to_the_minute(still_monday, schedule):
    exactly_an_hour = AppointmentTypeFactory(minimum_notice_minutes=60)
    a_minute_more = AppointmentTypeFactory(minimum_notice_minutes=61)
    # Now is 08:00:00 sharp: 09:00 is exactly an hour away.
    assert hhmm(slots_on(schedule, exactly_an_hour, 23))[0] == "09:00"
    assert hhmm(slots_on(schedule, a_minute_more, 23))[0] == "09:30"


def test_nothing_is_offered_beyond_the_booking_horizon(still_monday, schedule):
    two_days = AppointmentTypeFactory(booking_horizon_days=2)
    assert hhmm(slots_on(schedule, two_days, 24)) == TUESDAY_SLOTS
    # The horizon ends Wednesday 08:00: nothing on Wednesday morning.
    assert slots_on(schedule, two_days, 25) == []
    week = slots_between(provider_ids=[schedule.pk], appointment_type=two_days, start=paris(23, 0), end=paris(30, 0))
    assert max(slot.starts_at for slot in week) == paris(24, 11, 30)


def test_the_past_is_never_offered(frozen_monday, schedule, video_type):
    frozen_monday.move_to(paris(23, 10, 15))
    # Next free start at least an hour away: 11:30 (11:00 is only 45 minutes off).
    assert hhmm(slots_on(schedule, video_type, 23)) == ["11:30"]


def test_a_window_limited_to_some_types_offers_only_those(frozen_monday, doctor, video_type):
    working_week(doctor, weekdays=[])  # the Paris profile, no hours yet
    in_person = AppointmentTypeFactory(name="In person", modality="in_person")
    tuesday_in_person_only = WeeklyAvailabilityFactory(provider=doctor, weekday=1, start_time=dt.time(9))
    tuesday_in_person_only.appointment_types.set([in_person])
    WeeklyAvailabilityFactory(provider=doctor, weekday=2, start_time=dt.time(9))  # every type
    # Tuesday 24 is weekday 1, Wednesday 25 weekday 2.
    assert slots_on(doctor, video_type, 24) == []
    assert hhmm(slots_on(doctor, video_type, 25)) == TUESDAY_SLOTS
    assert hhmm(slots_on(doctor, in_person, 24)) == TUESDAY_SLOTS
    assert hhmm(slots_on(doctor, in_person, 25)) == TUESDAY_SLOTS


def test_several_providers_come_back_in_one_list_sorted_by_time(frozen_monday, schedule, video_type):
    early = DoctorFactory()
    working_week(early, start=dt.time(8, 45), end=dt.time(10, 0))
    slots = slots_on(None, video_type, 24, providers=[schedule.pk, early.pk])
    pairs = [(time, slot.provider_id) for time, slot in zip(hhmm(slots), slots, strict=True)]
    assert pairs == [
        ("08:45", early.pk),
        ("09:00", schedule.pk),
        ("09:15", early.pk),
        ("09:30", schedule.pk),
        ("10:00", schedule.pk),
        ("10:30", schedule.pk),
        ("11:00", schedule.pk),
        ("11:30", schedule.pk),
    ]


def test_slots_for_dates_reads_the_dates_in_the_viewers_time_zone(frozen_monday, doctor, video_type):
    # A Paris night clinic, 03:00-06:00: that is the evening before in New York.
    working_week(doctor, start=dt.time(3), end=dt.time(6))
    tuesday_in_new_york = slots_for_dates(
        provider_ids=[doctor.pk],
        appointment_type=video_type,
        first_day=dt.date(2026, 11, 24),
        last_day=dt.date(2026, 11, 24),
        zone=NEW_YORK,
    )
    assert hhmm(tuesday_in_new_york, NEW_YORK) == ["21:00", "21:30", "22:00", "22:30", "23:00", "23:30"]
    assert {slot.local(NEW_YORK).date() for slot in tuesday_in_new_york} == {dt.date(2026, 11, 24)}
    # ...which is early Wednesday in Paris.
    assert {slot.local(PARIS).date() for slot in tuesday_in_new_york} == {dt.date(2026, 11, 25)}


def test_a_slot_held_for_a_waitlisted_patient_is_hidden_until_the_hold_ends(
    frozen_monday, schedule, video_type, patient
):
    entry = WaitlistEntryFactory(patient=PatientFactory(), provider=schedule, appointment_type=video_type)
    offer = WaitlistOfferFactory(
        entry=entry,
        starts_at=paris(24, 10),
        blocked_until=paris(24, 10, 30),
        expires_at=timezone.now() + dt.timedelta(hours=2),
    )
    assert "10:00" not in hhmm(slots_on(schedule, video_type, 24))
    # Once the hold has run out it no longer hides the slot (even before the sweeper runs).
    frozen_monday.shift(dt.timedelta(hours=2, minutes=1))
    assert "10:00" in hhmm(slots_on(schedule, video_type, 24))
    frozen_monday.shift(dt.timedelta(hours=-2, minutes=-1))
    WaitlistOffer.objects.filter(pk=offer.pk).update(status=WaitlistOffer.Status.DECLINED)
    assert "10:00" in hhmm(slots_on(schedule, video_type, 24))


def _busy_clinic(providers, kind, patient):
    """Bookings, time off, extra hours and held offers for each provider: every query runs."""
    for index, provider in enumerate(providers):
        working_week(provider)
        AvailabilityExceptionFactory(provider=provider, starts_at=paris(25, 9), ends_at=paris(25, 10))
        AvailabilityExceptionFactory(
            provider=provider,
            kind=AvailabilityException.Kind.EXTRA_HOURS,
            starts_at=paris(26, 14),
            ends_at=paris(26, 16),
        )
        AppointmentFactory(
            patient=patient,
            provider=provider,
            appointment_type=kind,
            starts_at=paris(24, 9) + dt.timedelta(minutes=30 * index),
            blocked_until=paris(24, 9, 30) + dt.timedelta(minutes=30 * index),
        )
        entry = WaitlistEntryFactory(patient=PatientFactory(), provider=provider, appointment_type=kind)
        WaitlistOfferFactory(entry=entry, starts_at=paris(24, 11), blocked_until=paris(24, 11, 30))


def test_the_slot_search_makes_the_same_few_queries_for_a_day_or_sixty_days(
    frozen_monday, video_type, patient, django_assert_max_num_queries
):
    providers = [DoctorFactory() for _ in range(4)]
    _busy_clinic(providers, video_type, patient)
    ids = [provider.pk for provider in providers]
    with django_assert_max_num_queries(6):
        one_day = slots_between(provider_ids=ids, appointment_type=video_type, start=paris(24, 0), end=paris(25, 0))
    with django_assert_max_num_queries(6):
        sixty_days = slots_between(
            provider_ids=ids,
            appointment_type=video_type,
            start=paris(23, 0),
            end=paris(23, 0) + dt.timedelta(days=60),
        )
    # Four providers on Tuesday, each with one booking and one held slot: 4 left of 6 each.
    assert len(one_day) == 4 * 4
    assert len(sixty_days) > 50 * 4 * 6
