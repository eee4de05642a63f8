"""The note editor: start a SOAP note, save the draft, sign and lock it, discard it; a signed
note shows locked, attributed and timestamped, with its amendments and a form to add one.

The editor's two buttons post the same fields: "Save draft" keeps it a draft, "Sign and lock"
saves and signs in one go, so what is signed is exactly what the doctor saw.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from appointments.selectors import appointments_of_patient_for_notes
from records.errors import RecordsError, RecordsForbiddenError
from records.forms import AmendmentForm, NoteForm
from records.models import ClinicalNote
from records.selectors import ChartAccess, Need, access_chart_for_user, access_note_for_user
from records.services.notes import note_amend, note_create, note_discard, note_sign, note_update
from records.views.common import chart_url, forbidden, records_page, viewer_zone
from telemed.errors import ApplicationError

SIGN = "sign"


def _appointment_choices(request: HttpRequest, access: ChartAccess) -> list[tuple[str, str]]:
    zone = viewer_zone(request)
    choices = []
    for appointment in appointments_of_patient_for_notes(access.patient)[:50]:
        local = appointment.starts_at.astimezone(zone)
        label = f"{local.day} {local:%b %Y, %H:%M} · {appointment.appointment_type.name}"
        label += f" with {appointment.provider}"
        choices.append((str(appointment.pk), label))
    return choices


def _sign(request: HttpRequest, note: ClinicalNote) -> bool:
    try:
        note_sign(note, actor=request.user)
    except ApplicationError as error:
        messages.error(request, f"The draft was saved but not signed: {error.message}")
        return False
    messages.success(request, "The note is signed and locked. Later changes are added as amendments.")
    return True


def _editor(request: HttpRequest, access: ChartAccess, form: NoteForm, *, note: Any = None, status: int = 200):
    context = {
        "access": access,
        "patient": access.patient,
        "note": note,
        "form": form,
        "back": chart_url(access, "notes"),
        "time_zone": viewer_zone(request),
    }
    return render(request, "records/note_edit.html", context, status=status)


@records_page
def note_new(request: HttpRequest, patient_id: int) -> HttpResponse:
    access = access_chart_for_user(request.user, patient_id, need=Need.CLINICAL, action="records.clinicalnote.create")
    choices = _appointment_choices(request, access)
    if request.method != "POST":
        initial = {"appointment": request.GET.get("appointment", "")}
        return _editor(request, access, NoteForm(appointments=choices, initial=initial, prefix="note"))
    form = NoteForm(request.POST, appointments=choices, prefix="note")
    if form.is_valid():
        try:
            note = note_create(
                actor=request.user,
                patient=access.patient,
                appointment_id=form.cleaned_data["appointment"] or None,
                **form.soap(),
            )
        except (ValidationError, ApplicationError) as error:
            form.add_service_error(error)
        else:
            if request.POST.get("intent") == SIGN:
                _sign(request, note)
            else:
                messages.success(request, "The draft was saved.")
            return redirect("records:note", note_id=note.pk)
    return _editor(request, access, form, status=400)


def _note_page(request: HttpRequest, note: ClinicalNote, access: ChartAccess, **forms: Any) -> dict[str, Any]:
    editable = not note.is_signed and note.author_id == request.user.pk and access.may(Need.CLINICAL)
    context: dict[str, Any] = {
        "access": access,
        "patient": access.patient,
        "note": note,
        "editable": editable,
        "back": chart_url(access, "notes"),
        "time_zone": viewer_zone(request),
    }
    if editable:
        context["form"] = forms.get("form") or NoteForm(
            appointments=_appointment_choices(request, access),
            initial={"appointment": note.appointment_id or "", **{name: getattr(note, name) for name in NoteForm.SOAP}},
            prefix="note",
        )
    if note.is_signed and access.may(Need.CLINICAL):
        context["amend_form"] = forms.get("amend_form") or AmendmentForm(prefix="amend")
    return context


@records_page
def note_detail(request: HttpRequest, note_id: int) -> HttpResponse:
    """A note: the author's draft in the editor, someone else's draft read-only, a signed note locked."""
    if request.method != "POST":
        note, access = access_note_for_user(request.user, note_id)
        return render(request, "records/note.html", _note_page(request, note, access))
    note, access = access_note_for_user(request.user, note_id, need=Need.CLINICAL, action="records.clinicalnote.update")
    if note.is_signed:
        messages.error(request, "This note is signed: add an amendment instead.")
        return redirect("records:note", note_id=note.pk)
    form = NoteForm(request.POST, appointments=_appointment_choices(request, access), prefix="note")
    if form.is_valid():
        try:
            note = note_update(
                note, actor=request.user, appointment_id=form.cleaned_data["appointment"] or None, **form.soap()
            )
        except RecordsForbiddenError:
            # Someone else's draft: the 403 page says why (the service recorded the refusal).
            raise
        except (ValidationError, ApplicationError) as error:
            form.add_service_error(error)
        else:
            if request.POST.get("intent") == SIGN:
                _sign(request, note)
            else:
                messages.success(request, "The draft was saved.")
            return redirect("records:note", note_id=note.pk)
    return render(request, "records/note.html", _note_page(request, note, access, form=form), status=400)


@records_page
@require_POST
def note_amend_view(request: HttpRequest, note_id: int) -> HttpResponse:
    note, access = access_note_for_user(request.user, note_id, need=Need.CLINICAL, action="records.clinicalnote.amend")
    form = AmendmentForm(request.POST, prefix="amend")
    if form.is_valid():
        try:
            note_amend(note, actor=request.user, reason=form.cleaned_data["reason"], text=form.cleaned_data["text"])
        except (ValidationError, ApplicationError) as error:
            form.add_service_error(error)
        else:
            messages.success(request, "The amendment was added after the signed note.")
            return redirect(reverse("records:note", args=[note.pk]) + "#amendments")
    return render(request, "records/note.html", _note_page(request, note, access, amend_form=form), status=400)


@records_page
def note_discard_view(request: HttpRequest, note_id: int) -> HttpResponse:
    """Ask, then throw away the author's draft (a signed note is never removed)."""
    note, access = access_note_for_user(
        request.user, note_id, need=Need.CLINICAL, action="records.clinicalnote.discard"
    )
    if note.is_signed:
        messages.error(request, "A signed note is never removed; add an amendment instead.")
        return redirect("records:note", note_id=note.pk)
    if request.method != "POST" and note.author_id != request.user.pk:
        return forbidden(request, "Only the author discards a draft note.")
    if request.method == "POST":
        # Someone else's draft: the service refuses (recorded) and the 403 page says why.
        try:
            note_discard(note, actor=request.user)
        except RecordsError as error:
            messages.error(request, error.message)
            return redirect("records:note", note_id=note.pk)
        messages.success(request, "The draft was discarded.")
        return redirect(chart_url(access, "notes"))
    context = {"access": access, "patient": access.patient, "note": note, "time_zone": viewer_zone(request)}
    return render(request, "records/note_discard.html", context)
