"""Ids that come from outside (URLs, forms, JSON) are parsed here, never trusted."""

from __future__ import annotations


def positive_id(value: object) -> int | None:
    """`value` as a positive integer id, or None for anything else ("abc", "-1", None, "1.5")."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
