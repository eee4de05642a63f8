"""What a prescription signature is: Ed25519 over a canonical serialization.

Canonical form (`canonical_bytes`): JSON with keys sorted, no insignificant whitespace, UTF-8
(not \\u-escaped), integers as integers, and no floats (quantities and strengths are strings
as written: a float would print differently on another machine). Any value that JSON cannot
say exactly is refused with TypeError rather than guessed. The same bytes are produced
whatever the dict order, so a verifier (the public page, `manage.py rx_verify`, a pharmacist's
own tool) recomputes them from the fields and checks the signature with the prescriber's
public key, found by its fingerprint.

Fingerprint: the first 16 bytes of SHA-256 over the raw 32-byte public key, as 32 hex digits,
shown in groups of four on the prescriber's profile.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32


def _check(value: Any, path: str = "$") -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path}: keys must be strings, not {type(key).__name__}")
            _check(item, f"{path}.{key}")
        return
    raise TypeError(f"{path}: {type(value).__name__} has no canonical form (use a string)")


def canonical_bytes(document: dict[str, Any]) -> bytes:
    """The bytes that are signed for `document` (see the module docstring)."""
    _check(document)
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def new_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_bytes(key: Ed25519PrivateKey) -> bytes:
    """The raw 32-byte private key (to be encrypted before it is stored)."""
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def private_key_from_bytes(raw: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def fingerprint(public_key: bytes) -> str:
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return hashlib.sha256(public_key).hexdigest()[:32]


def fingerprint_for_display(value: str) -> str:
    """`a1b2c3d4…` as `A1B2 C3D4 …`, easier to read aloud and compare on paper."""
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4)).upper()


def sign(key: Ed25519PrivateKey, document: dict[str, Any]) -> bytes:
    return key.sign(canonical_bytes(document))


def verify(public_key: bytes, document: dict[str, Any], signature: bytes) -> bool:
    """True only when `signature` is `public_key`'s signature of exactly this document."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, canonical_bytes(document))
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True
