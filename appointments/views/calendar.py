"""Calendars: one appointment as an .ics download, and the personal feed a calendar app
subscribes to.

The feed URL is a bearer secret (calendar apps send no cookies): the token is shown once, when
made, and only its SHA-256 is stored, so it can be reset or turned off but never shown again.
Neither the file nor the feed says more than "Telemed appointment", the time and a link
(appointments.ical): a calendar is shared, synced and shown on lock screens.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from appointments.ical import appointment_ics, feed_ics
from appointments.selectors import (
    access_appointment_for_user,
    calendar_feed_appointments,
    calendar_feed_for_token,
    calendar_feed_for_user,
)
from appointments.services import calendar_feed_reset, calendar_feed_revoke, feed_token_hash
from appointments.services.calendar import calendar_feed_fetched
from telemed.timezones import viewer_zone

ICS_CONTENT_TYPE = "text/calendar; charset=utf-8"
FEED_NAME = "Telemed"
# Calendar apps poll; five minutes of caching on their side keeps the feed cheap to serve.
FEED_MAX_AGE = 300


@login_required
@never_cache
@require_safe
def appointment_ics_download(request: HttpRequest, appointment_id: int) -> HttpResponse:
    access = access_appointment_for_user(request.user, appointment_id, action="appointments.appointment.export")
    response = HttpResponse(appointment_ics(access.appointment), content_type=ICS_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="appointment-{access.appointment.pk}.ics"'
    return response


def _feed_url(token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("appointments:feed", kwargs={"token": token})


@login_required
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def calendar_settings(request: HttpRequest) -> HttpResponse:
    feed_url = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "reset":
            # Shown in this response only: it is not stored, so no redirect could show it again.
            feed_url = _feed_url(calendar_feed_reset(actor=request.user))  # type: ignore[arg-type]
        elif action == "revoke":
            if calendar_feed_revoke(actor=request.user):  # type: ignore[arg-type]
                messages.success(request, "Your calendar link is turned off. Calendars subscribed to it stop updating.")
            return redirect("appointments:calendar")
        else:
            return redirect("appointments:calendar")
    return render(
        request,
        "appointments/calendar.html",
        {
            "feed": calendar_feed_for_user(request.user),  # type: ignore[arg-type]
            "feed_url": feed_url,
            "time_zone": viewer_zone(request),
        },
    )


@require_safe
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """Public (calendar apps have no session): the token is the credential. 404 for a token
    that is unknown, reset or turned off."""
    feed = calendar_feed_for_token(feed_token_hash(token))
    if feed is None:
        raise Http404("No such calendar.")
    body = feed_ics(calendar_feed_appointments(feed.user), name=FEED_NAME)
    calendar_feed_fetched(feed=feed)
    response = HttpResponse(body, content_type=ICS_CONTENT_TYPE)
    response["Cache-Control"] = f"private, max-age={FEED_MAX_AGE}"
    response["Content-Disposition"] = 'inline; filename="telemed.ics"'
    # The URL is a secret: keep it out of search engines and other sites' Referer logs.
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response
