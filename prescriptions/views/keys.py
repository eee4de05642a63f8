"""The prescriber's signing keys, /prescriptions/keys/: the public half of each, and rotation.

A doctor sees their active key's fingerprint (what the paper and the verify page print) and
public key, and their retired keys (prescriptions signed with those still verify). They may
rotate (a new key for what they sign from now on) or, before their first signature, make their
key now. The private key is never shown. Anyone else signed in gets a 404, audited as refused,
like the records pages for a role they are not for (the key pages are not a patient's data, so
there is nothing to tell apart with a 403); signing in is asked first, and staff without a
verified second factor are sent to it by accounts.middleware.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Role
from audit.services import audit_record_denied
from prescriptions import signing
from prescriptions.selectors import prescriber_keys_for
from prescriptions.services.keys import prescriber_key_ensure, prescriber_key_rotate
from telemed.errors import ApplicationError
from telemed.timezones import viewer_zone


def _doctor_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in, never cached, and a 404 (audited) for anyone but a doctor."""

    @login_required
    @never_cache
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.role != Role.DOCTOR:
            audit_record_denied(
                actor=request.user, action="prescriptions.page.open", target_type="page", target_id=request.path
            )
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapper


def _keys_page(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    keys = [
        {"key": key, "fingerprint": signing.fingerprint_for_display(key.fingerprint)}
        for key in prescriber_keys_for(request.user)
    ]
    context = {
        "active": next((row for row in keys if row["key"].active), None),
        "retired": [row for row in keys if not row["key"].active],
        "time_zone": viewer_zone(request),
    }
    return render(request, "prescriptions/keys.html", context, status=status)


def _refused(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    messages.error(request, error.message)
    return _keys_page(request, status=error.status_code)


@_doctor_page
@require_http_methods(["GET", "HEAD", "POST"])
def key_list(request: HttpRequest) -> HttpResponse:
    """GET: the keys. POST: make the key now rather than at the first signature."""
    if request.method == "POST":
        try:
            key = prescriber_key_ensure(actor=request.user)
        except ApplicationError as error:
            return _refused(request, error)
        messages.success(
            request, f"Your signing key is ready: fingerprint {signing.fingerprint_for_display(key.fingerprint)}."
        )
        return redirect("prescriptions:keys")
    return _keys_page(request)


@_doctor_page
@require_POST
def key_rotate(request: HttpRequest) -> HttpResponse:
    try:
        key = prescriber_key_rotate(actor=request.user)
    except ApplicationError as error:
        return _refused(request, error)
    messages.success(
        request,
        f"New signing key: fingerprint {signing.fingerprint_for_display(key.fingerprint)}. "
        "Prescriptions signed with your old key still verify.",
    )
    return redirect("prescriptions:keys")
