"""Pages of the appointments app: thin, through selectors and services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from appointments.selectors import access_appointment_for_user, access_waitlist_offer_for_user, zone_or_default
from appointments.services import waitlist_offer_accept, waitlist_offer_decline
from telemed.errors import ApplicationError


def _viewer_zone(request: HttpRequest):
    return zone_or_default(request.COOKIES.get("tz"))


@login_required
@never_cache
def appointment_detail(request: HttpRequest, appointment_id: int) -> HttpResponse:
    access = access_appointment_for_user(request.user, appointment_id)
    return render(
        request,
        "appointments/detail.html",
        {"access": access, "appointment": access.appointment, "time_zone": _viewer_zone(request)},
    )


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
    return render(request, "appointments/waitlist_offer.html", {"offer": offer, "time_zone": _viewer_zone(request)})
