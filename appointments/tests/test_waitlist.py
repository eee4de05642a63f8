"""The waitlist end to end: a freed time is held for the first in line, then passed on."""

import datetime as dt

import pytest

from accounts.tests.factories import VerifiedPatientFactory
from appointments.errors import SlotTakenError
from appointments.models import Appointment, ClinicSettings, WaitlistEntry, WaitlistOffer
from appointments.selectors import slots_between
from appointments.services import (
    appointment_cancel,
    appointment_reschedule,
    waitlist_join,
    waitlist_leave,
    waitlist_offer_accept,
    waitlist_offer_decline,
    waitlist_offers_expire,
)
from appointments.tests.conftest import book, paris
from audit.models import AuditEvent
from messaging.models import Notification
from telemed.errors import ApplicationError

pytestmark = pytest.mark.django_db

Entry = WaitlistEntry.Status
Offer = WaitlistOffer.Status
WEDNESDAY_10 = paris(25, 10)


def join(patient, provider, kind, *, first=dt.date(2026, 11, 23), last=dt.date(2026, 12, 6), actor=None):
    return waitlist_join(
        actor=actor or patient,
        patient=patient,
        provider=provider,
        appointment_type=kind,
        earliest_date=first,
        latest_date=last,
    )


def refused(call, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call(**kwargs)
    return caught.value


def pending_offer(patient):
    return WaitlistOffer.objects.filter(entry__patient=patient, status=Offer.PENDING).first()


def offered_to_others(provider, kind):
    found = slots_between(provider_ids=[provider.pk], appointment_type=kind, start=paris(25, 0), end=paris(26, 0))
    return WEDNESDAY_10 in [slot.starts_at for slot in found]


@pytest.fixture
def alice(db):
    return VerifiedPatientFactory(full_name="Alice First")


@pytest.fixture
def bob(db):
    return VerifiedPatientFactory(full_name="Bob Second")


@pytest.fixture
def carol(db):
    return VerifiedPatientFactory(full_name="Carol Third")


@pytest.fixture
def queue(frozen_monday, schedule, video_type, patient, alice, bob):
    """The doctor's Wednesday 10:00 is booked by `patient`; Alice joined the waitlist, then Bob."""
    appointment = book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=WEDNESDAY_10)
    entries = (join(alice, schedule, video_type), join(bob, schedule, video_type))
    return appointment, entries


def test_a_cancelled_time_is_held_for_the_first_in_line_and_hidden_from_everyone_else(
    queue, schedule, video_type, patient, alice, bob, carol
):
    appointment, (alice_entry, _bob_entry) = queue
    appointment_cancel(actor=patient, appointment=appointment)
    offer = pending_offer(alice)
    assert offer is not None
    assert (offer.starts_at, offer.provider) == (WEDNESDAY_10, schedule)
    assert pending_offer(bob) is None
    alice_entry.refresh_from_db()
    assert alice_entry.status == Entry.OFFERED
    assert Notification.objects.filter(recipient=alice, kind="waitlist.offer").count() == 2  # email + in-app
    assert not Notification.objects.filter(recipient=bob, kind="waitlist.offer").exists()
    assert not offered_to_others(schedule, video_type)
    with pytest.raises(SlotTakenError):
        book(patient=carol, provider=schedule, appointment_type=video_type, starts_at=WEDNESDAY_10)
    assert not Appointment.objects.filter(patient=carol).exists()


def test_the_hold_lasts_the_clinics_hold_time(queue, patient, alice, frozen_monday):
    ClinicSettings.objects.create(pk=1, waitlist_offer_hold_minutes=30)
    appointment, _entries = queue
    appointment_cancel(actor=patient, appointment=appointment)
    offer = pending_offer(alice)
    assert dt.timedelta(minutes=29) < offer.expires_at - offer.created_at <= dt.timedelta(minutes=30)


def test_a_declined_offer_goes_to_the_next_in_line_for_the_same_time(queue, patient, alice, bob):
    appointment, (alice_entry, _bob_entry) = queue
    appointment_cancel(actor=patient, appointment=appointment)
    declined = waitlist_offer_decline(actor=alice, offer=pending_offer(alice))
    assert declined.status == Offer.DECLINED
    bobs = pending_offer(bob)
    assert bobs is not None and bobs.starts_at == WEDNESDAY_10
    assert Notification.objects.filter(recipient=bob, kind="waitlist.offer").exists()
    # Alice keeps waiting for another time, and is not offered the one she declined again.
    alice_entry.refresh_from_db()
    assert alice_entry.status == Entry.WAITING
    assert pending_offer(alice) is None


def test_an_unanswered_offer_expires_after_the_hold_and_passes_on(queue, patient, alice, bob, frozen_monday):
    appointment, _entries = queue
    appointment_cancel(actor=patient, appointment=appointment)
    frozen_monday.shift(dt.timedelta(minutes=119))
    assert waitlist_offers_expire() == 0
    assert pending_offer(alice) is not None
    frozen_monday.shift(dt.timedelta(minutes=2))
    assert waitlist_offers_expire() == 1
    assert WaitlistOffer.objects.get(entry__patient=alice).status == Offer.EXPIRED
    assert pending_offer(bob).starts_at == WEDNESDAY_10
    assert AuditEvent.objects.filter(action="appointments.waitlist_offer.expired", patient=alice).count() == 1


def test_when_the_last_hold_expires_the_time_is_offered_to_everyone_again(
    queue, schedule, video_type, patient, alice, bob, frozen_monday
):
    appointment, _entries = queue
    appointment_cancel(actor=patient, appointment=appointment)
    frozen_monday.shift(dt.timedelta(minutes=121))
    waitlist_offers_expire()  # Alice's hold -> Bob
    assert not offered_to_others(schedule, video_type)
    frozen_monday.shift(dt.timedelta(minutes=121))
    waitlist_offers_expire()  # Bob's hold -> nobody left
    assert not WaitlistOffer.objects.filter(status=Offer.PENDING).exists()
    assert offered_to_others(schedule, video_type)


def test_running_the_expiry_twice_changes_nothing_the_second_time(queue, patient, alice, bob, frozen_monday):
    appointment, _entries = queue
    appointment_cancel(actor=patient, appointment=appointment)
    frozen_monday.shift(dt.timedelta(minutes=121))
    assert waitlist_offers_expire() == 1
    snapshot = sorted(WaitlistOffer.objects.values_list("pk", "status", "expires_at"))
    entries = sorted(WaitlistEntry.objects.values_list("pk", "status"))
    notices = Notification.objects.count()
    audit = AuditEvent.objects.count()
    assert waitlist_offers_expire() == 0
    assert sorted(WaitlistOffer.objects.values_list("pk", "status", "expires_at")) == snapshot
    assert sorted(WaitlistEntry.objects.values_list("pk", "status")) == entries
    assert (Notification.objects.count(), AuditEvent.objects.count()) == (notices, audit)


def test_accepting_the_offer_books_the_held_time(queue, schedule, video_type, patient, alice, bob):
    appointment, (alice_entry, bob_entry) = queue
    appointment_cancel(actor=patient, appointment=appointment)
    offer = pending_offer(alice)
    booked = waitlist_offer_accept(actor=alice, offer=offer, reason="Earlier, please")
    assert (booked.patient, booked.starts_at, booked.status) == (alice, WEDNESDAY_10, Appointment.Status.CONFIRMED)
    offer.refresh_from_db()
    alice_entry.refresh_from_db()
    bob_entry.refresh_from_db()
    assert (offer.status, offer.appointment) == (Offer.ACCEPTED, booked)
    assert alice_entry.status == Entry.BOOKED
    assert bob_entry.status == Entry.WAITING
    assert not offered_to_others(schedule, video_type)


def test_another_patient_cannot_accept_someone_elses_offer(queue, patient, alice, bob):
    appointment, _entries = queue
    appointment_cancel(actor=patient, appointment=appointment)
    error = refused(waitlist_offer_accept, actor=bob, offer=pending_offer(alice))
    assert (error.status_code, error.code) == (403, "appointments_forbidden")
    assert pending_offer(alice) is not None


@pytest.mark.parametrize("swept", [False, True], ids=["before-the-sweep", "after-the-sweep"])
def test_an_expired_offer_cannot_be_accepted(queue, patient, alice, frozen_monday, swept):
    appointment, _entries = queue
    appointment_cancel(actor=patient, appointment=appointment)
    offer = pending_offer(alice)
    frozen_monday.shift(dt.timedelta(minutes=121))
    if swept:
        waitlist_offers_expire()
    error = refused(waitlist_offer_accept, actor=alice, offer=offer)
    assert (error.status_code, error.code) == (409, "offer_expired")
    assert not Appointment.objects.filter(patient=alice).exists()


def test_a_declined_offer_cannot_be_accepted_afterwards(queue, patient, alice):
    appointment, _entries = queue
    appointment_cancel(actor=patient, appointment=appointment)
    offer = pending_offer(alice)
    waitlist_offer_decline(actor=alice, offer=offer)
    error = refused(waitlist_offer_accept, actor=alice, offer=offer)
    assert (error.status_code, error.code) == (409, "offer_not_pending")


def test_joining_twice_keeps_one_entry_and_its_place(frozen_monday, schedule, video_type, alice, bob):
    first = join(alice, schedule, video_type)
    join(bob, schedule, video_type)
    again = join(alice, schedule, video_type, last=dt.date(2026, 12, 20))
    assert again.pk == first.pk
    assert WaitlistEntry.objects.filter(patient=alice).count() == 1
    assert list(WaitlistEntry.objects.order_by("created_at", "pk").values_list("patient", flat=True)) == [
        alice.pk,
        bob.pk,
    ]
    again.refresh_from_db()
    assert again.latest_date == dt.date(2026, 12, 20)


def test_a_proxy_joins_for_the_patient_but_staff_and_strangers_cannot(
    frozen_monday, schedule, video_type, patient, proxy, outsider_patient, nurse, verified
):
    entry = join(patient, schedule, video_type, actor=proxy)
    assert (entry.patient, entry.joined_by) == (patient, proxy)
    for stranger in (outsider_patient, verified(nurse)):
        error = refused(
            waitlist_join,
            actor=stranger,
            patient=patient,
            provider=schedule,
            appointment_type=video_type,
            earliest_date=dt.date(2026, 11, 23),
            latest_date=dt.date(2026, 11, 30),
        )
        assert (error.status_code, error.code) == (403, "appointments_forbidden")


def test_leaving_withdraws_a_pending_offer_and_passes_it_on(queue, patient, alice, bob):
    appointment, (alice_entry, _bob_entry) = queue
    appointment_cancel(actor=patient, appointment=appointment)
    offer = pending_offer(alice)
    left = waitlist_leave(actor=alice, entry=alice_entry)
    assert left.status == Entry.LEFT
    offer.refresh_from_db()
    assert offer.status == Offer.WITHDRAWN
    assert pending_offer(bob).starts_at == WEDNESDAY_10


def test_an_offer_is_made_only_inside_the_dates_the_patient_asked_for(
    frozen_monday, schedule, video_type, patient, alice, bob
):
    appointment = book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=WEDNESDAY_10)
    join(alice, schedule, video_type, first=dt.date(2026, 11, 26), last=dt.date(2026, 11, 30))
    join(bob, schedule, video_type, first=dt.date(2026, 11, 25), last=dt.date(2026, 11, 25))
    appointment_cancel(actor=patient, appointment=appointment)
    assert pending_offer(alice) is None
    assert pending_offer(bob).starts_at == WEDNESDAY_10


def test_a_rescheduled_appointments_old_time_goes_to_the_waitlist(queue, patient, alice):
    appointment, _entries = queue
    appointment_reschedule(actor=patient, appointment=appointment, starts_at=paris(26, 11))
    assert pending_offer(alice).starts_at == WEDNESDAY_10


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (dt.date(2026, 11, 22), dt.date(2026, 11, 30)),  # starts yesterday
        (dt.date(2026, 11, 30), dt.date(2026, 11, 29)),  # ends before it starts
        (dt.date(2026, 11, 23), dt.date(2027, 1, 23)),  # beyond the 60-day horizon
    ],
    ids=["past", "reversed", "beyond-horizon"],
)
def test_waitlist_dates_must_run_forward_from_today_within_the_horizon(
    frozen_monday, schedule, video_type, alice, first, last
):
    error = refused(
        waitlist_join,
        actor=alice,
        patient=alice,
        provider=schedule,
        appointment_type=video_type,
        earliest_date=first,
        latest_date=last,
    )
    assert (error.status_code, error.code) == (400, "waitlist_dates_invalid")
    assert not WaitlistEntry.objects.exists()


def test_an_entry_whose_dates_have_passed_is_closed_by_the_sweep(frozen_monday, schedule, video_type, alice, bob):
    short = join(alice, schedule, video_type, last=dt.date(2026, 11, 24))
    longer = join(bob, schedule, video_type, last=dt.date(2026, 12, 6))
    frozen_monday.move_to(paris(26, 9))
    waitlist_offers_expire()
    short.refresh_from_db()
    longer.refresh_from_db()
    assert (short.status, longer.status) == (Entry.CLOSED, Entry.WAITING)


def test_a_hold_on_a_time_soon_to_come_ends_when_the_time_stops_being_bookable(
    frozen_monday, schedule, video_type, patient, alice, nurse, verified
):
    appointment = book(patient=patient, provider=schedule, appointment_type=video_type, starts_at=paris(23, 11))
    join(alice, schedule, video_type)
    frozen_monday.move_to(paris(23, 9, 30))
    appointment_cancel(actor=verified(nurse), appointment=appointment)
    offer = pending_offer(alice)
    # 11:00 needs an hour's notice: the hold ends at 10:00, not at the two-hour mark or at 11:00.
    assert offer.expires_at == paris(23, 10)
    frozen_monday.move_to(paris(23, 9, 59))
    booked = waitlist_offer_accept(actor=alice, offer=offer)
    assert booked.starts_at == paris(23, 11)
