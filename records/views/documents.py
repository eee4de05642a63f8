"""Documents: upload into a chart, and the authorized, audited download
(`records.downloads.document_response`)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from records.downloads import document_response
from records.errors import RecordsError, RecordsForbiddenError
from records.forms import DocumentUploadForm, EnteredInErrorForm
from records.selectors import Need, access_chart_for_user, access_document_for_user
from records.services.documents import document_mark_entered_in_error, document_open, document_upload
from records.views.common import chart_page, chart_url, records_page
from telemed.errors import ApplicationError


@records_page
@require_POST
def document_upload_view(request: HttpRequest, patient_id: int) -> HttpResponse:
    access = access_chart_for_user(request.user, patient_id, need=Need.UPLOAD, action="records.document.upload")
    form = DocumentUploadForm(request.POST, request.FILES, prefix="document")
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            document = document_upload(
                actor=request.user,
                patient=access.patient,
                upload=data["file"],
                title=data["title"],
                category=data["category"],
            )
        except RecordsError as error:
            # Too large, empty, a refused type, malware, the scanner down: all about the file.
            form.add_error("file", error.message)
            form._mark_invalid()
            status = error.status_code
        except (ValidationError, ApplicationError) as error:
            form.add_service_error(error)
        else:
            messages.success(request, f"“{document.title}” was added to the chart.")
            return redirect(chart_url(access, "documents"))
    return chart_page(request, access.patient.pk, bound={"document": form}, status=status)


@records_page
@require_GET
def document_download(request: HttpRequest, public_id: str) -> HttpResponse:
    document, access = access_document_for_user(request.user, public_id)
    try:
        chunks = document_open(document, actor=request.user)
    except RecordsError as error:
        context = {
            "document": document,
            "message": error.message,
            "integrity": error.status_code == 409,
            "back": chart_url(access, "documents"),
        }
        return render(request, "records/document_unavailable.html", context, status=error.status_code)
    return document_response(request, document, chunks)


@records_page
def document_withdraw(request: HttpRequest, public_id: str) -> HttpResponse:
    """Withdraw a document filed by mistake, with a reason: kept in storage, hidden, no longer
    downloadable. The patient withdraws what they uploaded; a doctor caring for them, any."""
    document, access = access_document_for_user(
        request.user, public_id, need=Need.UPLOAD, action="records.document.entered_in_error"
    )
    back = chart_url(access, "documents")
    if document.status == "entered_in_error":
        messages.info(request, "This document is already withdrawn.")
        return redirect(back)
    status = 200
    if request.method == "POST":
        form = EnteredInErrorForm(request.POST, prefix="error")
        if form.is_valid():
            try:
                document_mark_entered_in_error(document, actor=request.user, reason=form.cleaned_data["reason"])
            except RecordsForbiddenError:
                raise  # the forbidden page (records_page), not a form error
            except (ValidationError, ApplicationError) as error:
                form.add_service_error(error)
            else:
                messages.success(request, f"“{document.title}” was withdrawn from the chart.")
                return redirect(back)
        status = 400
    else:
        form = EnteredInErrorForm(prefix="error")
    context = {"access": access, "patient": access.patient, "document": document, "form": form, "back": back}
    return render(request, "records/document_withdraw.html", context, status=status)
