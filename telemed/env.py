"""Typed access to the environment.

Every setting comes from the environment (optionally a `.env` file). A value that is
present but malformed fails loudly with ImproperlyConfigured instead of silently
falling back to a default: a typo in production must stop the process.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from telemed.crypto.keys import parse_keys

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

_UNSET = object()


def read_dotenv(path: Path) -> None:
    """Load `path` into os.environ without overriding variables already set."""
    if path.is_file():
        environ.Env.read_env(str(path), overwrite=False)


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str | object = _UNSET) -> str:
    value = _raw(name)
    if value is None or value == "":
        if default is _UNSET:
            raise ImproperlyConfigured(f"The environment variable {name} is required.")
        return str(default)
    return value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no, on/off).")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name)
    if value is None or value == "":
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_database_url(name: str) -> dict | None:
    value = _raw(name)
    if not value:
        return None
    if not value.startswith(("postgres://", "postgresql://")):
        raise ImproperlyConfigured(f"{name} must be a postgres:// URL (got scheme {value.split(':', 1)[0]!r}).")
    return environ.Env.db_url_config(value)


def env_email_url(name: str, default: str) -> dict:
    value = _raw(name) or default
    try:
        return environ.Env.email_url_config(value)
    except Exception as exc:  # django-environ raises several types for a bad URL
        raise ImproperlyConfigured(f"{name}={value!r} is not a valid email URL: {exc}") from None


def env_encryption_keys(name: str, default: str) -> dict[str, bytes]:
    """`<key id>:<base64 32-byte key>,...` → {key id: key}, the current (first) key first."""
    value = _raw(name) or default
    if not value:
        return {}
    try:
        return parse_keys(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}.") from None
