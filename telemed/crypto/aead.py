"""Small values (health free text): AES-256-GCM under the current key, with a key id header.

A token is `header || nonce || ciphertext || tag`:

    header = 0x01 (version) || len(key id) (1 byte) || key id (ASCII)
    nonce  = 12 random bytes (96 bits, fresh for every encryption)
    tag    = 16 bytes

The associated data is `header || context`: the tag covers the version and key id, and a
token decrypts only with the context it was made for. Callers choose the context so that it
names where the value lives (b"records.allergy.reaction"); a ciphertext copied to another
field, or to another row when the context names the row, fails to decrypt.
"""

from __future__ import annotations

import functools
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from telemed.crypto.errors import DecryptionError, UnknownKeyError
from telemed.crypto.keys import KEY_ID_RE, current_key_id, keyring

VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16


def encrypt(plaintext: bytes, *, context: bytes) -> bytes:
    """Encrypt under the current key (the first of FIELD_ENCRYPTION_KEYS)."""
    check_context(context)
    keys = keyring()
    key_id = next(iter(keys))
    header = token_header(key_id)
    nonce = os.urandom(NONCE_BYTES)
    return header + nonce + _aead(keys[key_id]).encrypt(nonce, bytes(plaintext), header + context)


def decrypt(token: bytes, *, context: bytes) -> bytes:
    """The plaintext, or DecryptionError (UnknownKeyError when the key id is not configured)."""
    check_context(context)
    key_id, header_length = _parse_header(token)
    key = keyring().get(key_id)
    if key is None:
        raise UnknownKeyError(f"Encrypted under key id {key_id!r}, which FIELD_ENCRYPTION_KEYS does not hold.")
    header, rest = token[:header_length], token[header_length:]
    if len(rest) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("Encrypted value is truncated.")
    try:
        return _aead(key).decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], header + context)
    except InvalidTag:
        raise DecryptionError(
            "Encrypted value does not authenticate: altered, or made for another context, or under another key."
        ) from None


def key_id_of(token: bytes) -> str:
    """The id of the key a token was encrypted under (read from its header; nothing is decrypted)."""
    return _parse_header(token)[0]


def needs_rotation(token: bytes) -> bool:
    """True when the token was not encrypted under the current key."""
    return key_id_of(token) != current_key_id()


def reencrypt(token: bytes, *, context: bytes) -> bytes:
    """The same plaintext under the current key; a token already under it comes back unchanged."""
    if not needs_rotation(token):
        return token
    return encrypt(decrypt(token, context=context), context=context)


def token_header(key_id: str) -> bytes:
    if not KEY_ID_RE.fullmatch(key_id):
        raise DecryptionError("Malformed key id.")
    encoded = key_id.encode("ascii")
    return bytes([VERSION, len(encoded)]) + encoded


def _parse_header(token: bytes) -> tuple[str, int]:
    if not isinstance(token, bytes | bytearray | memoryview):
        raise TypeError(f"An encrypted token is bytes, not {type(token).__name__}.")
    token = bytes(token)
    if len(token) < 2:
        raise DecryptionError("Encrypted value is truncated.")
    if token[0] != VERSION:
        raise DecryptionError(f"Unknown encryption format version {token[0]}.")
    end = 2 + token[1]
    try:
        key_id = token[2:end].decode("ascii")
    except UnicodeDecodeError:
        raise DecryptionError("Malformed key id.") from None
    if len(token) < end or not KEY_ID_RE.fullmatch(key_id):
        raise DecryptionError("Malformed key id.")
    return key_id, end


def check_context(context: bytes) -> None:
    if not isinstance(context, bytes) or not context:
        raise TypeError("context must be non-empty bytes naming where the value lives.")


@functools.lru_cache(maxsize=32)
def _aead(key: bytes) -> AESGCM:
    return AESGCM(key)
