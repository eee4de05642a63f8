"""Races with real threads and real transactions, on SQLite and on PostgreSQL.

Each thread has its own database connection. On SQLite the test database is a file
(settings DATABASES["default"]["TEST"]["NAME"], under TELEMED_VAR_DIR), so every thread sees
the same database and SQLite's write lock (IMMEDIATE transactions) is what serializes them;
on PostgreSQL it is the provider's advisory lock, with the exclusion constraint behind it.
"""

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from django.db import connection

from accounts.tests.factories import DoctorFactory, VerifiedPatientFactory
from appointments.errors import SlotTakenError
from appointments.models import Appointment, WaitlistEntry, WaitlistOffer
from appointments.services import appointment_cancel, waitlist_join, waitlist_offers_expire
from appointments.tests.conftest import book, paris
from appointments.tests.factories import AppointmentTypeFactory, working_week

pytestmark = pytest.mark.django_db(transaction=True)

CONTENDERS = 8


def run_together(jobs: list[Callable[[], object]]) -> list[object]:
    """Run every job in its own thread, released at the same instant; each job's result or
    the exception it raised, in order."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = jobs[index]()
        except Exception as exc:  # the test inspects what each thread met
            results[index] = exc
        finally:
            # The thread's own connection: left open it would keep the test database busy.
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a contender never finished"
    return results


def test_many_patients_booking_one_slot_at_once_exactly_one_wins(frozen_monday, schedule, video_type):
    patients = [VerifiedPatientFactory() for _ in range(CONTENDERS)]
    jobs = [
        lambda p=p: book(patient=p, provider=schedule, appointment_type=video_type, starts_at=paris(25, 10))
        for p in patients
    ]
    results = run_together(jobs)
    winners = [result for result in results if isinstance(result, Appointment)]
    losers = [result for result in results if not isinstance(result, Appointment)]
    assert len(winners) == 1
    assert len(losers) == CONTENDERS - 1
    assert all(isinstance(error, SlotTakenError) and error.status_code == 409 for error in losers), losers
    stored = Appointment.objects.filter(provider=schedule, status__in=Appointment.ACTIVE_STATUSES)
    assert list(stored.values_list("pk", flat=True)) == [winners[0].pk]


def test_bookings_of_overlapping_slots_of_different_types_at_once_leave_one(frozen_monday, schedule, video_type):
    hour = AppointmentTypeFactory(duration_minutes=50)  # 10:00-10:50 plus buffer: overlaps 10:30
    patients = [VerifiedPatientFactory() for _ in range(CONTENDERS)]
    jobs = [
        lambda p=p, i=i: book(
            patient=p,
            provider=schedule,
            appointment_type=hour if i % 2 else video_type,
            starts_at=paris(25, 10) if i % 2 else paris(25, 10, 30),
        )
        for i, p in enumerate(patients)
    ]
    results = run_together(jobs)
    assert sum(isinstance(result, Appointment) for result in results) == 1
    assert all(isinstance(r, Appointment | SlotTakenError) for r in results), results
    assert Appointment.objects.filter(provider=schedule).count() == 1


def test_a_booking_racing_an_expiring_hold_never_gives_the_time_to_both(frozen_monday, video_type):
    """The race the calendar lock closes: the sweeper passes an expired hold to the next
    patient while a third books the same time; each checks the other's table."""
    rounds = 4
    outcomes = []
    for _ in range(rounds):
        provider = DoctorFactory()
        working_week(provider)
        holder, first, next_in_line, booker = (VerifiedPatientFactory() for _ in range(4))
        appointment = book(patient=holder, provider=provider, appointment_type=video_type, starts_at=paris(25, 10))
        for patient in (first, next_in_line):
            waitlist_join(
                actor=patient,
                patient=patient,
                provider=provider,
                appointment_type=video_type,
                earliest_date=dt.date(2026, 11, 23),
                latest_date=dt.date(2026, 11, 30),
            )
        appointment_cancel(actor=holder, appointment=appointment)
        assert WaitlistOffer.objects.filter(entry__patient=first, status="pending").exists()
        frozen_monday.shift(dt.timedelta(minutes=121))  # the first patient's hold has run out

        swept, booked = run_together(
            [
                waitlist_offers_expire,
                lambda p=booker, d=provider: book(
                    patient=p, provider=d, appointment_type=video_type, starts_at=paris(25, 10)
                ),
            ]
        )
        assert not isinstance(swept, Exception), swept
        assert isinstance(booked, Appointment | SlotTakenError), booked
        held = WaitlistOffer.objects.filter(
            provider=provider, status="pending", starts_at=paris(25, 10), expires_at__gt=paris(23, 8)
        )
        taken = Appointment.objects.filter(
            provider=provider, starts_at=paris(25, 10), status__in=Appointment.ACTIVE_STATUSES
        )
        # Exactly one of them has the time: the booker, or the next patient in line.
        assert held.count() + taken.count() == 1
        if isinstance(booked, Appointment):
            assert list(taken) == [booked] and not held.exists()
            outcomes.append("booked")
        else:
            assert held.get().entry.patient == next_in_line
            outcomes.append("held")
    assert len(outcomes) == rounds


def test_a_patient_joining_the_waitlist_twice_at_once_gets_one_entry(frozen_monday, schedule, video_type):
    patient = VerifiedPatientFactory()

    def join():
        return waitlist_join(
            actor=patient,
            patient=patient,
            provider=schedule,
            appointment_type=video_type,
            earliest_date=dt.date(2026, 11, 23),
            latest_date=dt.date(2026, 11, 30),
        )

    results = run_together([join for _ in range(4)])
    assert all(isinstance(result, WaitlistEntry) for result in results), results
    assert {result.pk for result in results} == set(
        WaitlistEntry.objects.filter(patient=patient).values_list("pk", flat=True)
    )
    assert WaitlistEntry.objects.filter(patient=patient).count() == 1
