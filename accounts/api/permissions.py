"""Staff roles reach health data only after a second factor, through a page or a token."""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class StaffOtpVerified(BasePermission):
    """Refuse (403 `otp_required`) a doctor, nurse or admin whose login was not OTP-verified.

    `user.is_verified()` comes from django-otp's middleware for a session and from
    OtpAwareJWTAuthentication for a token; a user without it counts as not verified.
    Anonymous users pass here and are refused by IsAuthenticated.
    """

    message = "Two-step verification is required: sign in again with a code from your authenticator app."
    code = "otp_required"

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        if user is None or not user.is_authenticated or not getattr(user, "is_staff_role", False):
            return True
        is_verified = getattr(user, "is_verified", None)
        return bool(callable(is_verified) and is_verified())
