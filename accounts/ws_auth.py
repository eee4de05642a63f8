"""WebSocket sign-in: the session's second factor, and `?ticket=` for mobile clients.

A browser's socket carries its session cookie (AuthMiddlewareStack). django-otp's
OTPMiddleware runs for HTTP requests only, so a session user reaches a consumer without
`is_verified()`: this middleware gives it the device the session was verified with, as
OTPMiddleware would, so the access policy treats a staff socket like the staff's pages.

A mobile client has no cookie and must never put a JWT in a URL (URLs end up in logs), so it
trades its access token for a random ticket that works once, within 30 seconds.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from django_otp import DEVICE_ID_SESSION_KEY

from accounts.services.tokens import otp_device_attach, ws_ticket_consume


def _session_user_with_device(scope):
    """The session user with `otp_device` / `is_verified()` set from the session (None unverified)."""
    user = scope.get("user")
    session = scope.get("session")
    if user is None or not user.is_authenticated or session is None:
        return user
    return otp_device_attach(user, session.get(DEVICE_ID_SESSION_KEY))


class TicketAuthMiddleware(BaseMiddleware):
    """Sets `scope["user"]` from a `ticket` query parameter; without one, the session user,
    OTP-verified when its session is.

    A ticket that is unknown, expired or already used makes the connection anonymous (it does
    not fall back to the cookie), so consumers refuse it as they refuse any anonymous socket.
    """

    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "ticket" in query:
            user = await database_sync_to_async(ws_ticket_consume)(ticket=query["ticket"][0])
        else:
            user = await database_sync_to_async(_session_user_with_device)(scope)
        scope = {**scope, "user": user or AnonymousUser()}
        return await super().__call__(scope, receive, send)
