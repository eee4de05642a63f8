"""Reads of the appointments app: free slots, and appointments reached through the policy.

Who sees an appointment (`appointment_access`):

- the patient (email verified) and a proxy holding the `appointments.manage` scope: theirs,
  with the reason for the visit;
- the appointment's provider (OTP-verified): with the reason;
- other staff (doctor, nurse, admin; OTP-verified): the schedule — who, when, what type,
  status — to run the front desk; the reason only if the accounts policy gives them the chart;
- nobody else (Http404, audited as denied).
"""

from __future__ import annotations

import bisect
import datetime as dt
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import STAFF_ROLES, ProviderProfile, Role, Scope, User
from accounts.policy import VIA_PROXY, VIA_SELF, chart_access, otp_verified
from appointments.models import (
    Appointment,
    AppointmentType,
    AvailabilityException,
    CalendarFeed,
    WaitlistEntry,
    WaitlistOffer,
    WeeklyAvailability,
)
from audit.services import audit_record, audit_record_denied
from telemed.ids import positive_id
from telemed.timezones import zone_or_default

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

UTC = dt.UTC


# --- Time zones -----------------------------------------------------------------------------


def provider_zones(provider_ids: Iterable[int]) -> dict[int, zoneinfo.ZoneInfo]:
    """Each provider's time zone (their profile's, else the clinic's), in one query."""
    ids = list(provider_ids)
    named = dict(ProviderProfile.objects.filter(user_id__in=ids).values_list("user_id", "time_zone"))
    return {pk: zone_or_default(named.get(pk)) for pk in ids}


# --- Slots ------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Slot:
    starts_at: dt.datetime
    provider_id: int
    appointment_type_id: int
    ends_at: dt.datetime

    def local(self, zone: zoneinfo.ZoneInfo) -> dt.datetime:
        return self.starts_at.astimezone(zone)


def providers_bookable() -> QuerySet[User]:
    """Doctors who take bookings: active, with a profile that accepts patients."""
    return (
        User.objects.filter(role=Role.DOCTOR, is_active=True, provider_profile__accepting_new_patients=True)
        .select_related("provider_profile")
        .order_by("full_name", "pk")
    )


def provider_get_bookable(provider_id: object) -> User:
    try:
        pk = int(str(provider_id))
    except (TypeError, ValueError):
        raise Http404("No such provider.") from None
    provider = providers_bookable().filter(pk=pk).first()
    if provider is None:
        raise Http404("No such provider.")
    return provider


def appointment_types_active() -> QuerySet[AppointmentType]:
    return AppointmentType.objects.filter(active=True)


def appointment_type_get_active(type_id: object) -> AppointmentType:
    try:
        pk = int(str(type_id))
    except (TypeError, ValueError):
        raise Http404("No such appointment type.") from None
    found = appointment_types_active().filter(pk=pk).first()
    if found is None:
        raise Http404("No such appointment type.")
    return found


def _merge(intervals: list[tuple[dt.datetime, dt.datetime]]) -> tuple[list[dt.datetime], list[dt.datetime]]:
    """Sorted, merged intervals as two parallel lists of starts and ends (for bisect)."""
    intervals.sort()
    starts: list[dt.datetime] = []
    ends: list[dt.datetime] = []
    for start, end in intervals:
        if ends and start <= ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def _overlaps(busy: tuple[list[dt.datetime], list[dt.datetime]], start: dt.datetime, end: dt.datetime) -> bool:
    starts, ends = busy
    # The last busy interval that starts before `end` is the only one that can overlap.
    index = bisect.bisect_left(starts, end) - 1
    return index >= 0 and ends[index] > start


def _windows(
    weekly: Sequence[WeeklyAvailability],
    extra: Sequence[AvailabilityException],
    type_id: int,
    zone: zoneinfo.ZoneInfo,
    first_day: dt.date,
    last_day: dt.date,
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The provider's working windows for the type between two local dates, as UTC ranges.

    Wall-clock times are combined with the date in the provider's zone, so 09:00 stays 09:00
    local across a DST change (the UTC instant moves instead).
    """
    by_weekday: dict[int, list[WeeklyAvailability]] = {}
    for window in weekly:
        type_ids = window.allowed_type_ids  # set by _availability()
        if type_ids and type_id not in type_ids:
            continue
        by_weekday.setdefault(window.weekday, []).append(window)
    result = []
    day = first_day
    while day <= last_day:
        for window in by_weekday.get(day.weekday(), ()):
            start = dt.datetime.combine(day, window.start_time, tzinfo=zone).astimezone(UTC)
            end = dt.datetime.combine(day, window.end_time, tzinfo=zone).astimezone(UTC)
            if end > start:
                result.append((start, end))
        day += dt.timedelta(days=1)
    result.extend((item.starts_at, item.ends_at) for item in extra)
    starts, ends = _merge(result)
    return list(zip(starts, ends, strict=True))


@dataclass
class _ProviderDay:
    weekly: list[WeeklyAvailability]
    extra: list[AvailabilityException]
    time_off: list[tuple[dt.datetime, dt.datetime]]
    busy: list[tuple[dt.datetime, dt.datetime]]


def _schedule_data(
    provider_ids: list[int],
    start: dt.datetime,
    end: dt.datetime,
    *,
    ignore_appointment_id: int | None,
    ignore_offer_id: int | None,
    include_busy: bool = True,
) -> dict[int, _ProviderDay]:
    """Everything the slot computation needs, in five queries whatever the range."""
    data = {pk: _ProviderDay([], [], [], []) for pk in provider_ids}
    weekly = WeeklyAvailability.objects.filter(provider_id__in=provider_ids).prefetch_related("appointment_types")
    for window in weekly:
        window.allowed_type_ids = {t.pk for t in window.appointment_types.all()}
        data[window.provider_id].weekly.append(window)
    exceptions = AvailabilityException.objects.filter(
        provider_id__in=provider_ids, starts_at__lt=end, ends_at__gt=start
    ).only("provider_id", "starts_at", "ends_at", "kind")
    for item in exceptions:
        if item.kind == AvailabilityException.Kind.EXTRA_HOURS:
            data[item.provider_id].extra.append(item)
        else:
            data[item.provider_id].time_off.append((item.starts_at, item.ends_at))
    if include_busy:
        taken = Appointment.objects.filter(
            provider_id__in=provider_ids,
            status__in=Appointment.ACTIVE_STATUSES,
            blocked_from__lt=end,
            blocked_until__gt=start,
        )
        if ignore_appointment_id is not None:
            taken = taken.exclude(pk=ignore_appointment_id)
        for provider_id, blocked_from, blocked_until in taken.values_list(
            "provider_id", "blocked_from", "blocked_until"
        ):
            data[provider_id].busy.append((blocked_from, blocked_until))
        # A freed slot held for a waitlisted patient is taken for everyone else.
        held = WaitlistOffer.objects.filter(
            provider_id__in=provider_ids,
            status=WaitlistOffer.Status.PENDING,
            expires_at__gt=timezone.now(),
            blocked_from__lt=end,
            blocked_until__gt=start,
        )
        if ignore_offer_id is not None:
            held = held.exclude(pk=ignore_offer_id)
        for provider_id, blocked_from, blocked_until in held.values_list(
            "provider_id", "blocked_from", "blocked_until"
        ):
            data[provider_id].busy.append((blocked_from, blocked_until))
    return data


def slots_between(
    *,
    provider_ids: Sequence[int],
    appointment_type: AppointmentType,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime | None = None,
    ignore_appointment_id: int | None = None,
    ignore_offer_id: int | None = None,
    include_busy: bool = True,
) -> list[Slot]:
    """Free slots of `appointment_type` with the given providers that start in [start, end).

    A slot is a start on the provider's grid (each working window is cut into steps of the
    type's duration plus its buffers) such that the appointment lies inside a working window
    (weekly hours or extra hours), its blocked range (buffers included) overlaps no time off,
    no other active appointment and no slot held for a waitlist offer, it starts at least the
    type's minimum notice from now and no later than its booking horizon. Sorted by start,
    then provider. At most six queries, however wide the range (asserted by the tests).

    `ignore_appointment_id`: the appointment being rescheduled (its own time counts as free).
    `ignore_offer_id`: the waitlist offer being accepted. `include_busy=False` answers "does
    the provider offer this time at all", regardless of bookings.
    """
    now = now or timezone.now()
    earliest = max(start, now + dt.timedelta(minutes=appointment_type.minimum_notice_minutes))
    latest = min(end, now + dt.timedelta(days=appointment_type.booking_horizon_days))
    ids = list(dict.fromkeys(int(pk) for pk in provider_ids))
    if not ids or earliest >= latest:
        return []
    # Locals: the loop below runs once per grid step of every window in the range.
    duration, before, after = appointment_type.duration, appointment_type.buffer_before, appointment_type.buffer_after
    step = duration + before + after
    # Load a day either side so windows crossing midnight (in any zone) are seen whole.
    load_from, load_until = earliest - dt.timedelta(days=1), latest + dt.timedelta(days=1)
    data = _schedule_data(
        ids,
        load_from,
        load_until,
        ignore_appointment_id=ignore_appointment_id,
        ignore_offer_id=ignore_offer_id,
        include_busy=include_busy,
    )
    zones = provider_zones(ids)
    slots: list[Slot] = []
    for provider_id in ids:
        day = data[provider_id]
        zone = zones[provider_id]
        blocked = _merge(day.time_off + day.busy)
        windows = _windows(
            day.weekly,
            day.extra,
            appointment_type.pk,
            zone,
            load_from.astimezone(zone).date(),
            load_until.astimezone(zone).date(),
        )
        type_id = appointment_type.pk
        for window_start, window_end in windows:
            if window_end <= earliest or window_start >= latest + duration:
                continue  # the day either side that was loaded only to see windows whole
            # The grid starts where the first appointment (after its leading buffer) fits.
            slot_start = window_start + before
            while slot_start + duration <= window_end:
                slot_end = slot_start + duration
                if earliest <= slot_start < latest and not _overlaps(blocked, slot_start - before, slot_end + after):
                    slots.append(Slot(slot_start, provider_id, type_id, slot_end))
                slot_start += step
    slots.sort()
    return slots


def slots_for_dates(
    *,
    provider_ids: Sequence[int],
    appointment_type: AppointmentType,
    first_day: dt.date,
    last_day: dt.date,
    zone: zoneinfo.ZoneInfo,
    now: dt.datetime | None = None,
) -> list[Slot]:
    """Free slots between two dates (inclusive) as seen in the viewer's time zone `zone`."""
    start = dt.datetime.combine(first_day, dt.time(0), tzinfo=zone).astimezone(UTC)
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), tzinfo=zone).astimezone(UTC)
    return slots_between(provider_ids=provider_ids, appointment_type=appointment_type, start=start, end=end, now=now)


# --- Access to appointments -----------------------------------------------------------------


VIEW_ACTION = "appointments.appointment.view"


@dataclass(frozen=True)
class AppointmentAccess:
    """What `user` may do with one appointment, and on what standing."""

    appointment: Appointment
    # "self", "proxy", "provider" or "staff".
    via: str
    reason_visible: bool
    label: str = ""

    @property
    def as_patient(self) -> bool:
        return self.via in (VIA_SELF, VIA_PROXY)

    @property
    def as_staff(self) -> bool:
        return self.via in ("provider", "staff")


def is_staff_verified(user: User | AnonymousUser | None) -> bool:
    """A doctor, nurse or admin whose login passed the second factor."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and getattr(user, "role", None) in STAFF_ROLES
        and otp_verified(user)
    )


def _decide(user: User | AnonymousUser | None, appointment: Appointment) -> AppointmentAccess | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.pk == appointment.provider_id:
        return AppointmentAccess(appointment, "provider", True) if is_staff_verified(user) else None
    if user.role == Role.PATIENT:
        decision = chart_access(user, appointment.patient, scope=Scope.APPOINTMENTS_MANAGE)
        if decision.allowed and decision.via in (VIA_SELF, VIA_PROXY):
            return AppointmentAccess(appointment, decision.via, True, decision.label)
        return None
    if is_staff_verified(user):
        return AppointmentAccess(appointment, "staff", chart_access(user, appointment.patient).allowed)
    return None


def access_appointment_for_user(
    user: User | AnonymousUser | None, appointment_id: object, *, action: str = VIEW_ACTION
) -> AppointmentAccess:
    """The appointment named by an outside id, if `user` may see it; Http404 otherwise.

    Records `action` in the audit trail (allowed or denied). Call outside a transaction.
    """
    pk = positive_id(appointment_id)
    appointment = (
        Appointment.objects.select_related("patient", "provider", "appointment_type", "provider__provider_profile")
        .filter(pk=pk)
        .first()
        if pk
        else None
    )
    access = _decide(user, appointment) if appointment is not None else None
    if access is None:
        audit_record_denied(
            actor=user,
            action=action,
            target_type="appointments.appointment",
            target_id=str(appointment_id)[:64],
            patient=appointment.patient if appointment else None,
            reason="no such appointment" if appointment is None else "not the patient, their proxy or staff",
        )
        raise Http404("No such appointment.")
    audit_record(
        actor=user,
        action=action,
        target_type="appointments.appointment",
        target_id=appointment.pk,
        patient=appointment.patient,
        reason=access.label or f"via {access.via}",
    )
    return access


def _appointments() -> QuerySet[Appointment]:
    return Appointment.objects.select_related("patient", "provider", "appointment_type").order_by("starts_at", "pk")


def appointments_for_patient(
    user: User | AnonymousUser | None, patient_id: object, *, action: str = "appointments.list.view"
) -> tuple[User, QuerySet[Appointment]]:
    """A patient's appointments, for the patient or a proxy with `appointments.manage` (Http404
    otherwise, audited by the accounts policy)."""
    from accounts.selectors import access_patient_for_user

    patient, _decision = access_patient_for_user(user, patient_id, action=action, scope=Scope.APPOINTMENTS_MANAGE)
    return patient, _appointments().filter(patient=patient)


def appointments_for_provider(
    user: User, *, provider_id: int, start: dt.datetime, end: dt.datetime
) -> QuerySet[Appointment]:
    """A provider's appointments starting in [start, end), for verified staff (the caller
    checks `is_staff_verified`; records the schedule view)."""
    if not is_staff_verified(user):
        raise Http404("No such schedule.")
    audit_record(
        actor=user,
        action="appointments.schedule.view",
        target_type="accounts.user",
        target_id=provider_id,
        reason=f"{start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} UTC",
    )
    return _appointments().filter(provider_id=provider_id, starts_at__gte=start, starts_at__lt=end)


def appointments_front_desk(user: User, *, start: dt.datetime, end: dt.datetime) -> QuerySet[Appointment]:
    """Every provider's appointments starting in [start, end), for verified staff."""
    if not is_staff_verified(user):
        raise Http404("No such schedule.")
    audit_record(
        actor=user,
        action="appointments.schedule.view",
        target_type="appointments.frontdesk",
        reason=f"{start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} UTC",
    )
    return _appointments().filter(starts_at__gte=start, starts_at__lt=end)


def providers_with_schedules() -> QuerySet[User]:
    return User.objects.filter(role=Role.DOCTOR, is_active=True).order_by("full_name", "pk")


# --- Waitlist -----------------------------------------------------------------------------


def waitlist_entries_for_patient(patient: User) -> QuerySet[WaitlistEntry]:
    return (
        WaitlistEntry.objects.filter(
            patient=patient, status__in=[WaitlistEntry.Status.WAITING, WaitlistEntry.Status.OFFERED]
        )
        .select_related("provider", "appointment_type")
        .order_by("created_at")
    )


def waitlist_offers_pending_for_patient(patient: User) -> QuerySet[WaitlistOffer]:
    """The times held for `patient` right now (pending and not yet expired), soonest first."""
    return (
        WaitlistOffer.objects.filter(
            entry__patient=patient, status=WaitlistOffer.Status.PENDING, expires_at__gt=timezone.now()
        )
        .select_related("provider", "appointment_type")
        .order_by("starts_at")
    )


def access_waitlist_entry_for_user(user: User | AnonymousUser | None, entry_id: object) -> WaitlistEntry:
    """A waitlist entry the user may manage (the patient or their proxy); Http404 otherwise."""
    pk = positive_id(entry_id)
    entry = WaitlistEntry.objects.select_related("patient", "provider", "appointment_type").filter(pk=pk).first()
    if entry is None or not _may_manage_for(user, entry.patient):
        audit_record_denied(
            actor=user,
            action="appointments.waitlist.view",
            target_type="appointments.waitlistentry",
            target_id=str(entry_id)[:64],
            patient=entry.patient if entry else None,
            reason="no such waitlist entry" if entry is None else "not the patient or their proxy",
        )
        raise Http404("No such waitlist entry.")
    return entry


def access_waitlist_offer_for_user(user: User | AnonymousUser | None, offer_id: object) -> WaitlistOffer:
    """A waitlist offer made to the user (or to the patient they are a proxy for); Http404
    otherwise (audited)."""
    pk = positive_id(offer_id)
    offer = (
        WaitlistOffer.objects.select_related("entry__patient", "provider", "appointment_type", "appointment")
        .filter(pk=pk)
        .first()
    )
    if offer is None or not _may_manage_for(user, offer.entry.patient):
        audit_record_denied(
            actor=user,
            action="appointments.waitlist_offer.view",
            target_type="appointments.waitlistoffer",
            target_id=str(offer_id)[:64],
            patient=offer.entry.patient if offer else None,
            reason="no such offer" if offer is None else "not the patient or their proxy",
        )
        raise Http404("No such offer.")
    return offer


def _may_manage_for(user: User | AnonymousUser | None, patient: User) -> bool:
    """The patient themself or a proxy with `appointments.manage` (writes included)."""
    if user is None or not user.is_authenticated:
        return False
    decision = chart_access(user, patient, write=True, scope=Scope.APPOINTMENTS_MANAGE)
    return decision.allowed and decision.via in (VIA_SELF, VIA_PROXY)


def patient_get_for_staff_booking(user: User | AnonymousUser | None, patient_id: object) -> User:
    """An active patient named by an outside id, for verified staff booking at the front desk
    (who may book for any patient: scheduling is not chart access); Http404 otherwise, audited
    as denied."""
    pk = positive_id(patient_id)
    patient = User.objects.filter(pk=pk, role=Role.PATIENT, is_active=True).first() if pk else None
    if patient is None or not is_staff_verified(user):
        audit_record_denied(
            actor=user,
            action="appointments.appointment.book",
            target_type="accounts.user",
            target_id=str(patient_id)[:64],
            patient=patient,
            reason="no such patient" if patient is None else "not verified staff",
        )
        raise Http404("No such patient.")
    return patient


def may_book_for(user: User | AnonymousUser | None, patient: User) -> bool:
    """Whether `user` may book, move or cancel `patient`'s appointments: the patient, a proxy
    with `appointments.manage`, or verified staff (the front desk)."""
    return is_staff_verified(user) or _may_manage_for(user, patient)


# --- Calendar feed ------------------------------------------------------------------------


def calendar_feed_for_token(token_hash: str) -> CalendarFeed | None:
    return CalendarFeed.objects.select_related("user").filter(token_hash=token_hash, user__is_active=True).first()


def calendar_feed_for_user(user: User) -> CalendarFeed | None:
    """The user's own feed (when it was made and last read), or None when it is off."""
    return CalendarFeed.objects.filter(user=user).first()


def calendar_feed_appointments(user: User) -> QuerySet[Appointment]:
    """What a user's own feed lists: their appointments as patient or provider, from 30 days
    ago on, not cancelled (cancelled ones leave the feed, which calendar apps show as removed)."""
    since = timezone.now() - dt.timedelta(days=30)
    return (
        Appointment.objects.filter(Q(patient=user) | Q(provider=user), starts_at__gte=since)
        .exclude(status=Appointment.Status.CANCELLED)
        .only("pk", "starts_at", "ends_at", "status", "schedule_version", "updated_at", "appointment_type__modality")
        .select_related("appointment_type")
        .order_by("starts_at")
    )


def appointment_of_patient(patient: User, appointment_id: object) -> Appointment | None:
    """The patient's own appointment by an outside id (for linking a clinical note to a visit),
    or None when the id names no appointment of theirs. The caller has already checked the chart."""
    pk = positive_id(appointment_id)
    if pk is None:
        return None
    return Appointment.objects.select_related("appointment_type").filter(pk=pk, patient=patient).first()


def appointments_of_patient_for_notes(patient: User) -> QuerySet[Appointment]:
    """The patient's appointments a note may be linked to, most recent first (not cancelled)."""
    return (
        Appointment.objects.filter(patient=patient)
        .exclude(status=Appointment.Status.CANCELLED)
        .select_related("appointment_type", "provider")
        .order_by("-starts_at")
    )
