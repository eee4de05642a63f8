"""ASGI entry point: HTTP through Django, WebSockets through Channels (daphne serves both)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telemed.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from accounts.ws_auth import TicketAuthMiddleware  # noqa: E402
from telemed.asgi_limits import BodySizeLimit  # noqa: E402
from telemed.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # An oversized body is refused before Django buffers it (telemed.asgi_limits).
        "http": BodySizeLimit(django_asgi_app),
        # The Origin header must name one of ALLOWED_HOSTS: another site cannot open a
        # socket with the user's cookie.
        # A mobile client's single-use `?ticket=` replaces the (absent) session user.
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(TicketAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
