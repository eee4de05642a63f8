"""The sessions page (end one, sign out everywhere) and the keep-alive ping of the timeout warning."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.mfa.selectors import user_session_list_for_user
from accounts.middleware import USER_SESSION_ID, sign_out
from accounts.services.sessions import user_session_end, user_sessions_end_all


@never_cache
@login_required
def sessions_list(request: HttpRequest) -> HttpResponse:
    current_id = request.session.get(USER_SESSION_ID)
    sessions = list(user_session_list_for_user(request.user))
    for row in sessions:
        row.is_current = row.pk == current_id
    return render(request, "accounts/sessions.html", {"sessions": sessions})


@login_required
@require_POST
def session_end(request: HttpRequest) -> HttpResponse:
    raw = request.POST.get("session_id", "")
    if not raw.isdigit():
        raise Http404("No such session.")
    row = user_session_end(actor=request.user, user_session_id=int(raw))
    if row.pk == request.session.get(USER_SESSION_ID):
        # Ending this very session is signing out.
        sign_out(request, reason="ended from the sessions page")
        messages.info(request, "You are signed out.")
        return redirect("accounts:login")
    messages.success(request, "That session is signed out.")
    return redirect("accounts:sessions")


@login_required
@require_POST
def sessions_end_all(request: HttpRequest) -> HttpResponse:
    count = user_sessions_end_all(actor=request.user)
    sign_out(request, reason="signed out everywhere")
    messages.success(request, f"You are signed out everywhere ({count} session{'s' if count != 1 else ''}).")
    return redirect("accounts:login")


@require_POST
def session_ping(request: HttpRequest) -> HttpResponse:
    """'Stay signed in': reaching here already counted as activity (SessionSecurityMiddleware).

    401 when the session is gone, so the page's script can send the person to sign in.
    """
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Your session has ended.", "code": "not_authenticated"}, status=401)
    return JsonResponse({"idle_seconds": getattr(request, "session_idle_seconds", None)})
