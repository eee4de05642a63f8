"""Booking and the appointment lifecycle.

    requested -> confirmed -> checked_in -> in_progress -> completed
         \\            \\            \\
          `-> cancelled  `-> cancelled / no_show

Every public service checks who may act, then runs one durable transaction that takes the
provider's calendar lock (appointments.services.locks), re-checks under it, writes, audits,
puts the notices in the outbox and rings the real-time doorbell after commit.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import CareRelationship, User
from accounts.services.users import care_relationship_start
from appointments import events, groups
from appointments.errors import (
    AppointmentsErrorCode,
    InvalidTransitionError,
    SlotTakenError,
    SlotUnavailableError,
)
from appointments.models import Appointment, AppointmentType, ClinicSettings, WaitlistOffer
from appointments.selectors import is_staff_verified, may_book_for, slots_between
from appointments.services import notify
from appointments.services.locks import provider_calendar_lock
from appointments.services.rules import parties_validate
from audit.services import audit_record, audit_record_denied
from telemed.errors import ApplicationError
from telemed.events import send_on_commit

Status = Appointment.Status
REASON_MAX_LENGTH = 1000


def _forbidden(*, actor: User, action: str, appointment: Appointment | None, patient: User, why: str):
    audit_record_denied(
        actor=actor,
        action=action,
        target_type="appointments.appointment",
        target_id=appointment.pk if appointment else "",
        patient=patient,
        reason=why,
    )
    return ApplicationError(why, AppointmentsErrorCode.FORBIDDEN, status_code=403)


def _broadcast(appointment: Appointment, *, previous_starts_at: dt.datetime | None = None) -> None:
    event = events.appointment_changed(appointment)
    for group in groups.for_appointment(appointment, previous_starts_at=previous_starts_at):
        send_on_commit(group, event)


def _slot_is_offered(
    *,
    provider: User,
    appointment_type: AppointmentType,
    starts_at: dt.datetime,
    include_busy: bool,
    ignore_appointment_id: int | None = None,
    ignore_offer_id: int | None = None,
) -> bool:
    found = slots_between(
        provider_ids=[provider.pk],
        appointment_type=appointment_type,
        start=starts_at,
        end=starts_at + dt.timedelta(microseconds=1),
        include_busy=include_busy,
        ignore_appointment_id=ignore_appointment_id,
        ignore_offer_id=ignore_offer_id,
    )
    return any(slot.starts_at == starts_at for slot in found)


def _patient_busy(patient: User, start: dt.datetime, end: dt.datetime, *, ignore_id: int | None = None) -> bool:
    overlapping = Appointment.objects.filter(
        patient=patient, status__in=Appointment.ACTIVE_STATUSES, starts_at__lt=end, ends_at__gt=start
    )
    if ignore_id is not None:
        overlapping = overlapping.exclude(pk=ignore_id)
    return overlapping.exists()


def _insert(appointment: Appointment) -> Appointment:
    try:
        # The savepoint keeps the transaction usable when the exclusion constraint (PostgreSQL)
        # refuses an overlap that slipped past the check.
        with transaction.atomic():
            appointment.save(force_insert=True)
    except IntegrityError as exc:
        raise SlotTakenError() from exc
    return appointment


def appointment_book(
    *,
    actor: User,
    patient: User,
    provider: User,
    appointment_type: AppointmentType,
    starts_at: dt.datetime,
    reason: str = "",
    offer: WaitlistOffer | None = None,
) -> Appointment:
    """Book `starts_at` (a slot the slots selector offers) with `provider` for `patient`.

    The patient, a proxy with `appointments.manage` or verified staff may book. Patients'
    bookings are confirmed at once unless the clinic requires confirmation; staff bookings are
    confirmed. Raises SlotUnavailableError (400) for a time not offered, SlotTakenError (409)
    when someone else has it, ApplicationError for the rest. Starts (or keeps) the care
    relationship, audits `appointments.appointment.book`, schedules the confirmation, the
    reminders and the provider's notice, and announces the change after commit. `offer`: the
    waitlist offer being accepted (its hold does not count against it).
    """
    action = "appointments.appointment.book"
    if not may_book_for(actor, patient):
        raise _forbidden(
            actor=actor, action=action, appointment=None, patient=patient, why="You cannot book for this patient."
        )
    parties_validate(patient=patient, provider=provider, appointment_type=appointment_type)
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX_LENGTH:
        raise ApplicationError(
            f"Keep the reason under {REASON_MAX_LENGTH} characters.", AppointmentsErrorCode.REASON_TOO_LONG
        )
    if timezone.is_naive(starts_at):
        raise ApplicationError("Give the start time with its time zone.", AppointmentsErrorCode.SLOT_UNAVAILABLE)
    if not _slot_is_offered(
        provider=provider, appointment_type=appointment_type, starts_at=starts_at, include_busy=False
    ):
        raise SlotUnavailableError()
    return _appointment_book(
        actor=actor,
        patient=patient,
        provider=provider,
        appointment_type=appointment_type,
        starts_at=starts_at,
        reason=reason,
        offer=offer,
    )


@transaction.atomic(durable=True)
def _appointment_book(
    *,
    actor: User,
    patient: User,
    provider: User,
    appointment_type: AppointmentType,
    starts_at: dt.datetime,
    reason: str,
    offer: WaitlistOffer | None,
) -> Appointment:
    provider_calendar_lock(provider.pk)
    if offer is not None:
        from appointments.services.waitlist import offer_take_for_booking

        offer_take_for_booking(offer=offer)
    # Under the lock: nobody else can book or hold this provider's time until we commit.
    if not _slot_is_offered(
        provider=provider,
        appointment_type=appointment_type,
        starts_at=starts_at,
        include_busy=True,
        ignore_offer_id=offer.pk if offer else None,
    ):
        raise SlotTakenError()
    ends_at = starts_at + appointment_type.duration
    if _patient_busy(patient, starts_at, ends_at):
        raise ApplicationError(
            "This patient already has an appointment at that time.", AppointmentsErrorCode.PATIENT_BUSY, status_code=409
        )
    staff = is_staff_verified(actor)
    needs_confirmation = not staff and ClinicSettings.current().require_confirmation
    now = timezone.now()
    appointment = _insert(
        Appointment(
            patient=patient,
            provider=provider,
            appointment_type=appointment_type,
            starts_at=starts_at,
            ends_at=ends_at,
            blocked_from=starts_at - appointment_type.buffer_before,
            blocked_until=ends_at + appointment_type.buffer_after,
            status=Status.REQUESTED if needs_confirmation else Status.CONFIRMED,
            reason=reason,
            booked_by=actor,
            created_at=now,
            updated_at=now,
        )
    )
    if offer is not None:
        # In the booking's own transaction: an accepted offer always names what it became.
        WaitlistOffer.objects.filter(pk=offer.pk).update(appointment=appointment)
        offer.appointment = appointment
    care_relationship_start(patient=patient, provider=provider, kind=CareRelationship.Kind.APPOINTMENT)
    audit_record(
        actor=actor,
        action="appointments.appointment.book",
        target_type="appointments.appointment",
        target_id=appointment.pk,
        patient=patient,
        reason=f"{appointment_type.name} at {starts_at.isoformat()} with provider {provider.pk}",
    )
    if appointment.status == Status.CONFIRMED:
        notify.patient_notify(
            appointment,
            actor=actor,
            event="confirmed",
            subject="Your Telemed appointment is booked",
            message="Your appointment is booked. The calendar file is attached.",
        )
        notify.reminders_schedule(appointment)
    else:
        notify.patient_notify(
            appointment,
            actor=actor,
            event="requested",
            subject="We received your appointment request",
            message="We received your request; the clinic will confirm it shortly.",
        )
    if actor.pk != provider.pk:
        notify.provider_notify(
            appointment,
            event="booked",
            subject="New appointment booked",
            message="An appointment was booked with you.",
        )
    _broadcast(appointment)
    return appointment


def _lock(appointment: Appointment) -> Appointment:
    """Re-read the appointment under its row lock: two front-desk clicks, or a cancel racing a
    check-in, then see each other's result instead of both succeeding."""
    return (
        Appointment.objects.select_for_update()
        .select_related("patient", "provider", "appointment_type")
        .get(pk=appointment.pk)
    )


def _patient_side_window_check(appointment: Appointment, *, verb: str) -> None:
    hours = appointment.appointment_type.cancellation_window_hours
    if timezone.now() > appointment.starts_at - dt.timedelta(hours=hours):
        raise ApplicationError(
            f"Appointments can be {verb} online until {hours} hours before the start. Please call the clinic.",
            AppointmentsErrorCode.CANCELLATION_WINDOW_PASSED,
            status_code=409,
        )


def _require_may_change(actor: User, appointment: Appointment, *, action: str) -> bool:
    """Whether `actor` acts as staff (True) or for the patient (False); refuses anyone else."""
    if is_staff_verified(actor):
        return True
    if may_book_for(actor, appointment.patient):
        return False
    raise _forbidden(
        actor=actor,
        action=action,
        appointment=appointment,
        patient=appointment.patient,
        why="You cannot change this appointment.",
    )


def appointment_cancel(*, actor: User, appointment: Appointment, reason: str = "") -> Appointment:
    """Cancel: the patient's side until the type's cancellation window, staff anytime before
    the visit starts. Cancels the reminders not yet sent, tells the other side, frees the time
    and offers it to the waitlist. Audited `appointments.appointment.cancel`."""
    action = "appointments.appointment.cancel"
    as_staff = _require_may_change(actor, appointment, action=action)
    reason = (reason or "").strip()[:REASON_MAX_LENGTH]
    return _appointment_cancel(actor=actor, appointment=appointment, reason=reason, as_staff=as_staff)


@transaction.atomic(durable=True)
def _appointment_cancel(*, actor: User, appointment: Appointment, reason: str, as_staff: bool) -> Appointment:
    provider_calendar_lock(appointment.provider_id)
    appointment = _lock(appointment)
    if appointment.status not in (Status.REQUESTED, Status.CONFIRMED, Status.CHECKED_IN):
        raise InvalidTransitionError(appointment.status, "cancelled")
    if not as_staff:
        _patient_side_window_check(appointment, verb="cancelled")
    now = timezone.now()
    appointment.status = Status.CANCELLED
    appointment.cancelled_at = now
    appointment.cancelled_by = actor
    appointment.cancellation_reason = reason
    appointment.updated_at = now
    appointment.save(update_fields=["status", "cancelled_at", "cancelled_by", "cancellation_reason", "updated_at"])
    notify.pending_cancel(appointment)
    audit_record(
        actor=actor,
        action="appointments.appointment.cancel",
        target_type="appointments.appointment",
        target_id=appointment.pk,
        patient=appointment.patient,
        reason="by staff" if as_staff else "by the patient's side",
    )
    if as_staff:
        notify.patient_notify(
            appointment,
            actor=actor,
            event="cancelled",
            subject="Your Telemed appointment was cancelled",
            message="The clinic cancelled your appointment. Sign in to book another time.",
        )
    else:
        notify.patient_notify(
            appointment,
            actor=actor,
            event="cancelled",
            subject="Your Telemed appointment is cancelled",
            message="Your appointment is cancelled.",
        )
    if actor.pk != appointment.provider_id:
        notify.provider_notify(
            appointment,
            event="cancelled",
            subject="Appointment cancelled",
            message="An appointment with you was cancelled.",
        )
    _broadcast(appointment)
    if appointment.starts_at > now:
        from appointments.services.waitlist import waitlist_offer_freed

        waitlist_offer_freed(
            provider_id=appointment.provider_id, start=appointment.blocked_from, end=appointment.blocked_until
        )
    return appointment


def appointment_reschedule(*, actor: User, appointment: Appointment, starts_at: dt.datetime) -> Appointment:
    """Move to another free slot with the same provider and type: the patient's side until the
    cancellation window, staff anytime. New reminders replace the old (schedule_version), both
    sides hear of it, the old time goes to the waitlist. Audited."""
    action = "appointments.appointment.reschedule"
    as_staff = _require_may_change(actor, appointment, action=action)
    if timezone.is_naive(starts_at):
        raise ApplicationError("Give the start time with its time zone.", AppointmentsErrorCode.SLOT_UNAVAILABLE)
    if not _slot_is_offered(
        provider=appointment.provider,
        appointment_type=appointment.appointment_type,
        starts_at=starts_at,
        include_busy=False,
    ):
        raise SlotUnavailableError()
    return _appointment_reschedule(actor=actor, appointment=appointment, starts_at=starts_at, as_staff=as_staff)


@transaction.atomic(durable=True)
def _appointment_reschedule(
    *, actor: User, appointment: Appointment, starts_at: dt.datetime, as_staff: bool
) -> Appointment:
    provider_calendar_lock(appointment.provider_id)
    appointment = _lock(appointment)
    if appointment.status not in (Status.REQUESTED, Status.CONFIRMED):
        raise InvalidTransitionError(appointment.status, "rescheduled")
    if not as_staff:
        _patient_side_window_check(appointment, verb="rescheduled")
    if starts_at == appointment.starts_at:
        return appointment
    kind = appointment.appointment_type
    if not _slot_is_offered(
        provider=appointment.provider,
        appointment_type=kind,
        starts_at=starts_at,
        include_busy=True,
        ignore_appointment_id=appointment.pk,
    ):
        raise SlotTakenError()
    ends_at = starts_at + kind.duration
    if _patient_busy(appointment.patient, starts_at, ends_at, ignore_id=appointment.pk):
        raise ApplicationError(
            "This patient already has an appointment at that time.", AppointmentsErrorCode.PATIENT_BUSY, status_code=409
        )
    previous = (appointment.starts_at, appointment.blocked_from, appointment.blocked_until)
    old_version = appointment.schedule_version
    appointment.starts_at = starts_at
    appointment.ends_at = ends_at
    appointment.blocked_from = starts_at - kind.buffer_before
    appointment.blocked_until = ends_at + kind.buffer_after
    appointment.schedule_version = old_version + 1
    appointment.updated_at = timezone.now()
    try:
        with transaction.atomic():
            appointment.save(
                update_fields=[
                    "starts_at",
                    "ends_at",
                    "blocked_from",
                    "blocked_until",
                    "schedule_version",
                    "updated_at",
                ]
            )
    except IntegrityError as exc:
        raise SlotTakenError() from exc
    notify.pending_cancel(appointment, version=old_version)
    audit_record(
        actor=actor,
        action="appointments.appointment.reschedule",
        target_type="appointments.appointment",
        target_id=appointment.pk,
        patient=appointment.patient,
        reason=f"{previous[0].isoformat()} -> {starts_at.isoformat()}",
    )
    notify.patient_notify(
        appointment,
        actor=actor,
        event="rescheduled",
        subject="Your Telemed appointment has moved",
        message="Your appointment has a new time. The updated calendar file is attached.",
    )
    if appointment.status == Status.CONFIRMED:
        notify.reminders_schedule(appointment)
    if actor.pk != appointment.provider_id:
        notify.provider_notify(
            appointment,
            event="rescheduled",
            subject="Appointment moved",
            message="An appointment with you has a new time.",
        )
    _broadcast(appointment, previous_starts_at=previous[0])
    if previous[0] > timezone.now():
        from appointments.services.waitlist import waitlist_offer_freed

        waitlist_offer_freed(provider_id=appointment.provider_id, start=previous[1], end=previous[2])
    return appointment


# The staff-only steps: verb -> (allowed from, to, provider only?).
TRANSITIONS: dict[str, tuple[tuple[str, ...], str, bool]] = {
    "confirm": ((Status.REQUESTED,), Status.CONFIRMED, False),
    "check_in": ((Status.CONFIRMED,), Status.CHECKED_IN, False),
    "start": ((Status.CONFIRMED, Status.CHECKED_IN), Status.IN_PROGRESS, True),
    "complete": ((Status.IN_PROGRESS,), Status.COMPLETED, True),
    "no_show": ((Status.CONFIRMED, Status.CHECKED_IN), Status.NO_SHOW, False),
}
_VERB_TEXT = {
    "confirm": "confirmed",
    "check_in": "checked in",
    "start": "started",
    "complete": "completed",
    "no_show": "marked as a no-show",
}


def appointment_transition(*, actor: User, appointment: Appointment, verb: str) -> Appointment:
    """Move an appointment along its lifecycle (staff only; start and complete by its provider;
    no-show only once the start has passed). Audited `appointments.appointment.<verb>`."""
    if verb not in TRANSITIONS:
        raise ApplicationError(f"Unknown step {verb!r}.", AppointmentsErrorCode.INVALID_TRANSITION)
    action = f"appointments.appointment.{verb}"
    _sources, _target, provider_only = TRANSITIONS[verb]
    if not is_staff_verified(actor) or (provider_only and actor.pk != appointment.provider_id):
        raise _forbidden(
            actor=actor,
            action=action,
            appointment=appointment,
            patient=appointment.patient,
            why="Only the appointment's provider can do this." if provider_only else "Only clinic staff can do this.",
        )
    return _appointment_transition(actor=actor, appointment=appointment, verb=verb)


@transaction.atomic(durable=True)
def _appointment_transition(*, actor: User, appointment: Appointment, verb: str) -> Appointment:
    sources, target, _provider_only = TRANSITIONS[verb]
    appointment = _lock(appointment)
    if appointment.status not in sources:
        raise InvalidTransitionError(appointment.status, _VERB_TEXT[verb])
    now = timezone.now()
    if verb == "no_show" and now < appointment.starts_at:
        raise ApplicationError(
            "A patient can be marked as a no-show only after the start time.", AppointmentsErrorCode.TOO_EARLY
        )
    appointment.status = target
    appointment.updated_at = now
    appointment.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor,
        action=f"appointments.appointment.{verb}",
        target_type="appointments.appointment",
        target_id=appointment.pk,
        patient=appointment.patient,
    )
    if verb == "confirm":
        notify.patient_notify(
            appointment,
            actor=actor,
            event="confirmed",
            subject="Your Telemed appointment is confirmed",
            message="The clinic confirmed your appointment. The calendar file is attached.",
        )
        notify.reminders_schedule(appointment)
    elif verb in ("no_show", "complete"):
        notify.pending_cancel(appointment)
    _broadcast(appointment)
    return appointment
