"""The public verify page, /verify/rx/<public id>?c=<check code>: what the paper's QR code opens.

Anyone may open it (no sign-in): a pharmacist, the patient, a suspicious relative. It shows a
verdict that cannot be missed and, only for a genuine prescription, what a pharmacist needs:
the items with what is left of each, the prescriber and their licence, the key fingerprint,
the dates, and the patient's initials and year of birth (never the name, date of birth or
record number). An invalid prescription shows nothing from its rows: they cannot be trusted.
A wrong or missing check code is "not found" and tells nothing else.

A valid prescription can be dispensed on the same page with the dispense code printed on the
paper (not in the QR code). Every verification and dispense is audited by the selector and the
service. Checks and dispenses are rate-limited per client address (telemed.middleware.client_ip,
so a client cannot pose as new by sending its own X-Forwarded-For) at the API's rates, the
"rx_verify" and "rx_dispense" throttle scopes; over the limit nothing is looked up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import get_usage

from accounts.views.profile import AccessibleForm
from prescriptions import signing
from prescriptions.errors import PrescriptionsError
from prescriptions.models import PrescriptionItem
from prescriptions.selectors import prescription_by_codes, prescription_verify
from prescriptions.services.dispensing import dispense_record
from prescriptions.verification import Verdict, Verification
from telemed.middleware import client_ip
from telemed.timezones import viewer_zone

VERIFY_SCOPE = "rx_verify"
DISPENSE_SCOPE = "rx_dispense"

# The verdict heading, one or two words a pharmacist reads from arm's length.
VERDICT_LABEL = {
    Verdict.VALID: "Valid",
    Verdict.INVALID: "Invalid",
    Verdict.CANCELLED: "Cancelled",
    Verdict.SUPERSEDED: "Replaced",
    Verdict.EXPIRED: "Expired",
    Verdict.DISPENSED: "Already dispensed",
    Verdict.NOT_FOUND: "Not found",
}
# What the page may show of the prescription: nothing when its rows do not match the signature
# (or when there is no prescription), everything a pharmacist needs otherwise.
GENUINE = frozenset(Verdict) - {Verdict.INVALID, Verdict.NOT_FOUND}

_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def throttle_rate(scope: str) -> tuple[int, int]:
    """The API's throttle rate for `scope` ("30/min", as DRF reads it) as (requests, seconds).

    django-ratelimit takes that pair as a rate, so the page and the API share one setting.
    """
    rate = str(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope])
    match = re.fullmatch(r"\s*(\d+)\s*/\s*([smhd])[a-z]*\s*", rate)
    if match is None:
        raise ImproperlyConfigured(f'The {scope} rate "{rate}" is not like "30/min".')
    return int(match[1]), _PERIOD_SECONDS[match[2]]


def client_ip_key(group: str, request: HttpRequest) -> str:
    """django-ratelimit's key: the client address as the trusted proxies tell it."""
    return client_ip(request)


def _over_limit(request: HttpRequest, scope: str) -> int | None:
    """Count this request against `scope`; the seconds to wait if it is over the limit, else None."""
    usage = get_usage(
        request,
        group=f"prescriptions.{scope}",
        key=client_ip_key,
        rate=lambda group, request: throttle_rate(scope),
        increment=True,
    )
    if usage is None or not usage["should_limit"]:
        return None
    return max(1, int(usage["time_left"]))


def _public_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Never stored by a cache, never indexed (the URL holds the check code)."""

    @never_cache
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapper


class DispenseForm(AccessibleForm):
    """What the pharmacist types: the paper's dispense code, who dispenses, a quantity per item."""

    dispense_code = forms.CharField(
        label="Pharmacy dispense code (printed on the paper, not in the QR code)",
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "class": "input input--code",
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
            }
        ),
    )
    pharmacy = forms.CharField(
        label="Pharmacy",
        max_length=200,
        widget=forms.TextInput(attrs={"class": "input", "autocomplete": "organization"}),
    )
    pharmacist = forms.CharField(
        label="Pharmacist", max_length=200, widget=forms.TextInput(attrs={"class": "input", "autocomplete": "name"})
    )

    def __init__(self, *args: Any, items: list[PrescriptionItem], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.item_names = []
        for item in items:
            name = f"quantity_{item.position}"
            self.fields[name] = forms.IntegerField(
                label=f"{item.position}. {item.medication} {item.strength}".strip(),
                help_text=f"Handed over now, in {item.quantity_unit}. Leave empty for none.",
                required=False,
                min_value=0,
                widget=forms.NumberInput(attrs={"class": "input input--quantity", "inputmode": "numeric", "min": 0}),
            )
            self.item_names.append(name)

    def item_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.item_names]

    def other_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("dispense_code", "pharmacy", "pharmacist")]

    def lines(self) -> list[tuple[int, int]]:
        return [
            (int(name.removeprefix("quantity_")), self.cleaned_data[name])
            for name in self.item_names
            if self.cleaned_data.get(name)
        ]


def _actor(request: HttpRequest) -> Any:
    return request.user if request.user.is_authenticated else None


def _page_url(public_id: str, check_code: str) -> str:
    url = reverse("rx_verify", args=[public_id])
    return f"{url}?{urlencode({'c': check_code})}" if check_code else url


def _render(
    request: HttpRequest,
    public_id: str,
    check_code: str,
    verification: Verification,
    *,
    form: DispenseForm | None = None,
    status: int | None = None,
) -> HttpResponse:
    genuine = verification.verdict in GENUINE
    prescription = verification.prescription if genuine else None
    if form is None and verification.dispensable:
        form = DispenseForm(items=[state.item for state in verification.items])
    context = {
        "public_id": public_id[:32],
        "verdict": verification.verdict.value,
        "label": VERDICT_LABEL[verification.verdict],
        "verification": verification,
        "prescription": prescription,
        "items": verification.items if genuine else [],
        "patient_initials": verification.patient_initials if genuine else "",
        "patient_birth_year": verification.patient_birth_year if genuine else None,
        "fingerprint": (
            signing.fingerprint_for_display(prescription.signing_key.fingerprint)
            if prescription is not None and prescription.signing_key_id
            else ""
        ),
        "form": form,
        "action": _page_url(public_id, check_code),
        "time_zone": viewer_zone(request),
    }
    if status is None:
        status = 404 if verification.verdict == Verdict.NOT_FOUND else 200
    return render(request, "prescriptions/verify.html", context, status=status)


def _limited(request: HttpRequest, seconds: int) -> HttpResponse:
    response = render(request, "prescriptions/verify_limited.html", status=429)
    response["Retry-After"] = str(seconds)
    return response


def _typed_id(request: HttpRequest) -> str:
    # The entry form's id, reduced to what a public id can hold (it goes back into a URL).
    return re.sub(r"[^0-9A-Za-z]", "", request.GET.get("id", ""))[:32]


def _dispensed_message(verification: Verification, lines: list[tuple[int, int]]) -> str:
    by_position = {state.item.position: state for state in verification.items}
    handed = "; ".join(
        f"{by_position[position].item.medication} {quantity} {by_position[position].item.quantity_unit}"
        for position, quantity in lines
    )
    left = "; ".join(
        f"{state.item.medication} {state.remaining} {state.item.quantity_unit}"
        f" ({state.refills_left} refill{'' if state.refills_left == 1 else 's'} left)"
        for state in verification.items
    )
    return f"Dispense recorded: {handed}. Left to dispense: {left}."


@_public_page
@require_http_methods(["GET", "HEAD", "POST"])
def rx_verify_page(request: HttpRequest, public_id: str) -> HttpResponse:
    if request.method == "POST":
        return _dispense(request, public_id)
    wait = _over_limit(request, VERIFY_SCOPE)
    if wait is not None:
        return _limited(request, wait)
    check_code = request.GET.get("c", "").strip()[:64]
    typed = _typed_id(request)
    if typed and typed.upper() != public_id.upper():
        return redirect(_page_url(typed, check_code))
    if not check_code:
        # Nothing to check: no lookup, nothing audited; the form asks for the code.
        return _render(request, public_id, "", Verification(Verdict.NOT_FOUND))
    verification = prescription_verify(public_id, check_code, actor=_actor(request), via="page")
    return _render(request, public_id, check_code, verification)


def _dispense(request: HttpRequest, public_id: str) -> HttpResponse:
    wait = _over_limit(request, DISPENSE_SCOPE)
    if wait is not None:
        return _limited(request, wait)
    check_code = request.GET.get("c", "").strip()[:64]
    actor = _actor(request)
    prescription = prescription_by_codes(public_id, check_code)
    if prescription is None:
        # The selector records the failed lookup; the page tells nothing more.
        return _render(request, public_id, check_code, prescription_verify(public_id, check_code, actor=actor))
    form = DispenseForm(request.POST, items=list(prescription.items.all()))
    status = 400
    if form.is_valid():
        lines = form.lines()
        try:
            after = dispense_record(
                prescription=prescription,
                dispense_code=form.cleaned_data["dispense_code"],
                lines=lines,
                pharmacy=form.cleaned_data["pharmacy"],
                pharmacist=form.cleaned_data["pharmacist"],
                actor=actor,
            )
        except PrescriptionsError as error:
            form.add_service_error(error)
            status = error.status_code
        else:
            messages.success(request, _dispensed_message(after, lines))
            return redirect(_page_url(public_id, check_code))
    # Shown again with the current state (what is left may have changed), read as a verification.
    verification = prescription_verify(public_id, check_code, actor=actor, via="page")
    return _render(request, public_id, check_code, verification, form=form, status=status)
