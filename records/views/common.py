"""What the chart pages share: the viewer's time zone, the 403 page, the chart page itself.

Every page reaches a patient only through a `records.selectors.access_*` helper (which
checks the policy and writes the audit trail); services make every change. A chart the user
may read but not change in the way asked (RecordsForbiddenError) shows a 403 page saying why.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from accounts.context_processors import acting_for_patient_id
from records.charts import format_number, vitals_trends
from records.errors import RecordsForbiddenError
from records.forms import (
    AllergyForm,
    ConditionForm,
    DocumentUploadForm,
    ImmunizationForm,
    MedicationForm,
    VitalsForm,
)
from records.models import VITAL_RANGES
from records.selectors import ChartAccess, Need, access_chart_for_user, chart_get
from telemed.timezones import viewer_zone

# Forms of the chart page, by the prefix their fields carry, and the need each one requires.
CHART_FORMS: dict[str, tuple[type, Need]] = {
    "allergy": (AllergyForm, Need.CLINICAL),
    "condition": (ConditionForm, Need.CLINICAL),
    "medication": (MedicationForm, Need.CLINICAL),
    "immunization": (ImmunizationForm, Need.CLINICAL),
    "vitals": (VitalsForm, Need.VITALS),
    "document": (DocumentUploadForm, Need.UPLOAD),
}
# How many readings the trend charts draw (the table below them lists them all).
TREND_READINGS = 60


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "records/forbidden.html", {"message": message}, status=403)


def records_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in, never cached, and a RecordsForbiddenError shown as the 403 page."""

    @login_required
    @never_cache
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except RecordsForbiddenError as error:
            return forbidden(request, error.message)

    return wrapper


def own_patient_id(request: HttpRequest) -> int:
    """The patient a patient-side page is about: the one a proxy acts for, else the user."""
    return acting_for_patient_id(request) or request.user.pk


def chart_url(access: ChartAccess, anchor: str = "") -> str:
    """Where the chart of `access` is read: "My health" on the patient's side, else the chart."""
    url = reverse("records:my_health") if access.patient_side else reverse("records:chart", args=[access.patient.pk])
    return f"{url}#{anchor}" if anchor else url


def safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return target
    return default


def breakglass_reason(text: str) -> str:
    """The clinician's own words from an audit or policy reason ("…break-glass: <reason>")."""
    marker = "break-glass: "
    return text.rsplit(marker, 1)[1] if marker in text else text


def latest_measurements(vitals: list[Any]) -> list[dict[str, Any]]:
    """The newest value of each measurement (vitals newest first), with when and by whom."""
    rows = []
    for name, label, unit, _low, _high in VITAL_RANGES:
        if name == "diastolic_mmhg":
            continue
        reading = next((item for item in vitals if getattr(item, name) is not None), None)
        if reading is None:
            continue
        if name == "systolic_mmhg":
            value = f"{reading.systolic_mmhg}/{reading.diastolic_mmhg}"
            label = "Blood pressure"
        else:
            value = format_number(getattr(reading, name))
        rows.append({"label": label, "value": value, "unit": unit, "reading": reading})
    with_bmi = next((item for item in vitals if item.bmi is not None), None)
    if with_bmi is not None:
        rows.append({"label": "BMI", "value": format_number(with_bmi.bmi), "unit": "kg/m²", "reading": with_bmi})
    return rows


def _profile(patient: Any) -> Any:
    try:
        return patient.patient_profile
    except ObjectDoesNotExist:
        return None


def chart_page(
    request: HttpRequest,
    patient_id: object,
    *,
    bound: dict[str, Any] | None = None,
    status: int = 200,
    section: str = "summary",
) -> HttpResponse:
    """The chart (provider chart or "My health", by who asks), with the forms the user may use.

    `bound` holds forms coming back with errors (by prefix), shown in place of blank ones.
    Reading the chart is audited (`records.chart.view`) by the access selector.
    """
    access = access_chart_for_user(request.user, patient_id, section=section)
    chart = chart_get(access)
    zone = viewer_zone(request)
    bound = bound or {}
    forms: dict[str, Any] = {}
    for prefix, (form_class, need) in CHART_FORMS.items():
        if not access.may(need):
            continue
        if prefix in bound:
            forms[prefix] = bound[prefix]
        elif form_class is VitalsForm:
            forms[prefix] = VitalsForm(prefix=prefix, zone=zone)
        else:
            forms[prefix] = form_class(prefix=prefix)
    may = {need.value: access.may(need) for need in Need}
    clinician = not access.patient_side
    context = {
        "access": access,
        "chart": chart,
        "patient": access.patient,
        "profile": _profile(access.patient),
        "clinician_view": clinician,
        "may": may,
        "forms": forms,
        "form_errors": [prefix for prefix, form in bound.items() if form.errors],
        "latest": latest_measurements(chart.vitals),
        "trends": vitals_trends(chart.vitals[:TREND_READINGS], zone=zone),
        "drafts": [note for note in chart.notes if not note.is_signed],
        "signed_notes": [note for note in chart.notes if note.is_signed],
        "breakglass_reason": breakglass_reason(access.decision.reason) if access.breakglass else "",
        "time_zone": zone,
        "chart_url": chart_url(access),
    }
    return render(request, "records/chart.html", context, status=status)
