"""The API's global rate limits, per client address as the trusted proxies tell it.

DRF's own AnonRateThrottle and UserRateThrottle identify a client by the whole
X-Forwarded-For header when NUM_PROXIES is unset, so a client sending a new header with
every request gets a new counter every time. These count by `telemed.middleware.client_ip`,
which believes X-Forwarded-For only from TRUSTED_PROXIES (as django-axes does).
"""

from __future__ import annotations

from rest_framework import throttling

from telemed.middleware import client_ip


class AnonRateThrottle(throttling.AnonRateThrottle):
    """The "anon" rate (API_THROTTLE_ANON) per client address."""

    def get_ident(self, request) -> str:
        return client_ip(request)


class UserRateThrottle(throttling.UserRateThrottle):
    """The "user" rate (API_THROTTLE_USER) per signed-in user, or per client address for anyone else."""

    def get_ident(self, request) -> str:
        return client_ip(request)
