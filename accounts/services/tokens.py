"""JWT for mobile clients (simplejwt) and single-use WebSocket tickets.

Access tokens live 5 minutes and say whether the login was OTP-verified (`otp`, and the
device in `otp_device`). Refresh tokens rotate on every use and carry a `family` id shared
by every token rotated from one login: presenting a refresh token that was already rotated
means two parties hold that family, so the whole family is revoked (the reuse detection of
OAuth 2.0 Security BCP, section 4.14). Both kinds carry simplejwt's revoke claim, a hash of
the password hash: changing the password ends every token.
"""

from __future__ import annotations

import functools
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import jwt
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp.middleware import is_verified
from django_otp.models import Device
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.models import User
from accounts.services.mfa import totp_device_confirmed, totp_verify
from audit.services import audit_record, audit_record_denied
from telemed.errors import ApplicationError

if TYPE_CHECKING:
    from django_otp.plugins.otp_totp.models import TOTPDevice

OTP_CLAIM = "otp"
OTP_DEVICE_CLAIM = "otp_device"
FAMILY_CLAIM = "family"
WS_TICKET_PREFIX = "ws-ticket:"


class TokenErrorCode(StrEnum):
    INVALID_CREDENTIALS = "invalid_credentials"
    LOCKED_OUT = "locked_out"
    OTP_REQUIRED = "otp_required"
    OTP_INVALID = "otp_invalid"
    TOKEN_NOT_VALID = "token_not_valid"
    USER_INACTIVE = "user_inactive"
    PASSWORD_CHANGED = "password_changed"


class TokenRefusedError(ApplicationError):
    status_code = 401


def _token_not_valid() -> TokenRefusedError:
    return TokenRefusedError("Token is invalid or expired.", TokenErrorCode.TOKEN_NOT_VALID)


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    otp_verified: bool


class FamilyRefreshToken(RefreshToken):
    """A refresh token of one login's family; the family id stays out of access tokens."""

    no_copy_claims = (*RefreshToken.no_copy_claims, FAMILY_CLAIM)

    def check_blacklist(self) -> None:
        # Checked by token_refresh under a row lock instead: checked here, two concurrent
        # refreshes of one token would both pass before either blacklisted it.
        return None


def user_may_authenticate(user: User | None) -> bool:
    """simplejwt's USER_AUTHENTICATION_RULE: only active users get or use tokens."""
    return user is not None and user.is_active


def otp_device_attach(user: User, persistent_id: str | None) -> User:
    """Give `user` the `otp_device` / `is_verified()` that django-otp's middleware gives a session user.

    The device must still exist, belong to the user and be confirmed: an MFA reset by an admin
    (which deletes the device) turns every token minted with it into an unverified one.
    """
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    if device is not None and (device.user_id != user.pk or not device.confirmed):
        device = None
    user.otp_device = device  # type: ignore[attr-defined]
    user.is_verified = functools.partial(is_verified, user)  # type: ignore[attr-defined]
    return user


def _new_refresh(*, user: User, family: str, device_id: str | None) -> FamilyRefreshToken:
    token = FamilyRefreshToken()
    token[api_settings.USER_ID_CLAIM] = str(user.pk)
    token[api_settings.REVOKE_TOKEN_CLAIM] = get_md5_hash_password(user.password)
    token[FAMILY_CLAIM] = family
    token[OTP_CLAIM] = device_id is not None
    if device_id is not None:
        token[OTP_DEVICE_CLAIM] = device_id
    token.outstand()
    return token


def _pair(refresh: FamilyRefreshToken) -> TokenPair:
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh), otp_verified=bool(refresh[OTP_CLAIM]))


@transaction.atomic
def _token_pair_issue(*, user: User, device: TOTPDevice | None) -> TokenPair:
    refresh = _new_refresh(user=user, family=uuid.uuid4().hex, device_id=device.persistent_id if device else None)
    audit_record(
        actor=user,
        action="accounts.token.issue",
        target_type="accounts.user",
        target_id=user.pk,
        reason="OTP-verified" if device else "",
    )
    return _pair(refresh)


def token_obtain(*, request: HttpRequest, email: str, password: str, otp_code: str = "") -> TokenPair:
    """Check credentials (and the one-time code) and issue an access/refresh pair.

    `request` is the Django request, so django-axes counts failures and refuses a locked-out
    account or address. Staff roles, and anyone with a confirmed TOTP device, must send
    `otp_code`. Raises TokenRefusedError: invalid_credentials (the same for a wrong password,
    an unknown email and an inactive account), locked_out (429), otp_required, otp_invalid.
    Not one transaction: the failure counters and the device's last used code must stay written
    when the login is refused.
    """
    user = authenticate(request, username=email, password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            # Over HTTP, AxesMiddleware then answers instead with accounts.views.login.lockout_response:
            # under /api/ the same code as JSON, with the time left to wait and Retry-After.
            raise TokenRefusedError("Too many failed sign-ins.", TokenErrorCode.LOCKED_OUT, status_code=429)
        raise TokenRefusedError("The email or password is incorrect.", TokenErrorCode.INVALID_CREDENTIALS)

    device = None
    if otp_code:
        # Audits a refusal itself.
        device = totp_verify(user=user, code=otp_code)
        if device is None:
            raise TokenRefusedError("The one-time code is not valid.", TokenErrorCode.OTP_INVALID)
    elif user.is_staff_role or totp_device_confirmed(user=user) is not None:
        audit_record_denied(
            actor=user,
            action="accounts.token.issue",
            target_type="accounts.user",
            target_id=user.pk,
            reason="one-time code required",
        )
        raise TokenRefusedError("A one-time code from your authenticator app is required.", TokenErrorCode.OTP_REQUIRED)
    return _token_pair_issue(user=user, device=device)


class _RefreshReused(Exception):
    def __init__(self, user: User, family: str) -> None:
        super().__init__(family)
        self.user = user
        self.family = family


def _decode_refresh(raw: str) -> FamilyRefreshToken:
    try:
        token = FamilyRefreshToken(raw)  # type: ignore[arg-type]
    except TokenError:
        raise _token_not_valid() from None
    if not isinstance(token.get(FAMILY_CLAIM), str):
        raise _token_not_valid()
    return token


@transaction.atomic
def _rotate(presented: FamilyRefreshToken) -> TokenPair:
    # The lock closes the race of two refreshes of one token: the second waits for the first
    # to blacklist it and then sees the reuse.
    outstanding = (
        OutstandingToken.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(jti=presented[api_settings.JTI_CLAIM])
        .first()
    )
    user = outstanding.user if outstanding is not None else None
    if user is None or str(user.pk) != str(presented.get(api_settings.USER_ID_CLAIM)):
        raise _token_not_valid()
    if BlacklistedToken.objects.filter(token=outstanding).exists():
        raise _RefreshReused(user, presented[FAMILY_CLAIM])
    if not user_may_authenticate(user):
        raise TokenRefusedError("User is inactive.", TokenErrorCode.USER_INACTIVE)
    if presented.get(api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
        raise TokenRefusedError("The user's password has been changed.", TokenErrorCode.PASSWORD_CHANGED)
    BlacklistedToken.objects.create(token=outstanding)
    device_id = presented.get(OTP_DEVICE_CLAIM) if presented.get(OTP_CLAIM) else None
    return _pair(_new_refresh(user=user, family=presented[FAMILY_CLAIM], device_id=device_id))


def _family_of(stored: str) -> str | None:
    # Our own stored tokens: their signature was checked when they were presented or minted.
    payload = jwt.decode(stored, options={"verify_signature": False})
    return payload.get(FAMILY_CLAIM)


@transaction.atomic(durable=True)
def token_family_revoke(*, user: User, family: str, actor: User | None, reason: str) -> int:
    """Blacklist every outstanding refresh token of one login's family; return how many."""
    live = OutstandingToken.objects.select_for_update(of=("self",)).filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    ids = [token.pk for token in live if _family_of(token.token) == family]
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token_id=pk) for pk in ids], ignore_conflicts=True)
    audit_record(
        actor=actor,
        action="accounts.token.revoke",
        target_type="accounts.user",
        target_id=user.pk,
        reason=reason,
    )
    return len(ids)


def token_refresh(*, raw_refresh: str) -> TokenPair:
    """Rotate a refresh token: blacklist it and return a new pair of the same family.

    A refresh token that was already rotated (or signed out) revokes its whole family and is
    refused, so a stolen token works at most until its rightful holder refreshes. Raises
    TokenRefusedError: token_not_valid (expired, tampered, wrong audience or issuer, not a
    refresh token, reused), user_inactive, password_changed.
    """
    presented = _decode_refresh(raw_refresh)
    try:
        return _rotate(presented)
    except _RefreshReused as reused:
        token_family_revoke(
            user=reused.user,
            family=reused.family,
            actor=None,
            reason="a refresh token was used after rotation: every token of its login revoked",
        )
        raise _token_not_valid() from None


def token_logout(*, raw_refresh: str) -> None:
    """Sign a mobile login out: blacklist every refresh token of its family.

    Access tokens already issued stay valid until they expire (5 minutes at most).
    """
    presented = _decode_refresh(raw_refresh)
    outstanding = OutstandingToken.objects.select_related("user").filter(jti=presented[api_settings.JTI_CLAIM]).first()
    if outstanding is None or outstanding.user is None:
        raise _token_not_valid()
    token_family_revoke(
        user=outstanding.user, family=presented[FAMILY_CLAIM], actor=outstanding.user, reason="signed out"
    )


# --- WebSocket tickets ----------------------------------------------------------------------


def _redis_client():
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return backend._cache.get_client(write=True)
    return None


def _ticket_put(key: str, value: str, seconds: int) -> None:
    client = _redis_client()
    if client is not None:
        # Raw string, no pickling: _ticket_take reads it back with GETDEL on the same client.
        client.set(cache.make_and_validate_key(key), value, ex=seconds)
    else:
        cache.set(key, value, seconds)


def _ticket_take(key: str) -> str | None:
    """Read and delete in one step, so that a ticket opens one socket, never two."""
    client = _redis_client()
    if client is not None:
        raw = client.getdel(cache.make_and_validate_key(key))
        return raw.decode() if raw is not None else None
    value = cache.get(key)
    if value is None:
        return None
    # Two consumers may both read the value; only the one whose delete removed the key wins
    # (delete() reports it, atomically under the local-memory cache's lock).
    return value if cache.delete(key) else None


def ws_ticket_issue(*, user: User, otp_device_id: str | None) -> str:
    """A random single-use ticket for `?ticket=` on a WebSocket URL, valid WS_TICKET_SECONDS."""
    ticket = secrets.token_urlsafe(32)
    value = json.dumps({"user": user.pk, "device": otp_device_id, "issued": time.time()})
    _ticket_put(WS_TICKET_PREFIX + ticket, value, settings.WS_TICKET_SECONDS)
    return ticket


def ws_ticket_consume(*, ticket: str) -> User | None:
    """The active user the ticket was issued to (with otp_device set), or None; usable once."""
    if not ticket or len(ticket) > 64:
        return None
    value = _ticket_take(WS_TICKET_PREFIX + ticket)
    if value is None:
        return None
    data = json.loads(value)
    # The cache's expiry runs on the cache server's clock; this check runs on ours.
    if time.time() - data["issued"] > settings.WS_TICKET_SECONDS:
        return None
    user = User.objects.filter(pk=data["user"], is_active=True).first()
    if user is None:
        return None
    return otp_device_attach(user, data["device"])
