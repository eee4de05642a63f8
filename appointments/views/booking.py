"""Booking, one small page per step so that it works on a phone:

    doctor -> type of appointment -> time (14 days, in the viewer's zone) -> reason -> confirm

The chosen doctor, type and time travel in the URL; the reason for the visit (health data)
never does: it is posted to the review step and carried in a hidden field to the booking POST.
A proxy acting for a patient books for that patient (`patient_for_request`). Verified staff
book on a patient's behalf, as the front desk does on the phone: the patient travels as
`patient=<id>` (query parameter, then hidden field) and every step resolves it again.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache

from accounts.models import Role, User
from appointments.errors import AppointmentsErrorCode
from appointments.forms import ReasonForm, parse_instant
from appointments.selectors import (
    appointment_type_get_active,
    appointment_types_active,
    patient_get_for_staff_booking,
    provider_get_bookable,
    providers_bookable,
)
from appointments.services import appointment_book
from appointments.views.appointments import patient_for_request, picker_context, viewer_zone
from telemed.errors import ApplicationError

# The service's answers that mean "pick another time": show the times again.
PICK_AGAIN = frozenset({AppointmentsErrorCode.SLOT_TAKEN, AppointmentsErrorCode.SLOT_UNAVAILABLE})


def booking_patient(request: HttpRequest, *, action: str = "appointments.patient.open") -> User:
    """The patient a booking step is for.

    Staff name the patient with `patient` (hidden field or query parameter), resolved by
    `patient_get_for_staff_booking`: Http404 for an unknown id or staff without a verified
    login, audited. Patients and proxies book as before (`patient_for_request`); naming anyone
    else is Http404.
    """
    chosen = request.POST.get("patient") or request.GET.get("patient")
    if request.user.role != Role.PATIENT:
        return patient_get_for_staff_booking(request.user, chosen)
    patient = patient_for_request(request, action=action)
    if chosen and chosen != str(patient.pk):
        # Through the staff selector so that the refusal lands in the audit trail like any other.
        patient_get_for_staff_booking(request.user, chosen)
        raise Http404("No such patient.")
    return patient


def _booking_context(request: HttpRequest, patient: User) -> dict:
    """What every step's template needs to know about whom it books for: staff see who and
    carry `patient_query` on every link and form."""
    staff = request.user.role != Role.PATIENT
    return {
        "patient": patient,
        "staff_booking": staff,
        "patient_query": urlencode({"patient": patient.pk}) if staff else "",
    }


def _with_patient(url: str, context: dict) -> str:
    return f"{url}?{context['patient_query']}" if context["patient_query"] else url


@login_required
@never_cache
def book_provider(request: HttpRequest) -> HttpResponse:
    patient = booking_patient(request)
    if request.user.role == Role.PATIENT:
        back = (reverse("appointments:list"), "Back to my appointments")
    elif request.user.role == Role.DOCTOR:
        back = (reverse("appointments:day"), "Back to my schedule")
    else:
        back = (reverse("appointments:front_desk"), "Back to the front desk")
    return render(
        request,
        "appointments/book_provider.html",
        {
            **_booking_context(request, patient),
            "providers": providers_bookable(),
            "back_url": back[0],
            "back_label": back[1],
        },
    )


@login_required
@never_cache
def book_type(request: HttpRequest, provider_id: int) -> HttpResponse:
    patient = booking_patient(request)
    provider = provider_get_bookable(provider_id)
    return render(
        request,
        "appointments/book_type.html",
        {**_booking_context(request, patient), "provider": provider, "types": appointment_types_active()},
    )


def _slots_page(request: HttpRequest, *, patient, provider, appointment_type, error: str = "", status: int = 200):
    booking = _booking_context(request, patient)
    # The waitlist is the patient's own side: staff have no link to it.
    waitlist_url = ""
    if not booking["staff_booking"]:
        query = urlencode({"provider": provider.pk, "type": appointment_type.pk})
        waitlist_url = f"{reverse('appointments:waitlist_join')}?{query}"
    context = {
        **booking,
        "provider": provider,
        "appointment_type": appointment_type,
        "error": error,
        "waitlist_url": waitlist_url,
        **picker_context(request, provider=provider, appointment_type=appointment_type, zone=viewer_zone(request)),
    }
    return render(request, "appointments/book_slot.html", context, status=status)


@login_required
@never_cache
def book_slot(request: HttpRequest, provider_id: int, type_id: int) -> HttpResponse:
    patient = booking_patient(request)
    provider = provider_get_bookable(provider_id)
    appointment_type = appointment_type_get_active(type_id)
    return _slots_page(request, patient=patient, provider=provider, appointment_type=appointment_type)


@login_required
@never_cache
def book_details(request: HttpRequest, provider_id: int, type_id: int) -> HttpResponse:
    """GET ?start=: the reason step. POST step=review: the confirm page. POST step=book: book."""
    patient = booking_patient(request, action="appointments.appointment.book_page")
    provider = provider_get_bookable(provider_id)
    appointment_type = appointment_type_get_active(type_id)
    context = {**_booking_context(request, patient), "provider": provider, "appointment_type": appointment_type}
    zone = viewer_zone(request)
    if request.method != "POST":
        starts_at = parse_instant(request.GET.get("start"))
        if starts_at is None:
            return redirect(
                _with_patient(reverse("appointments:book_slot", args=[provider.pk, appointment_type.pk]), context)
            )
        form = ReasonForm(initial={"starts_at": starts_at.isoformat()})
        return render(
            request,
            "appointments/book_details.html",
            {**context, "form": form, "starts_at": starts_at, "time_zone": zone},
        )
    form = ReasonForm(request.POST)
    if not form.is_valid():
        if "starts_at" in form.errors:
            return _slots_page(
                request,
                patient=patient,
                provider=provider,
                appointment_type=appointment_type,
                error="Choose one of the times shown.",
                status=400,
            )
        starts_at = parse_instant(request.POST.get("starts_at"))
        return render(
            request,
            "appointments/book_details.html",
            {**context, "form": form, "starts_at": starts_at, "time_zone": zone},
            status=400,
        )
    starts_at = form.cleaned_data["starts_at"]
    page = {**context, "form": form, "starts_at": starts_at, "time_zone": zone}
    if request.POST.get("step") != "book":
        return render(request, "appointments/book_confirm.html", page)
    try:
        appointment = appointment_book(
            actor=request.user,
            patient=patient,
            provider=provider,
            appointment_type=appointment_type,
            starts_at=starts_at,
            reason=form.cleaned_data["reason"],
        )
    except ApplicationError as error:
        if error.code in PICK_AGAIN:
            return _slots_page(
                request,
                patient=patient,
                provider=provider,
                appointment_type=appointment_type,
                error=error.message,
                status=error.status_code,
            )
        form.add_service_error(error)
        return render(request, "appointments/book_confirm.html", page, status=error.status_code)
    if context["staff_booking"]:
        who = patient.full_name or patient.email
        messages.success(request, f"Booked for {who}. The confirmation is on its way to them.")
    elif appointment.status == appointment.Status.REQUESTED:
        messages.success(request, "Your request is sent. The clinic will confirm it shortly.")
    else:
        messages.success(request, "Your appointment is booked. A confirmation email is on its way.")
    return redirect("appointments:detail", appointment.pk)
