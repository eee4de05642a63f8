"""The keys of encryption at rest: parsed from FIELD_ENCRYPTION_KEYS, read from settings.

The environment holds `<key id>:<base64 of 32 bytes>,...`. The first key is the current one
(everything new is encrypted under it); every listed key decrypts. Rotation prepends a key.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_BYTES = 32  # AES-256
KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,16}")


def parse_keys(text: str) -> dict[str, bytes]:
    """`"b:<base64>,a:<base64>"` → `{"b": key, "a": key}` in order; ValueError on any flaw."""
    entries = [entry.strip() for entry in text.split(",")]
    if not text.strip() or any(not entry for entry in entries):
        raise ValueError("expected a comma-separated list of <key id>:<base64 32-byte key>, with no empty entry")
    keys: dict[str, bytes] = {}
    for entry in entries:
        key_id, sep, encoded = entry.partition(":")
        key_id, encoded = key_id.strip(), encoded.strip()
        if not sep:
            raise ValueError(f"entry {_shown(key_id)} is not <key id>:<base64 key>")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"the key of {_shown(key_id)} is not valid base64") from None
        _add(keys, key_id, key)
    return keys


def _add(keys: dict[str, bytes], key_id: str, key: bytes) -> None:
    if not KEY_ID_RE.fullmatch(key_id):
        raise ValueError(f"key id {_shown(key_id)} must be 1-16 characters of A-Z, a-z, 0-9, _ and -")
    if key_id in keys:
        raise ValueError(f"key id {key_id!r} appears twice")
    if len(key) != KEY_BYTES:
        raise ValueError(f"the key of {key_id!r} is {len(key)} bytes, not {KEY_BYTES}")
    keys[key_id] = key


def keyring() -> dict[str, bytes]:
    """settings.FIELD_ENCRYPTION_KEYS, checked again: a test or an override may have replaced it."""
    configured = getattr(settings, "FIELD_ENCRYPTION_KEYS", None)
    if not isinstance(configured, Mapping) or not configured:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must hold at least one key.")
    checked: dict[str, bytes] = {}
    try:
        for key_id, key in configured.items():
            _add(checked, key_id, bytes(key))
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS: {exc}") from None
    return checked


def current_key_id() -> str:
    return next(iter(keyring()))


def _shown(key_id: str) -> str:
    # Never echo what may be key material into a startup error (and so into logs).
    return repr(key_id) if KEY_ID_RE.fullmatch(key_id) else "<malformed>"
