"""The Django admin behind an OTP-verified session (django-otp's OTPAdminSite)."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django_otp.admin import OTPAdminSite


class PortalAdminSite(OTPAdminSite):
    """OTPAdminSite lets in only `user.is_verified()` staff. Its own login form would be a second
    sign-in door (no lockout page, no session records), so the admin's login goes to the portal's."""

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return redirect_to_login(request.GET.get("next") or reverse("admin:index"), reverse("accounts:login"))
