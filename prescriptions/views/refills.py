"""Refill requests: the patient's side asks on the prescription's page (or from the list); the
refill queue of a doctor: open requests on prescriptions they wrote, oldest first, each
with the safety check of its medicines and the forms that approve it (a new prescription,
signed with a fresh authenticator code) or decline it (with a reason the patient reads).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from accounts.models import Role
from prescriptions.errors import UnacknowledgedWarnings
from prescriptions.forms import DeclineForm, RefillRequestForm, SignForm
from prescriptions.models import Prescription, PrescriptionStatus
from prescriptions.selectors import (
    RxNeed,
    access_prescription_for_user,
    access_refill_request_for_user,
    refill_queue_for_prescriber,
)
from prescriptions.services.prescribing import prescription_check
from prescriptions.services.refills import refill_request_approve, refill_request_create, refill_request_decline
from prescriptions.views.pages import (
    OTP_CODES,
    base_context,
    detail_page,
    lines_of,
    not_a_page_for,
    prescriptions_page,
    replacement_of,
)
from telemed.errors import ApplicationError

# The queue shows the oldest requests first, this many at a time (each runs the safety check
# against the patient's chart); answering them brings the next ones up.
QUEUE_PAGE = 20


def _forms(refill_id: int, bound: dict[str, Any]) -> dict[str, Any]:
    return {
        "approve": bound.get("approve") or SignForm(warns=True, auto_id=f"id_approve{refill_id}_%s"),
        "decline": bound.get("decline") or DeclineForm(auto_id=f"id_decline{refill_id}_%s"),
    }


def queue_page(
    request: HttpRequest, *, bound: dict[int, dict[str, Any]] | None = None, status: int = 200
) -> HttpResponse:
    """The queue, with forms that came back with errors (by request id) in place of blank ones."""
    if request.user.role != Role.DOCTOR:
        raise not_a_page_for(request)
    bound = bound or {}
    queue = refill_queue_for_prescriber(request.user)
    waiting = queue.count()
    entries = []
    for refill in queue[:QUEUE_PAGE]:
        prescription = refill.prescription
        warnings = [warning.as_dict() for warning in prescription_check(actor=request.user, prescription=prescription)]
        forms = _forms(refill.pk, bound.get(refill.pk, {}))
        if not warnings:
            forms["approve"].fields.pop("override_reason", None)
        entries.append(
            {
                "refill": refill,
                "prescription": prescription,
                "lines": lines_of(prescription, None),
                "warnings": warnings,
                **forms,
            }
        )
    context = base_context(request, entries=entries, waiting=waiting, more=max(0, waiting - QUEUE_PAGE))
    return render(request, "prescriptions/refill_queue.html", context, status=status)


@prescriptions_page
@require_safe
def refill_queue(request: HttpRequest) -> HttpResponse:
    return queue_page(request)


def _refused(request: HttpRequest, refill_id: int, name: str, form: Any, *, status: int) -> HttpResponse:
    """A refusal shown on the request's form, or above the queue when the request is not in it
    (answered meanwhile, or a colleague's patient's request answered from elsewhere)."""
    form._mark_invalid()
    if refill_queue_for_prescriber(request.user).filter(pk=refill_id).exists():
        return queue_page(request, bound={refill_id: {name: form}}, status=status)
    for errors in form.errors.values():
        for message in errors:
            messages.error(request, message)
    return queue_page(request, status=status)


def _replacement_error(existing: Prescription) -> str:
    if existing.status == PrescriptionStatus.DRAFT:
        return (
            f"A revision of this prescription is being written ({existing.public_id}, a draft): "
            "sign it, or decline this request."
        )
    return (
        f"This prescription already has a replacement ({existing.public_id}, "
        f"{existing.get_status_display().lower()}): decline this request, and write a new prescription if one "
        "is needed."
    )


@prescriptions_page
@require_POST
def refill_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve: a new prescription with the same medicines, signed now, replacing the old one."""
    action = "prescriptions.refill.approve"
    refill, access = access_refill_request_for_user(request.user, pk, action=action, need=RxNeed.PRESCRIBE)
    form = SignForm(request.POST, warns=True, auto_id=f"id_approve{refill.pk}_%s")
    if not form.is_valid():
        return _refused(request, refill.pk, "approve", form, status=400)
    existing = replacement_of(access.prescription)
    if existing is not None:
        # One replacement per prescription (the database holds it): a revision already took it.
        form.add_error(None, _replacement_error(existing))
        return _refused(request, refill.pk, "approve", form, status=409)
    try:
        new = refill_request_approve(
            actor=request.user,
            refill=refill,
            otp_code=form.cleaned_data["otp_code"],
            override_reason=form.cleaned_data.get("override_reason", ""),
        )
    except UnacknowledgedWarnings as error:
        form.add_error("override_reason", "Give a reason to override the warnings, or decline the request.")
        form.add_error(None, error.message)
        return _refused(request, refill.pk, "approve", form, status=error.status_code)
    except ApplicationError as error:
        if error.status_code == 403:
            raise
        form.add_error("otp_code" if error.code in OTP_CODES else None, error.message)
        return _refused(request, refill.pk, "approve", form, status=error.status_code)
    messages.success(
        request, f"Refill approved: the new prescription {new.public_id} is signed, and the patient is told."
    )
    return redirect("prescriptions:detail", pk=new.pk)


@prescriptions_page
@require_POST
def refill_decline(request: HttpRequest, pk: int) -> HttpResponse:
    """Decline with a reason the patient reads."""
    action = "prescriptions.refill.decline"
    refill, _access = access_refill_request_for_user(request.user, pk, action=action, need=RxNeed.PRESCRIBE)
    form = DeclineForm(request.POST, auto_id=f"id_decline{refill.pk}_%s")
    if not form.is_valid():
        return _refused(request, refill.pk, "decline", form, status=400)
    try:
        refill_request_decline(actor=request.user, refill=refill, reason=form.cleaned_data["reason"])
    except ApplicationError as error:
        if error.status_code == 403:
            raise
        form.add_service_error(error)
        return _refused(request, refill.pk, "decline", form, status=error.status_code)
    messages.success(request, "The refill request was declined. The patient is told, with your reason.")
    return redirect("prescriptions:refill_queue")


@prescriptions_page
@require_POST
def refill_request(request: HttpRequest, pk: int) -> HttpResponse:
    """The patient (or their proxy) asks for a refill, with an optional note."""
    access = access_prescription_for_user(
        request.user, pk, action="prescriptions.refill.request", record_read=False, need=RxNeed.REFILL
    )
    form = RefillRequestForm(request.POST, auto_id="id_refill_%s")
    if form.is_valid():
        try:
            refill_request_create(actor=request.user, prescription=access.prescription, note=form.cleaned_data["note"])
        except ApplicationError as error:
            if error.status_code == 403:
                raise
            form.add_service_error(error)
            return detail_page(request, access, refill_form=form, status=error.status_code)
        prescriber = access.prescription.prescriber_name or access.prescription.prescriber
        messages.success(request, f"Your refill request was sent to {prescriber}. You will be told the answer.")
        if request.POST.get("from") == "list":
            return redirect("prescriptions:list")
        return redirect("prescriptions:detail", pk=access.prescription.pk)
    return detail_page(request, access, refill_form=form, status=400)
