"""WebSocket routes of the messaging app (included by telemed/routing.py)."""

from django.urls import path

from messaging.consumers import ConversationConsumer

websocket_urlpatterns = [
    path("ws/conversations/<int:conversation_id>/", ConversationConsumer.as_asgi()),
]
