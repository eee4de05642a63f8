"""The prescription pages: the lists (the patient's "My prescriptions", a doctor's desk, a
patient's prescriptions for their clinicians), the editor, one prescription with its safety
check and the forms that sign, cancel and revise it, the paper (PDF) and asking for a refill.

Every page reaches a prescription or a chart only through an `access_*` selector (policy and
audit trail); services make every change. A rule a service refuses comes back on the page as
a form error with the service's status (400, 409); a refusal of who may do it (403) shows the
"not allowed" page; whatever the user may not see is a 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from accounts.context_processors import acting_for_patient_id
from accounts.models import Role
from appointments.selectors import appointments_of_patient_for_notes
from audit.services import audit_record_denied
from prescriptions import signing
from prescriptions.errors import PrescriptionsErrorCode, UnacknowledgedWarnings
from prescriptions.forms import (
    CancelForm,
    ItemRows,
    PrescriptionForm,
    RefillRequestForm,
    SignForm,
    rows_for,
)
from prescriptions.models import Prescription, PrescriptionStatus, RefillStatus
from prescriptions.selectors import (
    PrescriptionAccess,
    RxNeed,
    access_prescription_for_user,
    prescription_paper_for_user,
    prescriptions_for_chart,
    prescriptions_shown,
    prescriptions_written_by,
    refill_queue_for_prescriber,
)
from prescriptions.services import prescribing
from prescriptions.verification import ItemState, Verdict, Verification, listed_states, verdict_for
from records.selectors import ChartAccess, Need, access_chart_for_user, chart_patients_for_clinician
from telemed.errors import ApplicationError
from telemed.timezones import viewer_zone

# How many signed prescriptions a doctor's desk lists (the patient's list shows them all).
RECENT = 20
OTP_CODES = {PrescriptionsErrorCode.OTP_REQUIRED.value, PrescriptionsErrorCode.OTP_INVALID.value}


# --- What every page shares ---------------------------------------------------------------------


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "prescriptions/forbidden.html", {"message": message}, status=403)


def prescriptions_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in, never cached; a refusal a view did not put on a form becomes a page.

    403 (RecordsForbiddenError, PrescriptionsForbiddenError): the "not allowed" page with the
    reason. Any other ApplicationError: the same kind of page with its status (409, 400), so
    bad input never becomes a 500.
    """

    @login_required
    @never_cache
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ApplicationError as error:
            if error.status_code == 403:
                return forbidden(request, error.message)
            context = {"message": error.message, "status": error.status_code}
            return render(request, "prescriptions/refused.html", context, status=error.status_code)

    return wrapper


def base_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {"time_zone": viewer_zone(request), **extra}


def not_a_page_for(request: HttpRequest) -> Http404:
    """The 404 of a page this role has no use for (recorded, as records does)."""
    audit_record_denied(
        actor=request.user, action="prescriptions.page.open", target_type="page", target_id=request.path
    )
    return Http404("No such page.")


def replacement_of(prescription: Prescription) -> Prescription | None:
    """The prescription that supersedes (or, as a draft, will supersede) this one."""
    try:
        return prescription.superseded_by
    except ObjectDoesNotExist:
        return None


# --- Where a prescription stands ----------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """What the lists and the detail page say about a prescription's state."""

    key: str
    label: str
    items: list[ItemState]

    @property
    def active(self) -> bool:
        return self.key in ("valid", "partly")


STANDING_LABELS = {
    "draft": "Draft: not signed",
    "valid": "Valid",
    "partly": "Partly dispensed",
    "dispensed": "Dispensed",
    "expired": "Expired",
    "cancelled": "Cancelled",
    "superseded": "Replaced",
    "invalid": "Does not match its signature",
}


def standing_of(prescription: Prescription, verification: Verification | None) -> Standing:
    if verification is None:
        return Standing("draft", STANDING_LABELS["draft"], [])
    key = verification.verdict.value
    if verification.verdict == Verdict.VALID and any(state.dispensed for state in verification.items):
        key = "partly"
    return Standing(key, STANDING_LABELS[key], verification.items)


def lines_of(prescription: Prescription, standing: Standing | None) -> list[dict[str, Any]]:
    """The medicines as the templates show them: each item with its dispensing state, if signed."""
    if standing is not None and standing.items:
        return [{"item": state.item, "state": state} for state in standing.items]
    return [{"item": item, "state": None} for item in prescription.items.all()]


@dataclass
class Row:
    """One prescription in a list, with what the list says about it."""

    prescription: Prescription
    standing: Standing
    replacement: Prescription | None = None
    latest_refill: Any = None
    may_request_refill: bool = False

    @property
    def lines(self) -> list[dict[str, Any]]:
        return lines_of(self.prescription, self.standing)

    @property
    def open_refill(self) -> Any:
        refill = self.latest_refill
        return refill if refill is not None and refill.status == RefillStatus.OPEN else None


def rows_of(prescriptions: Iterable[Prescription], *, patient_side: bool) -> list[Row]:
    listed = list(prescriptions)
    replacements = {rx.supersedes_id: rx for rx in listed if rx.supersedes_id}
    states = listed_states(listed)
    rows = []
    for rx in listed:
        refills = list(rx.refill_requests.all()) if _prefetched(rx, "refill_requests") else []
        row = Row(
            prescription=rx,
            standing=standing_of(rx, states.get(rx.pk)),
            replacement=replacements.get(rx.pk),
            latest_refill=refills[0] if refills else None,
        )
        row.may_request_refill = patient_side and rx.status == PrescriptionStatus.SIGNED and row.open_refill is None
        rows.append(row)
    return rows


def _prefetched(instance: Any, name: str) -> bool:
    return name in getattr(instance, "_prefetched_objects_cache", {})


def split_rows(rows: list[Row]) -> dict[str, list[Row]]:
    """Drafts; current (signed: the active ones first); past (cancelled, replaced)."""
    current = [row for row in rows if row.prescription.status == PrescriptionStatus.SIGNED]
    current.sort(key=lambda row: not row.standing.active)
    return {
        "drafts": [row for row in rows if row.prescription.status == PrescriptionStatus.DRAFT],
        "current": current,
        "past": [
            row
            for row in rows
            if row.prescription.status in (PrescriptionStatus.CANCELLED, PrescriptionStatus.SUPERSEDED)
        ],
    }


# --- The lists ------------------------------------------------------------------------------------


@prescriptions_page
@require_safe
def prescription_list(request: HttpRequest) -> HttpResponse:
    """The patient's side: their "My prescriptions" (or the patient a proxy acts for). A doctor:
    their desk; a nurse: a patient picker. `?patient=<id>` for a clinician: that patient's
    prescriptions (read-only for a nurse)."""
    role = request.user.role
    if role == Role.PATIENT:
        return chart_list(request, acting_for_patient_id(request) or request.user.pk)
    if role not in (Role.DOCTOR, Role.NURSE):
        raise not_a_page_for(request)
    if request.GET.get("patient"):
        return chart_list(request, request.GET["patient"])
    if role == Role.DOCTOR:
        return doctor_desk(request)
    context = base_context(request, patients=list(chart_patients_for_clinician(request.user)))
    return render(request, "prescriptions/nurse_picker.html", context)


def chart_list(request: HttpRequest, patient_id: object) -> HttpResponse:
    access = access_chart_for_user(request.user, patient_id, section="prescriptions")
    prescriptions = prescriptions_for_chart(access)
    rows = rows_of(prescriptions, patient_side=access.patient_side)
    context = base_context(
        request,
        access=access,
        patient=access.patient,
        may_prescribe=access.may(Need.CLINICAL),
        **split_rows(rows),
    )
    return render(request, "prescriptions/list.html", context)


def doctor_desk(request: HttpRequest) -> HttpResponse:
    user = request.user
    drafts = prescriptions_written_by(user, status=PrescriptionStatus.DRAFT)
    recent = (
        prescriptions_written_by(user).exclude(status=PrescriptionStatus.DRAFT).order_by("-signed_at", "-pk")[:RECENT]
    )
    drafts, recent = list(drafts), list(recent)
    prescriptions_shown(user, [*drafts, *recent])
    context = base_context(
        request,
        drafts=rows_of(drafts, patient_side=False),
        recent=rows_of(recent, patient_side=False),
        queue_count=refill_queue_for_prescriber(user).count(),
        patients=list(chart_patients_for_clinician(user)),
    )
    return render(request, "prescriptions/desk.html", context)


# --- The editor ---------------------------------------------------------------------------------


def appointment_choices(request: HttpRequest, access: ChartAccess) -> list[tuple[str, str]]:
    zone = viewer_zone(request)
    choices = []
    for appointment in appointments_of_patient_for_notes(access.patient)[:50]:
        local = appointment.starts_at.astimezone(zone)
        label = f"{local.day} {local:%b %Y, %H:%M} · {appointment.appointment_type.name} with {appointment.provider}"
        choices.append((str(appointment.pk), label))
    return choices


def _editor(
    request: HttpRequest,
    access: ChartAccess,
    form: PrescriptionForm,
    rows: ItemRows,
    *,
    prescription: Prescription | None = None,
    status: int = 200,
) -> HttpResponse:
    if prescription is None:
        action = reverse("prescriptions:new") + f"?patient={access.patient.pk}"
        back = reverse("prescriptions:list") + f"?patient={access.patient.pk}"
    else:
        action = reverse("prescriptions:edit", args=[prescription.pk])
        back = reverse("prescriptions:detail", args=[prescription.pk])
    context = base_context(
        request,
        access=access,
        patient=access.patient,
        prescription=prescription,
        form=form,
        rows=rows,
        action=action,
        back=back,
    )
    return render(request, "prescriptions/editor.html", context, status=status)


def _saved(
    request: HttpRequest,
    access: ChartAccess,
    save: Callable[[dict[str, Any], list[dict[str, Any]]], Prescription],
    *,
    prescription: Prescription | None = None,
) -> HttpResponse:
    """The editor's POST: more rows, or validate, save through `save`, go to the prescription."""
    choices = appointment_choices(request, access)
    form = PrescriptionForm(request.POST, appointments=choices)
    rows = ItemRows(request.POST)
    if request.POST.get("intent") == "more":
        form = PrescriptionForm(initial=request.POST.dict(), appointments=choices)
        return _editor(request, access, form, rows.with_more_rows(), prescription=prescription)
    header_ok = form.is_valid()
    if rows.is_valid() and header_ok:
        try:
            saved = save(form.cleaned_data, rows.items())
        except ApplicationError as error:
            if error.status_code == 403:
                raise
            field = "appointment" if error.code == PrescriptionsErrorCode.APPOINTMENT_MISMATCH else None
            form.add_error(field, error.message)
            form._mark_invalid()
            return _editor(request, access, form, rows, prescription=prescription, status=error.status_code)
        messages.success(request, "The draft was saved. Check it, then sign it below.")
        return redirect("prescriptions:detail", pk=saved.pk)
    return _editor(request, access, form, rows, prescription=prescription, status=400)


@prescriptions_page
def prescription_new(request: HttpRequest) -> HttpResponse:
    """A new draft for `?patient=<id>` (a doctor caring for the patient; 403/404 for others)."""
    patient_id = request.GET.get("patient")
    if not patient_id:
        if request.user.role == Role.DOCTOR:
            messages.info(request, "Choose the patient to write a prescription for.")
        return redirect("prescriptions:list")
    access = access_chart_for_user(
        request.user, patient_id, need=Need.CLINICAL, action="prescriptions.prescription.create"
    )
    if request.method == "POST":

        def save(header: dict[str, Any], items: list[dict[str, Any]]) -> Prescription:
            return prescribing.prescription_create(
                actor=request.user,
                patient=access.patient,
                items=items,
                appointment_id=header["appointment"] or None,
                valid_days=header["valid_days"],
            )

        return _saved(request, access, save)
    form = PrescriptionForm(appointments=appointment_choices(request, access), initial={"valid_days": 180})
    return _editor(request, access, form, ItemRows(count=3))


@prescriptions_page
def prescription_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a draft (its author). A signed prescription is revised instead."""
    posting = request.method == "POST"
    access = access_prescription_for_user(
        request.user,
        pk,
        action="prescriptions.prescription.update" if posting else "prescriptions.prescription.view",
        record_read=not posting,
    )
    prescription = access.prescription
    if prescription.status != PrescriptionStatus.DRAFT:
        messages.error(request, "A signed prescription is never edited: revise it (a new prescription replaces it).")
        return redirect("prescriptions:detail", pk=prescription.pk)
    if not posting and not (access.is_author and access.may_prescribe):
        return forbidden(request, "Only the doctor who wrote this prescription may change it.")
    if posting:

        def save(header: dict[str, Any], items: list[dict[str, Any]]) -> Prescription:
            return prescribing.prescription_update(
                actor=request.user,
                prescription=prescription,
                items=items,
                appointment_id=header["appointment"] or None,
                valid_days=header["valid_days"],
            )

        return _saved(request, access.chart, save, prescription=prescription)
    initial = {"appointment": prescription.appointment_id or "", "valid_days": prescription.valid_days}
    form = PrescriptionForm(appointments=appointment_choices(request, access.chart), initial=initial)
    return _editor(request, access.chart, form, rows_for(list(prescription.items.all())), prescription=prescription)


# --- One prescription ---------------------------------------------------------------------------


def detail_page(
    request: HttpRequest,
    access: PrescriptionAccess,
    *,
    sign_form: SignForm | None = None,
    cancel_form: CancelForm | None = None,
    refill_form: RefillRequestForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The prescription page: what it says, where it stands, and the forms this user may use."""
    prescription = access.prescription
    user = request.user
    draft = prescription.status == PrescriptionStatus.DRAFT
    clinician = not access.patient_side
    standing = standing_of(prescription, None if draft else verdict_for(prescription))
    refills = list(prescription.refill_requests.select_related("decided_by", "requested_by").order_by("-created_at"))
    context = base_context(
        request,
        access=access,
        prescription=prescription,
        patient=prescription.patient,
        clinician_view=clinician,
        standing=standing,
        lines=lines_of(prescription, standing),
        dispenses=list(prescription.dispenses.select_related("item")) if not draft else [],
        refills=refills,
        open_refill=next((refill for refill in refills if refill.status == RefillStatus.OPEN), None),
        replacement=replacement_of(prescription),
        fingerprint=signing.fingerprint_for_display(prescription.signing_key.fingerprint)
        if prescription.signing_key_id
        else "",
        back=_back_to_list(access),
    )
    may_sign = draft and access.is_author and access.may_prescribe
    if may_sign:
        warnings = [
            warning.as_dict() for warning in prescribing.prescription_check(actor=user, prescription=prescription)
        ]
        form = sign_form or SignForm(warns=bool(warnings))
        if not warnings:
            form.fields.pop("override_reason", None)
        context |= {"warnings": warnings, "sign_form": form}
    may_cancel = access.may_prescribe and (
        prescription.status == PrescriptionStatus.SIGNED or (draft and access.is_author)
    )
    if may_cancel:
        context["cancel_form"] = cancel_form or CancelForm(auto_id="id_cancel_%s")
    context["may_revise"] = (
        access.may_prescribe and prescription.status == PrescriptionStatus.SIGNED and context["replacement"] is None
    )
    if refill_form is not None:
        context["refill_form"] = refill_form
    elif access.may_request_refill and context["open_refill"] is None:
        context["refill_form"] = RefillRequestForm(auto_id="id_refill_%s")
    return render(request, "prescriptions/detail.html", context, status=status)


def _back_to_list(access: PrescriptionAccess) -> str:
    url = reverse("prescriptions:list")
    return url if access.patient_side else f"{url}?patient={access.prescription.patient_id}"


@prescriptions_page
@require_safe
def prescription_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return detail_page(request, access_prescription_for_user(request.user, pk))


@prescriptions_page
@require_POST
def prescription_sign(request: HttpRequest, pk: int) -> HttpResponse:
    """Sign a draft with a fresh authenticator code (and a reason when the check warns)."""
    access = access_prescription_for_user(
        request.user, pk, action="prescriptions.prescription.sign", record_read=False, need=RxNeed.PRESCRIBE
    )
    form = SignForm(request.POST, warns=True)
    if not form.is_valid():
        return detail_page(request, access, sign_form=form, status=400)
    try:
        prescribing.prescription_sign(
            actor=request.user,
            prescription=access.prescription,
            otp_code=form.cleaned_data["otp_code"],
            override_reason=form.cleaned_data.get("override_reason", ""),
        )
    except UnacknowledgedWarnings as error:
        form.add_error("override_reason", "Give a reason to override the warnings, or change the prescription.")
        form.add_error(None, error.message)
        form._mark_invalid()
        return detail_page(request, access, sign_form=form, status=error.status_code)
    except ApplicationError as error:
        if error.status_code == 403:
            raise
        if error.code == PrescriptionsErrorCode.SIGNED:
            # Signed meanwhile (another tab): there is no sign form to show the message on.
            messages.error(request, error.message)
            return detail_page(request, access, status=error.status_code)
        form.add_error("otp_code" if error.code in OTP_CODES else None, error.message)
        form._mark_invalid()
        return detail_page(request, access, sign_form=form, status=error.status_code)
    messages.success(request, "The prescription is signed. The patient can now read it and download the paper.")
    return redirect("prescriptions:detail", pk=access.prescription.pk)


@prescriptions_page
@require_POST
def prescription_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_prescription_for_user(
        request.user, pk, action="prescriptions.prescription.cancel", record_read=False, need=RxNeed.PRESCRIBE
    )
    form = CancelForm(request.POST, auto_id="id_cancel_%s")
    if form.is_valid():
        try:
            prescribing.prescription_cancel(
                actor=request.user, prescription=access.prescription, reason=form.cleaned_data["reason"]
            )
        except ApplicationError as error:
            if error.status_code == 403:
                raise
            if error.status_code == 409:
                # Already cancelled or replaced: no form to correct, only the news.
                messages.error(request, error.message)
                return detail_page(request, access, status=error.status_code)
            form.add_service_error(error)
            return detail_page(request, access, cancel_form=form, status=error.status_code)
        messages.success(request, "The prescription is cancelled. A pharmacy checking it will see that it is.")
        return redirect("prescriptions:detail", pk=access.prescription.pk)
    return detail_page(request, access, cancel_form=form, status=400)


@prescriptions_page
@require_POST
def prescription_revise(request: HttpRequest, pk: int) -> HttpResponse:
    """A new draft with the same items that replaces the signed one once it is signed."""
    access = access_prescription_for_user(
        request.user, pk, action="prescriptions.prescription.revise", record_read=False, need=RxNeed.PRESCRIBE
    )
    existing = replacement_of(access.prescription) if access.may_prescribe else None
    if existing is not None:
        # One replacement per prescription (the database holds it): go to the one there is.
        messages.info(request, f"This prescription already has a replacement ({existing.public_id}).")
        return redirect("prescriptions:detail", pk=existing.pk)
    draft = prescribing.prescription_revise(actor=request.user, prescription=access.prescription)
    messages.success(
        request, f"A new draft replaces {access.prescription.public_id} once you sign it. Change what is needed."
    )
    return redirect("prescriptions:edit", pk=draft.pk)


@prescriptions_page
@require_safe
def prescription_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The paper a pharmacy dispenses from (audited by the selector)."""
    prescription, pdf = prescription_paper_for_user(request.user, pk)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="prescription-{prescription.public_id}.pdf"'
    # Health data: no shared or browser cache may keep a copy.
    response["Cache-Control"] = "no-store, private"
    return response
