"""The staff side: a provider's day and week, the front desk, and the lifecycle buttons.

Only OTP-verified staff reach these pages (patients and anyone else meet 404). Times show in
the provider's own zone on their schedule, and in the clinic's zone at the front desk. The
front desk and the day view carry "Book for a patient", which finds the patient by email or MRN
and opens the booking flow for them.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.models import Role, User
from accounts.selectors import patient_find
from appointments.forms import PatientFindForm, parse_date
from appointments.models import Appointment
from appointments.selectors import (
    access_appointment_for_user,
    appointments_for_provider,
    appointments_front_desk,
    is_staff_verified,
    provider_zones,
    providers_with_schedules,
    zone_or_default,
)
from appointments.services import appointment_transition
from telemed.errors import ApplicationError

Status = Appointment.Status
UTC = dt.UTC
LABELS = {
    "confirm": "Confirm",
    "check_in": "Check in",
    "start": "Start",
    "complete": "Complete",
    "no_show": "No-show",
}


def staff_actions(user: User, appointment: Appointment, now: dt.datetime) -> list[dict]:
    """The lifecycle buttons this staff member may press now (the service re-checks)."""
    own = user.pk == appointment.provider_id
    status = appointment.status
    verbs = []
    if status == Status.REQUESTED:
        verbs.append("confirm")
    if status == Status.CONFIRMED:
        verbs.append("check_in")
    if status in (Status.CONFIRMED, Status.CHECKED_IN) and own:
        verbs.append("start")
    if status == Status.IN_PROGRESS and own:
        verbs.append("complete")
    if status in (Status.CONFIRMED, Status.CHECKED_IN) and now >= appointment.starts_at:
        verbs.append("no_show")
    actions = [{"verb": verb, "label": LABELS[verb]} for verb in verbs]
    if status in (Status.REQUESTED, Status.CONFIRMED, Status.CHECKED_IN):
        actions.append({"verb": "cancel", "label": "Cancel"})
    return actions


def _require_staff(request: HttpRequest) -> None:
    if not is_staff_verified(request.user):
        raise Http404("No such schedule.")


def _provider(request: HttpRequest) -> User | None:
    """The provider whose schedule to show: `?provider=`, else the doctor themself."""
    chosen = request.GET.get("provider")
    if chosen:
        try:
            pk = int(chosen)
        except ValueError:
            raise Http404("No such provider.") from None
        provider = providers_with_schedules().filter(pk=pk).first()
        if provider is None:
            raise Http404("No such provider.")
        return provider
    return request.user if request.user.role == Role.DOCTOR else None


def _bounds(first: dt.date, days: int, zone: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(first, dt.time(0), tzinfo=zone).astimezone(UTC)
    end = dt.datetime.combine(first + dt.timedelta(days=days), dt.time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def _rows(user: User, appointments, now: dt.datetime) -> list[dict]:
    return [{"appointment": a, "actions": staff_actions(user, a, now)} for a in appointments]


def _schedule_context(request: HttpRequest, provider: User | None) -> dict:
    return {"provider": provider, "providers": providers_with_schedules(), "back": request.get_full_path()}


def _book_for_patient(request: HttpRequest) -> tuple[PatientFindForm, HttpResponse | None]:
    """The "Book for a patient" form; when a POST names a patient, the redirect into the
    booking flow for them. Staff only, so "no such patient" is said plainly."""
    if request.method != "POST":
        return PatientFindForm(), None
    form = PatientFindForm(request.POST)
    if form.is_valid():
        patient = patient_find(form.cleaned_data["identifier"])
        if patient is not None:
            return form, redirect(f"{reverse('appointments:book')}?{urlencode({'patient': patient.pk})}")
        form.add_service_error(ValidationError({"identifier": "No patient has this email or MRN."}))
    return form, None


@login_required
@never_cache
def day_view(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    find_form, found = _book_for_patient(request)
    if found is not None:
        return found
    status = 400 if find_form.errors else 200
    provider = _provider(request)
    context = {**_schedule_context(request, provider), "find_form": find_form}
    if provider is None:
        return render(request, "appointments/day.html", context, status=status)
    zone = provider_zones([provider.pk])[provider.pk]
    now = timezone.now()
    day = parse_date(request.GET.get("date")) or now.astimezone(zone).date()
    start, end = _bounds(day, 1, zone)
    appointments = appointments_for_provider(request.user, provider_id=provider.pk, start=start, end=end)
    context.update(
        {
            "day": day,
            "previous_day": day - dt.timedelta(days=1),
            "next_day": day + dt.timedelta(days=1),
            "today": now.astimezone(zone).date(),
            "rows": _rows(request.user, appointments, now),
            "time_zone": zone,
        }
    )
    return render(request, "appointments/day.html", context, status=status)


@login_required
@never_cache
def week_view(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    provider = _provider(request)
    context = _schedule_context(request, provider)
    if provider is None:
        return render(request, "appointments/week.html", context)
    zone = provider_zones([provider.pk])[provider.pk]
    now = timezone.now()
    chosen = parse_date(request.GET.get("date")) or now.astimezone(zone).date()
    monday = chosen - dt.timedelta(days=chosen.weekday())
    start, end = _bounds(monday, 7, zone)
    appointments = list(appointments_for_provider(request.user, provider_id=provider.pk, start=start, end=end))
    days = []
    for offset in range(7):
        day = monday + dt.timedelta(days=offset)
        on_day = [a for a in appointments if a.starts_at.astimezone(zone).date() == day]
        days.append({"date": day, "rows": _rows(request.user, on_day, now)})
    context.update(
        {
            "days": days,
            "monday": monday,
            "sunday": monday + dt.timedelta(days=6),
            "previous_week": monday - dt.timedelta(days=7),
            "next_week": monday + dt.timedelta(days=7),
            "today": now.astimezone(zone).date(),
            "time_zone": zone,
        }
    )
    return render(request, "appointments/week.html", context)


@login_required
@never_cache
def front_desk(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    find_form, found = _book_for_patient(request)
    if found is not None:
        return found
    zone = zone_or_default(None)
    now = timezone.now()
    day = parse_date(request.GET.get("date")) or now.astimezone(zone).date()
    start, end = _bounds(day, 1, zone)
    appointments = appointments_front_desk(request.user, start=start, end=end).select_related(
        "provider__provider_profile"
    )
    return render(
        request,
        "appointments/front_desk.html",
        {
            "day": day,
            "previous_day": day - dt.timedelta(days=1),
            "next_day": day + dt.timedelta(days=1),
            "today": now.astimezone(zone).date(),
            "rows": _rows(request.user, appointments, now),
            "time_zone": zone,
            "back": request.get_full_path(),
            "find_form": find_form,
        },
        status=400 if find_form.errors else 200,
    )


@login_required
@require_POST
def appointment_transition_view(request: HttpRequest, appointment_id: int) -> HttpResponse:
    _require_staff(request)
    access = access_appointment_for_user(request.user, appointment_id, action="appointments.appointment.transition")
    verb = request.POST.get("verb", "")
    try:
        appointment = appointment_transition(actor=request.user, appointment=access.appointment, verb=verb)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        who = appointment.patient.full_name or appointment.patient.email
        messages.success(request, f"{who}: {appointment.get_status_display().lower()}.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect("appointments:detail", access.appointment.pk)
    return redirect(target)
