"""WebSocket sign-in for mobile clients: `?ticket=` from POST /api/v1/auth/ws-ticket/.

A browser's socket carries its session cookie (AuthMiddlewareStack). A mobile client has no
cookie and must never put a JWT in a URL (URLs end up in logs), so it trades its access token
for a random ticket that works once, within 30 seconds.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser

from accounts.services.tokens import ws_ticket_consume


class TicketAuthMiddleware(BaseMiddleware):
    """Sets `scope["user"]` from a `ticket` query parameter; without one, leaves the session user.

    A ticket that is unknown, expired or already used makes the connection anonymous (it does
    not fall back to the cookie), so consumers refuse it as they refuse any anonymous socket.
    """

    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "ticket" in query:
            user = await database_sync_to_async(ws_ticket_consume)(ticket=query["ticket"][0])
            scope = {**scope, "user": user or AnonymousUser()}
        return await super().__call__(scope, receive, send)
