"""The canonical form of an audit event and its keyed hash; shared by appending and verifying."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings

# Every field of AuditEvent except `id` (assigned by the database after hashing) and `hash`
# itself, in a fixed order. A test fails when a model field is added and not listed here.
HASHED_FIELDS: tuple[str, ...] = (
    "seq",
    "occurred_at",
    "actor_id",
    "actor_role",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "patient_id",
    "ip",
    "user_agent",
    "request_id",
    "reason",
    "breakglass",
    "prev_hash",
)

# Bumped if the canonical form ever changes, so old and new rows stay verifiable.
CANONICAL_VERSION = "v1"


def normalize_ip(value: str | None) -> str | None:
    """The one spelling of an address that SQLite and PostgreSQL (inet) both give back, or None."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        return None


def _canonical_time(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit times must be aware")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(values: Mapping[str, Any]) -> bytes:
    """A byte string that changes whenever any hashed field changes (a JSON array, fixed order)."""
    row: list[Any] = [CANONICAL_VERSION]
    for name in HASHED_FIELDS:
        value = values[name]
        if name == "occurred_at":
            value = _canonical_time(value)
        elif name == "ip":
            value = normalize_ip(value)
        elif name == "breakglass":
            value = bool(value)
        row.append(value)
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def compute_hash(values: Mapping[str, Any]) -> str:
    """HMAC-SHA256 under settings.AUDIT_HMAC_KEY; without the key nobody can forge a link."""
    key = settings.AUDIT_HMAC_KEY.encode("utf-8")
    return hmac.new(key, canonical_bytes(values), hashlib.sha256).hexdigest()


def hashes_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
