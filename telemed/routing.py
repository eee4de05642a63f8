"""Every WebSocket route of the project; apps add theirs here (see CONTRIBUTING.md)."""

from django.urls import path

from messaging.routing import websocket_urlpatterns as messaging_sockets
from telemed.consumers import PingConsumer

websocket_urlpatterns = [
    path("ws/ping/", PingConsumer.as_asgi()),
    *messaging_sockets,
]
