"""The patient's side of the appointments pages: my appointments, one appointment, cancel,
reschedule, the waitlist and its offers. Thin: selectors to read, services to write.

A proxy acting for a patient (accounts' "acting for" switch) sees and changes that patient's
appointments; the selectors re-check the grant on every request.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.context_processors import acting_for_patient_id
from accounts.models import Role, User
from appointments.forms import CancelForm, RescheduleForm, WaitlistJoinForm, parse_date
from appointments.models import Appointment, Modality
from appointments.selectors import (
    AppointmentAccess,
    access_appointment_for_user,
    access_waitlist_entry_for_user,
    access_waitlist_offer_for_user,
    appointments_for_patient,
    slots_for_dates,
    waitlist_entries_for_patient,
    waitlist_offers_pending_for_patient,
)
from appointments.services import (
    appointment_cancel,
    appointment_reschedule,
    waitlist_join,
    waitlist_leave,
    waitlist_offer_accept,
    waitlist_offer_decline,
)
from telemed.errors import ApplicationError
from telemed.timezones import viewer_zone

# How many days a slot picker shows at once, and how far "previous/next week" moves it.
PICKER_DAYS = 14
PICKER_STEP = 7
# The video call opens this long before the start (the call itself comes in a later issue).
JOIN_LEAD = dt.timedelta(minutes=15)
CHANGEABLE = (Appointment.Status.REQUESTED, Appointment.Status.CONFIRMED)
CANCELLABLE = (Appointment.Status.REQUESTED, Appointment.Status.CONFIRMED, Appointment.Status.CHECKED_IN)


# --- shared by the appointments pages -------------------------------------------------------


def patient_appointments_for_request(request: HttpRequest, *, action: str) -> tuple[User, QuerySet[Appointment]]:
    """The patient this request is about (the one a proxy acts for, else the signed-in
    patient) and their appointments. Http404 for staff, and for anyone the policy refuses
    (audited)."""
    user = request.user
    if user.role != Role.PATIENT:
        raise Http404("Appointments pages are for patients.")
    return appointments_for_patient(user, acting_for_patient_id(request) or user.pk, action=action)


def patient_for_request(request: HttpRequest, *, action: str = "appointments.patient.open") -> User:
    return patient_appointments_for_request(request, action=action)[0]


def ics_url(appointment: Appointment) -> str:
    """The .ics download of the appointment."""
    return reverse("appointments:ics", args=[appointment.pk])


def week_start(request: HttpRequest, zone: zoneinfo.ZoneInfo) -> tuple[dt.date, dt.date]:
    """The first day a slot picker shows (`?start=`, never before today) and today."""
    today = timezone.now().astimezone(zone).date()
    first = parse_date(request.GET.get("start")) or today
    return max(first, today), today


def days_with_slots(slots, zone: zoneinfo.ZoneInfo, first_day: dt.date) -> list[dict]:
    """The picker's days in the viewer's zone, each with its slots (empty days included)."""
    days = [first_day + dt.timedelta(days=offset) for offset in range(PICKER_DAYS)]
    by_day: dict[dt.date, list] = {day: [] for day in days}
    for slot in slots:
        local = slot.starts_at.astimezone(zone)
        if local.date() in by_day:
            by_day[local.date()].append(
                {"starts_at": slot.starts_at, "local": local, "value": slot.starts_at.isoformat()}
            )
    return [{"date": day, "slots": by_day[day]} for day in days]


def picker_context(request: HttpRequest, *, provider: User, appointment_type, zone) -> dict:
    first_day, today = week_start(request, zone)
    last_day = first_day + dt.timedelta(days=PICKER_DAYS - 1)
    slots = slots_for_dates(
        provider_ids=[provider.pk], appointment_type=appointment_type, first_day=first_day, last_day=last_day, zone=zone
    )
    previous = first_day - dt.timedelta(days=PICKER_STEP)
    return {
        "days": days_with_slots(slots, zone, first_day),
        "has_slots": bool(slots),
        "first_day": first_day,
        "last_day": last_day,
        "previous_start": max(previous, today) if first_day > today else None,
        "next_start": first_day + dt.timedelta(days=PICKER_STEP),
        "time_zone": zone,
    }


def change_deadline(appointment: Appointment) -> dt.datetime:
    """Until when the patient's side may cancel or move the appointment online."""
    return appointment.starts_at - dt.timedelta(hours=appointment.appointment_type.cancellation_window_hours)


def patient_actions(appointment: Appointment, now: dt.datetime) -> dict:
    deadline = change_deadline(appointment)
    open_ = appointment.status in CANCELLABLE and appointment.starts_at > now
    return {
        "deadline": deadline,
        "may_change": open_ and now <= deadline,
        "window_passed": open_ and now > deadline,
        "may_reschedule": appointment.status in CHANGEABLE and appointment.starts_at > now and now <= deadline,
        "is_video": appointment.appointment_type.modality == Modality.VIDEO,
        "join_from": appointment.starts_at - JOIN_LEAD,
        "upcoming": appointment.ends_at > now and appointment.status in CANCELLABLE,
    }


# --- my appointments ------------------------------------------------------------------------


@login_required
@never_cache
def appointment_list(request: HttpRequest) -> HttpResponse:
    if request.user.role != Role.PATIENT:
        # Staff have their own pages: the schedule (doctors) or the front desk.
        return redirect("appointments:day" if request.user.role == Role.DOCTOR else "appointments:front_desk")
    patient, appointments = patient_appointments_for_request(request, action="appointments.list.view")
    now = timezone.now()
    upcoming, past = [], []
    for appointment in appointments:
        row = {"appointment": appointment, **patient_actions(appointment, now)}
        (upcoming if row["upcoming"] else past).append(row)
    past.reverse()
    entries = list(waitlist_entries_for_patient(patient))
    offers = list(waitlist_offers_pending_for_patient(patient))
    return render(
        request,
        "appointments/list.html",
        {
            "patient": patient,
            "upcoming": upcoming,
            "past": past,
            "entries": entries,
            "offers": offers,
            "time_zone": viewer_zone(request),
        },
    )


@login_required
@never_cache
def appointment_detail(request: HttpRequest, appointment_id: int) -> HttpResponse:
    access = access_appointment_for_user(request.user, appointment_id)
    appointment = access.appointment
    context = {
        "access": access,
        "appointment": appointment,
        "time_zone": viewer_zone(request),
        "ics_url": ics_url(appointment),
        **patient_actions(appointment, timezone.now()),
    }
    if access.as_staff:
        from appointments.views.schedule import staff_actions

        context["staff_actions"] = staff_actions(request.user, appointment, timezone.now())
        context["back"] = request.get_full_path()
    return render(request, "appointments/detail.html", context)


def _access_for_change(request: HttpRequest, appointment_id: int, action: str) -> AppointmentAccess:
    access = access_appointment_for_user(request.user, appointment_id, action=action)
    if not (access.as_patient or access.as_staff):
        raise Http404("No such appointment.")
    return access


@login_required
@never_cache
def appointment_cancel_view(request: HttpRequest, appointment_id: int) -> HttpResponse:
    access = _access_for_change(request, appointment_id, "appointments.appointment.cancel_page")
    appointment = access.appointment
    form = CancelForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                appointment_cancel(actor=request.user, appointment=appointment, reason=form.cleaned_data["reason"])
            except ApplicationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, "The appointment is cancelled.")
                return redirect("appointments:detail", appointment.pk)
        status = 400
    return render(
        request,
        "appointments/cancel.html",
        {
            "access": access,
            "appointment": appointment,
            "form": form,
            "time_zone": viewer_zone(request),
            **patient_actions(appointment, timezone.now()),
        },
        status=status,
    )


@login_required
@never_cache
def appointment_reschedule_view(request: HttpRequest, appointment_id: int) -> HttpResponse:
    access = _access_for_change(request, appointment_id, "appointments.appointment.reschedule_page")
    appointment = access.appointment
    zone = viewer_zone(request)
    form = RescheduleForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                appointment_reschedule(
                    actor=request.user, appointment=appointment, starts_at=form.cleaned_data["starts_at"]
                )
            except ApplicationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, "The appointment has a new time. A confirmation is on its way.")
                return redirect("appointments:detail", appointment.pk)
        status = 409 if form.errors else 400
    context = {
        "access": access,
        "appointment": appointment,
        "form": form,
        **patient_actions(appointment, timezone.now()),
        **picker_context(
            request, provider=appointment.provider, appointment_type=appointment.appointment_type, zone=zone
        ),
    }
    return render(request, "appointments/reschedule.html", context, status=status)


# --- the waitlist -----------------------------------------------------------------------------


@login_required
@never_cache
def waitlist_join_view(request: HttpRequest) -> HttpResponse:
    patient = patient_for_request(request)
    if request.method == "POST":
        form = WaitlistJoinForm(request.POST)
    else:
        today = timezone.localdate()
        form = WaitlistJoinForm(
            initial={
                "provider": request.GET.get("provider"),
                "appointment_type": request.GET.get("type"),
                "earliest_date": today,
                "latest_date": today + dt.timedelta(days=PICKER_DAYS),
            }
        )
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                waitlist_join(
                    actor=request.user,
                    patient=patient,
                    provider=data["provider"],
                    appointment_type=data["appointment_type"],
                    earliest_date=data["earliest_date"],
                    latest_date=data["latest_date"],
                )
            except ApplicationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, "You are on the waitlist. We will tell you when a time becomes free.")
                return redirect("appointments:list")
        return render(request, "appointments/waitlist_join.html", {"form": form, "patient": patient}, status=400)
    return render(request, "appointments/waitlist_join.html", {"form": form, "patient": patient})


@login_required
@require_POST
def waitlist_leave_view(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = access_waitlist_entry_for_user(request.user, entry_id)
    try:
        waitlist_leave(actor=request.user, entry=entry)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "You left the waitlist.")
    return redirect("appointments:list")


@login_required
@never_cache
def waitlist_offer(request: HttpRequest, offer_id: int) -> HttpResponse:
    offer = access_waitlist_offer_for_user(request.user, offer_id)
    if request.method == "POST":
        try:
            if request.POST.get("decision") == "accept":
                appointment = waitlist_offer_accept(actor=request.user, offer=offer)
                messages.success(request, "The appointment is booked. A confirmation is on its way.")
                return redirect("appointments:detail", appointment.pk)
            if request.POST.get("decision") == "decline":
                waitlist_offer_decline(actor=request.user, offer=offer)
                messages.info(request, "You declined the offer; you stay on the waitlist.")
                return redirect("appointments:waitlist_offer", offer.pk)
        except ApplicationError as error:
            messages.error(request, error.message)
            return redirect("appointments:waitlist_offer", offer.pk)
    return render(request, "appointments/waitlist_offer.html", {"offer": offer, "time_zone": viewer_zone(request)})
