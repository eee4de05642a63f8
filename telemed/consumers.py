"""A tiny authenticated echo socket: proves the WebSocket stack end to end.

It follows the rule every consumer of a signed-in user follows (docs/security.md): join the
user's group on connect and close when the user's sessions are revoked (deactivation, MFA
reset, "sign out everywhere").
"""

import json

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.services.sessions import user_group

# Application close code: the server ended the session; the client must sign in again.
CLOSE_SESSION_REVOKED = 4403


class PingConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.user_group = user_group(user.pk)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        group = getattr(self, "user_group", None)
        if group:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict) or content.get("type") != "ping":
            await self.send_json({"type": "error", "code": "bad_frame", "detail": 'Expected {"type": "ping"}.'})
            return
        await self.send_json({"type": "pong"})

    async def session_revoked(self, event: dict) -> None:
        await self.close(code=CLOSE_SESSION_REVOKED)

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return json.loads(text_data)
        except ValueError:
            return None
