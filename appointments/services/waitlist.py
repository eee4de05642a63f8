"""The waitlist: when a time frees up, the first patient waiting for it gets it held for them.

An entry waits for one provider and type between two dates (the provider's local dates).
When an appointment is cancelled or moved, `waitlist_offer_freed` runs in that same
transaction, under the provider's calendar lock: for each waiting entry in the order they
joined, it looks for a free slot of the entry's type inside the freed time and, if there is
one, holds it for them (a `WaitlistOffer`, pending until the clinic's hold time) and puts the
offer notice in the outbox. Accepting books it; declining, leaving or letting it expire
passes the slot to the next entry (never back to someone who already had it). Expiry is a
row with a due time: the beat task `appointments.tasks.waitlist_offers_expire` picks due
offers and expires each in a transaction of its own, under the provider's calendar lock.

Lock order, in every transaction here and in booking: the provider's calendar lock first,
then rows (appointment, offer, entries), then the audit chain (audit_record). A transaction
never waits for a second provider's lock.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role, User
from appointments import events, groups
from appointments.errors import AppointmentsErrorCode
from appointments.models import Appointment, AppointmentType, ClinicSettings, WaitlistEntry, WaitlistOffer
from appointments.selectors import may_book_for, provider_zones, slots_between
from appointments.services import notify
from appointments.services.locks import provider_calendar_lock
from appointments.services.rules import parties_validate
from audit.services import audit_record, audit_record_denied
from telemed.errors import ApplicationError
from telemed.events import send_on_commit

Entry = WaitlistEntry.Status
Offer = WaitlistOffer.Status


def _refuse(actor: User, patient: User, action: str, target: object) -> ApplicationError:
    audit_record_denied(
        actor=actor,
        action=action,
        target_type="appointments.waitlistentry",
        target_id=str(target)[:64],
        patient=patient,
        reason="not the patient or their proxy",
    )
    return ApplicationError(
        "Only the patient or their proxy can do this.", AppointmentsErrorCode.FORBIDDEN, status_code=403
    )


def _offer_event(offer: WaitlistOffer) -> None:
    send_on_commit(groups.patient(offer.entry.patient_id), events.waitlist_offer_changed(offer))


def waitlist_join(
    *,
    actor: User,
    patient: User,
    provider: User,
    appointment_type: AppointmentType,
    earliest_date: dt.date,
    latest_date: dt.date,
) -> WaitlistEntry:
    """Put `patient` on `provider`'s waitlist for the type between two dates (inclusive, in the
    provider's time zone). Joining again with an open entry updates its dates and keeps its
    place. The patient or a proxy with `appointments.manage`. Audited."""
    action = "appointments.waitlist.join"
    if actor.role != Role.PATIENT or not may_book_for(actor, patient):
        raise _refuse(actor, patient, action, patient.pk)
    parties_validate(provider=provider, appointment_type=appointment_type)
    today = timezone.now().astimezone(provider_zones([provider.pk])[provider.pk]).date()
    horizon = today + dt.timedelta(days=appointment_type.booking_horizon_days)
    if earliest_date < today or latest_date < earliest_date or latest_date > horizon:
        raise ApplicationError(
            f"Choose dates from today to {horizon:%d %B %Y}, the first no later than the last.",
            AppointmentsErrorCode.WAITLIST_DATES,
        )
    return _waitlist_join(
        actor=actor,
        patient=patient,
        provider=provider,
        appointment_type=appointment_type,
        earliest_date=earliest_date,
        latest_date=latest_date,
    )


@transaction.atomic(durable=True)
def _waitlist_join(
    *,
    actor: User,
    patient: User,
    provider: User,
    appointment_type: AppointmentType,
    earliest_date: dt.date,
    latest_date: dt.date,
) -> WaitlistEntry:
    # The provider's lock before the entry's row lock, as every writer of the waitlist does:
    # a cancel passing a freed slot on (lock, audit chain, then the provider's entries) would
    # otherwise deadlock with a re-join holding an entry and waiting for the audit chain.
    provider_calendar_lock(provider.pk)
    now = timezone.now()
    open_entries = WaitlistEntry.objects.select_for_update().filter(
        patient=patient, provider=provider, appointment_type=appointment_type, status__in=[Entry.WAITING, Entry.OFFERED]
    )
    entry = open_entries.first()
    if entry is None:
        try:
            with transaction.atomic():
                entry = WaitlistEntry.objects.create(
                    patient=patient,
                    provider=provider,
                    appointment_type=appointment_type,
                    earliest_date=earliest_date,
                    latest_date=latest_date,
                    joined_by=actor,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError:
            # A concurrent join of the same patient won (the partial unique constraint).
            entry = open_entries.get()
    else:
        entry.earliest_date, entry.latest_date, entry.updated_at = earliest_date, latest_date, now
        entry.save(update_fields=["earliest_date", "latest_date", "updated_at"])
    audit_record(
        actor=actor,
        action="appointments.waitlist.join",
        target_type="appointments.waitlistentry",
        target_id=entry.pk,
        patient=patient,
        reason=f"provider {provider.pk}, {earliest_date}..{latest_date}",
    )
    return entry


def waitlist_leave(*, actor: User, entry: WaitlistEntry) -> WaitlistEntry:
    """Leave the waitlist; a pending offer is withdrawn and passed to the next. Audited."""
    if not may_book_for(actor, entry.patient) or actor.role != Role.PATIENT:
        raise _refuse(actor, entry.patient, "appointments.waitlist.leave", entry.pk)
    return _waitlist_leave(actor=actor, entry=entry)


@transaction.atomic(durable=True)
def _waitlist_leave(*, actor: User, entry: WaitlistEntry) -> WaitlistEntry:
    provider_calendar_lock(entry.provider_id)
    entry = WaitlistEntry.objects.select_for_update().select_related("patient").get(pk=entry.pk)
    if entry.status not in (Entry.WAITING, Entry.OFFERED):
        return entry
    entry.status = Entry.LEFT
    entry.updated_at = timezone.now()
    entry.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor,
        action="appointments.waitlist.leave",
        target_type="appointments.waitlistentry",
        target_id=entry.pk,
        patient=entry.patient,
    )
    for offer in WaitlistOffer.objects.select_for_update().filter(entry=entry, status=Offer.PENDING):
        _offer_end(offer, Offer.WITHDRAWN)
    return entry


def _local_date(moment: dt.datetime, provider_id: int) -> dt.date:
    return moment.astimezone(provider_zones([provider_id])[provider_id]).date()


def waitlist_offer_freed(*, provider_id: int, start: dt.datetime, end: dt.datetime) -> list[WaitlistOffer]:
    """Offer time freed in [start, end) to the waitlist, first come first served. Runs inside
    the caller's transaction, which must hold the provider's calendar lock. Returns the new
    offers."""
    now = timezone.now()
    hold = dt.timedelta(minutes=ClinicSettings.current().waitlist_offer_hold_minutes)
    offers: list[WaitlistOffer] = []
    entries = (
        WaitlistEntry.objects.select_for_update()
        .select_related("patient", "appointment_type", "provider")
        .filter(provider_id=provider_id, status=Entry.WAITING)
        .order_by("created_at", "pk")
    )
    for entry in entries:
        kind = entry.appointment_type
        if not kind.active:
            continue
        already_had = set(
            WaitlistOffer.objects.filter(entry=entry, starts_at__gte=start, starts_at__lt=end).values_list(
                "starts_at", flat=True
            )
        )
        for slot in slots_between(provider_ids=[provider_id], appointment_type=kind, start=start, end=end, now=now):
            if slot.starts_at in already_had or slot.ends_at > end:
                continue
            if not entry.earliest_date <= _local_date(slot.starts_at, provider_id) <= entry.latest_date:
                continue
            offer = WaitlistOffer.objects.create(
                entry=entry,
                provider_id=provider_id,
                appointment_type=kind,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                blocked_from=slot.starts_at - kind.buffer_before,
                blocked_until=slot.ends_at + kind.buffer_after,
                # Never held past the last moment the time can still be booked (its minimum
                # notice): accepting must not meet "this time is not offered".
                expires_at=min(now + hold, slot.starts_at - dt.timedelta(minutes=kind.minimum_notice_minutes)),
                created_at=now,
            )
            entry.status = Entry.OFFERED
            entry.updated_at = now
            entry.save(update_fields=["status", "updated_at"])
            audit_record(
                actor=None,
                action="appointments.waitlist.offer",
                target_type="appointments.waitlistoffer",
                target_id=offer.pk,
                patient=entry.patient,
                reason=f"{slot.starts_at.isoformat()} held until {offer.expires_at.isoformat()}",
            )
            notify.waitlist_offer_notify(offer)
            _offer_event(offer)
            offers.append(offer)
            break
    return offers


def _offer_end(offer: WaitlistOffer, status: str) -> None:
    """End a pending offer (declined, expired, withdrawn): the entry waits again (or closes
    when its dates have passed) and the slot goes to the next in line. Caller holds the
    provider's calendar lock and the offer's row lock."""
    now = timezone.now()
    offer.status = status
    offer.responded_at = now
    offer.save(update_fields=["status", "responded_at"])
    entry = offer.entry
    if entry.status == Entry.OFFERED:
        dates_passed = entry.latest_date < _local_date(now, entry.provider_id)
        entry.status = Entry.CLOSED if dates_passed else Entry.WAITING
        entry.updated_at = now
        entry.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=None if status == Offer.EXPIRED else entry.patient,
        action=f"appointments.waitlist_offer.{status}",
        target_type="appointments.waitlistoffer",
        target_id=offer.pk,
        patient=entry.patient,
    )
    _offer_event(offer)
    if offer.starts_at > now:
        waitlist_offer_freed(provider_id=offer.provider_id, start=offer.blocked_from, end=offer.blocked_until)


def offer_take_for_booking(*, offer: WaitlistOffer) -> None:
    """Inside a booking transaction (provider lock held): mark the offer accepted if it is
    still pending and unexpired, else refuse."""
    locked = WaitlistOffer.objects.select_for_update().select_related("entry").get(pk=offer.pk)
    now = timezone.now()
    # Expired is expired whether or not the sweeper has marked it yet: the patient hears the
    # same answer (offer_expired) either way.
    if locked.status == Offer.EXPIRED or (locked.status == Offer.PENDING and locked.expires_at <= now):
        raise ApplicationError(
            "This offer has expired and was passed on to the next patient.",
            AppointmentsErrorCode.OFFER_EXPIRED,
            status_code=409,
        )
    if locked.status != Offer.PENDING:
        raise ApplicationError(
            "This offer is no longer open.", AppointmentsErrorCode.OFFER_NOT_PENDING, status_code=409
        )
    locked.status = Offer.ACCEPTED
    locked.responded_at = now
    locked.save(update_fields=["status", "responded_at"])
    locked.entry.status = Entry.BOOKED
    locked.entry.updated_at = now
    locked.entry.save(update_fields=["status", "updated_at"])
    offer.status, offer.responded_at = locked.status, locked.responded_at


def waitlist_offer_accept(*, actor: User, offer: WaitlistOffer, reason: str = "") -> Appointment:
    """Book the held slot for the offer's patient. The patient or their proxy; 409 when the
    offer is no longer pending or has expired."""
    from appointments.services.booking import appointment_book

    patient = offer.entry.patient
    if actor.role != Role.PATIENT or not may_book_for(actor, patient):
        raise _refuse(actor, patient, "appointments.waitlist_offer.accept", offer.pk)
    appointment = appointment_book(
        actor=actor,
        patient=patient,
        provider=offer.provider,
        appointment_type=offer.appointment_type,
        starts_at=offer.starts_at,
        reason=reason,
        offer=offer,
    )
    return appointment


def waitlist_offer_decline(*, actor: User, offer: WaitlistOffer) -> WaitlistOffer:
    """Decline: the entry keeps waiting (for another time) and the slot goes to the next."""
    patient = offer.entry.patient
    if actor.role != Role.PATIENT or not may_book_for(actor, patient):
        raise _refuse(actor, patient, "appointments.waitlist_offer.decline", offer.pk)
    return _waitlist_offer_decline(offer=offer)


@transaction.atomic(durable=True)
def _waitlist_offer_decline(*, offer: WaitlistOffer) -> WaitlistOffer:
    provider_calendar_lock(offer.provider_id)
    locked = WaitlistOffer.objects.select_for_update().select_related("entry__patient").get(pk=offer.pk)
    if locked.status != Offer.PENDING:
        raise ApplicationError(
            "This offer is no longer open.", AppointmentsErrorCode.OFFER_NOT_PENDING, status_code=409
        )
    _offer_end(locked, Offer.DECLINED)
    return locked


EXPIRY_BATCH = 50


def waitlist_offers_expire(*, now: dt.datetime | None = None) -> int:
    """Expire pending offers past their hold and pass each slot on; close waiting entries whose
    dates have passed. Returns how many offers expired.

    Safe to run concurrently and twice: each due offer is expired in a transaction of its own
    that takes the provider's calendar lock, then re-reads the offer under its row lock and
    leaves it alone unless it is still pending and due. One offer per transaction on purpose:
    a batch holding one provider's lock and the audit chain while waiting for the next
    provider's lock deadlocks with a booking that holds that lock and waits for the audit
    chain (found by appointments/tests/test_race.py on PostgreSQL).
    """
    now = now or timezone.now()
    due = list(
        WaitlistOffer.objects.filter(status=Offer.PENDING, expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("pk", "provider_id")[:EXPIRY_BATCH]
    )
    expired = sum(_offer_expire(offer_id=pk, provider_id=provider_id, now=now) for pk, provider_id in due)
    _entries_close(now=now)
    return expired


@transaction.atomic(durable=True)
def _offer_expire(*, offer_id: int, provider_id: int, now: dt.datetime) -> bool:
    # Lock order as in a booking that accepts an offer: the provider, then the offer's row.
    provider_calendar_lock(provider_id)
    offer = (
        WaitlistOffer.objects.select_for_update()
        .select_related("entry__patient")
        .filter(pk=offer_id, status=Offer.PENDING, expires_at__lte=now)
        .first()
    )
    if offer is None:
        # Accepted, declined or expired by a concurrent sweeper in the meantime.
        return False
    _offer_end(offer, Offer.EXPIRED)
    return True


@transaction.atomic(durable=True)
def _entries_close(*, now: dt.datetime) -> None:
    # SKIP LOCKED: an entry a booking or cancel is working on right now is closed by the next
    # sweep instead of making this multi-row update wait (and risk a lock-order deadlock).
    stale = WaitlistEntry.objects.select_for_update(skip_locked=True).filter(
        status=Entry.WAITING, latest_date__lt=(now - dt.timedelta(days=1)).date()
    )
    WaitlistEntry.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).update(
        status=Entry.CLOSED, updated_at=now
    )
