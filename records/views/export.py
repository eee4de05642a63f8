"""The patient's copy of their record, as a download: JSON and PDF (records.services.export).

For the signed-in patient, or the patient a proxy acts for (accounts' "acting for" switch; a
proxy who has not switched downloads their own). Anyone else meets 404, audited as denied.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from accounts.context_processors import acting_for_patient_id
from accounts.models import Scope
from accounts.selectors import access_patient_for_user
from records.selectors import EXPORT_ACTION
from records.services.export import CONTENT_TYPES, export_filename, record_export_json, record_export_pdf


def _export(request: HttpRequest, render: Callable[..., bytes], *, fmt: str) -> HttpResponse:
    user = request.user
    patient, _decision = access_patient_for_user(
        user, acting_for_patient_id(request) or user.pk, action=EXPORT_ACTION, scope=Scope.RECORDS_VIEW
    )
    response = HttpResponse(render(actor=user, patient=patient), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{export_filename(fmt)}"'
    # The whole record: no shared or browser cache may keep a copy.
    response["Cache-Control"] = "no-store, private"
    return response


@login_required
@never_cache
@require_safe
def export_json(request: HttpRequest) -> HttpResponse:
    return _export(request, record_export_json, fmt="json")


@login_required
@never_cache
@require_safe
def export_pdf(request: HttpRequest) -> HttpResponse:
    return _export(request, record_export_pdf, fmt="pdf")
