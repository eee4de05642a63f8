"""JWT authentication that tells views, as django-otp tells pages, whether the login was OTP-verified."""

from __future__ import annotations

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed as SimpleJWTAuthenticationFailed
from rest_framework_simplejwt.exceptions import InvalidToken

from accounts.services.tokens import OTP_CLAIM, OTP_DEVICE_CLAIM, otp_device_attach

__all__ = ["OtpAwareJWTAuthentication"]


class OtpAwareJWTAuthentication(JWTAuthentication):
    """`Authorization: Bearer <access token>`; sets `user.otp_device` and `user.is_verified()`.

    simplejwt checks signature, expiry, audience, issuer, token type, the revoke claim
    (password changed) and that the user is still active. Its errors carry a dict as detail;
    they are re-raised flat so the project handler answers {"detail", "code"}.
    """

    def authenticate(self, request: Request):
        try:
            result = super().authenticate(request)
        except InvalidToken:
            raise exceptions.AuthenticationFailed("Token is invalid or expired.", code="token_not_valid") from None
        except SimpleJWTAuthenticationFailed as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {}
            raise exceptions.AuthenticationFailed(
                str(detail.get("detail", "Authentication failed.")),
                code=str(detail.get("code", "authentication_failed")),
            ) from None
        if result is None:
            return None
        user, token = result
        otp_device_attach(user, token.get(OTP_DEVICE_CLAIM) if token.get(OTP_CLAIM) is True else None)
        return user, token


class OtpAwareJWTScheme(SimpleJWTScheme):
    """OpenAPI: the bearer scheme of OtpAwareJWTAuthentication (registered by being defined)."""

    target_class = "accounts.api.authentication.OtpAwareJWTAuthentication"
    name = "jwtAuth"
