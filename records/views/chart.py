"""The chart pages: "My health" (the patient's side), the clinician's list of charts, a
patient's chart, and the chart's forms — allergies, problems, medications, immunizations,
corrections ("entered in error"), vitals and acknowledging home readings.

Each form posts to its own route, which checks the need with an access selector, calls one
service and redirects back to the chart with a message; a refused value re-renders the chart
with the form's errors (status 400).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Role
from audit.services import audit_record_denied
from records.forms import ENTRY_FORMS, EnteredInErrorForm, VitalsForm
from records.selectors import (
    Need,
    access_chart_for_user,
    access_entry_for_user,
    chart_patients_for_clinician,
    home_readings_worklist,
)
from records.services.chart import (
    allergy_record,
    condition_record,
    entry_mark_entered_in_error,
    entry_update,
    immunization_record,
    medication_record,
    vitals_acknowledge,
    vitals_record,
)
from records.views.common import chart_page, chart_url, own_patient_id, records_page, safe_next, viewer_zone
from telemed.errors import ApplicationError

RECORDERS = {
    "allergy": allergy_record,
    "condition": condition_record,
    "medication": medication_record,
    "immunization": immunization_record,
}
# The audit noun of each kind (the model's name; vitals are "records.vitals.*").
NOUNS = {"allergy": "allergy", "condition": "condition", "medication": "medication", "immunization": "immunization"}
LABELS = {
    "allergy": "allergy",
    "condition": "problem",
    "medication": "medication",
    "immunization": "immunization",
    "vitals": "reading",
}
ANCHORS = {
    "allergy": "allergies",
    "condition": "problems",
    "medication": "medications",
    "immunization": "immunizations",
    "vitals": "vitals",
}


# --- Pages ------------------------------------------------------------------------------------


@records_page
def my_health(request: HttpRequest) -> HttpResponse:
    """The patient's own chart, or the chart of the patient a proxy acts for."""
    if request.user.role in (Role.DOCTOR, Role.NURSE):
        return redirect("records:patients")
    if request.user.role != Role.PATIENT:
        audit_record_denied(actor=request.user, action="records.page.open", target_type="page", target_id=request.path)
        raise Http404("No such page.")
    return chart_page(request, own_patient_id(request), section="my health")


@records_page
def chart(request: HttpRequest, patient_id: int) -> HttpResponse:
    return chart_page(request, patient_id)


@records_page
def patients(request: HttpRequest) -> HttpResponse:
    """A doctor's or nurse's charts: their patients and the home readings waiting for them."""
    if request.user.role not in (Role.DOCTOR, Role.NURSE):
        audit_record_denied(actor=request.user, action="records.page.open", target_type="page", target_id=request.path)
        raise Http404("No such page.")
    context = {
        "patients": list(chart_patients_for_clinician(request.user)),
        "readings": home_readings_worklist(request.user),
        "time_zone": viewer_zone(request),
    }
    return render(request, "records/patients.html", context)


# --- Structured entries -------------------------------------------------------------------------


def _entry_add(request: HttpRequest, patient_id: int, kind: str) -> HttpResponse:
    access = access_chart_for_user(request.user, patient_id, need=Need.CLINICAL, action=f"records.{kind}.create")
    form = ENTRY_FORMS[kind](request.POST, prefix=kind)
    if form.is_valid():
        try:
            RECORDERS[kind](actor=request.user, patient=access.patient, **form.cleaned_data)
        except (ValidationError, ApplicationError) as error:
            form.add_service_error(error)
        else:
            messages.success(request, f"The {LABELS[kind]} was added to the chart.")
            return redirect(chart_url(access, ANCHORS[kind]))
    return chart_page(request, access.patient.pk, bound={kind: form}, status=400)


@records_page
@require_POST
def allergy_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    return _entry_add(request, patient_id, "allergy")


@records_page
@require_POST
def condition_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    return _entry_add(request, patient_id, "condition")


@records_page
@require_POST
def medication_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    return _entry_add(request, patient_id, "medication")


@records_page
@require_POST
def immunization_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    return _entry_add(request, patient_id, "immunization")


def _initial(entry: Any, form_class: type) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in form_class.base_fields}


@records_page
def entry_edit(request: HttpRequest, kind: str, entry_id: int) -> HttpResponse:
    """Change an allergy, problem, medication or immunization (a doctor caring for the patient)."""
    if kind not in ENTRY_FORMS:
        raise Http404("No such entry.")
    entry, access = access_entry_for_user(
        request.user, kind, entry_id, need=Need.CLINICAL, action=f"records.{NOUNS[kind]}.update"
    )
    if entry.status == "entered_in_error":
        messages.error(request, "This entry was marked as entered in error and cannot change.")
        return redirect(chart_url(access, ANCHORS[kind]))
    form_class = ENTRY_FORMS[kind]
    status = 200
    if request.method == "POST":
        form = form_class(request.POST, prefix=kind)
        if form.is_valid():
            try:
                entry_update(entry, actor=request.user, **form.cleaned_data)
            except (ValidationError, ApplicationError) as error:
                form.add_service_error(error)
            else:
                messages.success(request, f"The {LABELS[kind]} was updated.")
                return redirect(chart_url(access, ANCHORS[kind]))
        status = 400
    else:
        form = form_class(initial=_initial(entry, form_class), prefix=kind)
    context = {"access": access, "patient": access.patient, "entry": entry, "kind": kind, "label": LABELS[kind]}
    context |= {"form": form, "back": chart_url(access, ANCHORS[kind])}
    return render(request, "records/entry_edit.html", context, status=status)


@records_page
def entry_error(request: HttpRequest, kind: str, entry_id: int) -> HttpResponse:
    """Mark an entry (or a set of vitals) as entered in error, with a reason: kept and hidden."""
    if kind not in ANCHORS:
        raise Http404("No such entry.")
    need = Need.VITALS if kind == "vitals" else Need.CLINICAL
    noun = "vitals" if kind == "vitals" else NOUNS[kind]
    entry, access = access_entry_for_user(
        request.user, kind, entry_id, need=need, action=f"records.{noun}.entered_in_error"
    )
    back = chart_url(access, ANCHORS[kind])
    already = entry.entered_in_error if kind == "vitals" else entry.status == "entered_in_error"
    if already:
        messages.info(request, "This entry is already marked as entered in error.")
        return redirect(back)
    status = 200
    if request.method == "POST":
        form = EnteredInErrorForm(request.POST, prefix="error")
        if form.is_valid():
            try:
                entry_mark_entered_in_error(entry, actor=request.user, reason=form.cleaned_data["reason"])
            except (ValidationError, ApplicationError) as error:
                form.add_service_error(error)
            else:
                messages.success(request, f"The {LABELS[kind]} was marked as entered in error.")
                return redirect(back)
        status = 400
    else:
        form = EnteredInErrorForm(prefix="error")
    context = {"access": access, "patient": access.patient, "entry": entry, "kind": kind, "label": LABELS[kind]}
    context |= {"form": form, "back": back, "time_zone": viewer_zone(request)}
    return render(request, "records/entry_error.html", context, status=status)


# --- Vitals ---------------------------------------------------------------------------------------


@records_page
@require_POST
def vitals_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    """A set of vital signs: a clinician's measurement, or the patient's home reading."""
    access = access_chart_for_user(request.user, patient_id, need=Need.VITALS, action="records.vitals.create")
    form = VitalsForm(request.POST, prefix="vitals", zone=viewer_zone(request))
    if form.is_valid():
        try:
            vitals_record(
                actor=request.user,
                patient=access.patient,
                measurements=form.measurements(),
                measured_at=form.cleaned_data["measured_at"],
                note=form.cleaned_data["note"],
            )
        except (ValidationError, ApplicationError) as error:
            form.add_service_error(error)
        else:
            if access.is_self:
                messages.success(request, "Your reading was saved. Your care team will look at it.")
            else:
                messages.success(request, "The vital signs were recorded.")
            return redirect(chart_url(access, "vitals"))
    return chart_page(request, access.patient.pk, bound={"vitals": form}, status=400)


@records_page
@require_POST
def vitals_acknowledge_view(request: HttpRequest, vitals_id: int) -> HttpResponse:
    """A clinician acknowledges a patient's home reading."""
    vitals, access = access_entry_for_user(
        request.user, "vitals", vitals_id, need=Need.ACKNOWLEDGE, action="records.vitals.acknowledge"
    )
    try:
        vitals_acknowledge(vitals, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"The home reading of {access.patient} was acknowledged.")
    return redirect(safe_next(request, chart_url(access, "vitals")))
