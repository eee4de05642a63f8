""" "Who viewed my chart": the patient's own access log, from the audit trail.

Only the patient themself reads it (`access_log_for_patient` refuses anyone else with a 404,
and records the reading). Each line says who (name and role), what, when (in the viewer's
zone), and flags break-glass access with the clinician's reason and refused attempts.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audit.models import Outcome
from records.selectors import access_log_for_patient, describe_access_event
from records.views.common import breakglass_reason, records_page, viewer_zone

PER_PAGE = 50


@records_page
def access_log(request: HttpRequest) -> HttpResponse:
    events = access_log_for_patient(request.user)
    page = Paginator(events, PER_PAGE).get_page(request.GET.get("page"))
    # The selector already leaves out the generic "opened your chart" gate rows, so each
    # look is one line.
    rows = [
        {
            "event": event,
            "what": describe_access_event(event),
            "denied": event.outcome == Outcome.DENIED,
            "failed": event.outcome == Outcome.FAILURE,
            "breakglass_reason": breakglass_reason(event.reason) if event.breakglass else "",
        }
        for event in page.object_list
    ]
    context = {"page": page, "rows": rows, "time_zone": viewer_zone(request)}
    return render(request, "records/access_log.html", context)
