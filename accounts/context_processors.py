"""The "acting for" switch of proxies: which patient the signed-in user is acting for.

`accounts.views.proxy.proxy_switch` stores the patient's id in the session under
`ACTING_FOR_SESSION_KEY` after checking an active grant; every page then gets `acting_for`
(the patient, or None for "me") and `acting_for_choices` (the people the user may act for),
re-checked on each request so that a revoked or expired grant stops showing at once.
Domain views read the same choice with `acting_for_patient_id(request)` and still pass it
through `accounts.selectors.access_patient_for_user` with the scope they need.
"""

from __future__ import annotations

from django.http import HttpRequest

from accounts.selectors import proxy_grant_active_for, proxy_grants_for_user

ACTING_FOR_SESSION_KEY = "acting_for_patient_id"


def acting_for_patient_id(request: HttpRequest) -> int | None:
    """The patient id the user chose to act for, if their grant is still active; else None."""
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if user is None or not user.is_authenticated or session is None:
        return None
    chosen = session.get(ACTING_FOR_SESSION_KEY)
    if chosen is None:
        return None
    grant = proxy_grant_active_for(user, chosen)
    return grant.patient_id if grant is not None else None


def acting_for(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if user is None or not user.is_authenticated or session is None:
        return {"acting_for": None}
    chosen = session.get(ACTING_FOR_SESSION_KEY)
    grant = proxy_grant_active_for(user, chosen) if chosen is not None else None
    return {
        "acting_for": grant.patient if grant is not None else None,
        # Lazily evaluated: only pages that offer the switch run this query.
        "acting_for_choices": proxy_grants_for_user(user),
    }
