"""Which time zone to show times in (stored times are UTC; see STYLE.md "Settings and time")."""

from __future__ import annotations

import zoneinfo
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpRequest


def zone_or_default(name: str | None) -> zoneinfo.ZoneInfo:
    """A ZoneInfo for `name`, or the clinic's zone when it is empty or unknown."""
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        # A directory name ("Europe") raises IsADirectoryError, an OSError.
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def viewer_zone(request: HttpRequest) -> zoneinfo.ZoneInfo:
    """The viewer's zone: the `tz` cookie that static/js/time-zone.js sets, else the clinic's."""
    return zone_or_default(unquote(request.COOKIES.get("tz", "")))
