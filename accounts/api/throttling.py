"""Rate limits of the sign-in endpoints, per client address as the trusted proxies tell it."""

from rest_framework.throttling import ScopedRateThrottle

from telemed.middleware import client_ip


class AuthRateThrottle(ScopedRateThrottle):
    """The "auth" rate (API_THROTTLE_AUTH) per client IP.

    DRF's own identification believes any X-Forwarded-For header, so a client could take a
    new identity per request; telemed.middleware.client_ip believes only TRUSTED_PROXIES.
    """

    scope_attr = "throttle_scope"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}
