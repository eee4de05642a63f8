"""Files (documents): streaming AES-256-GCM, so a large file never sits whole in memory.

The construction is STREAM (Hoang, Reyhanitabar, Rogaway, Vizár, 2015) as Tink's
AES-GCM-HKDF streaming AEAD uses it. A stream is a header, then segments:

    header  = b"TMS" || 0x01 (version) || len(key id) || key id
              || segment size (4 bytes, big-endian) || salt (32 random bytes)
              || nonce prefix (7 random bytes)
    segment = AES-256-GCM(stream key, nonce, plaintext segment, aad = header || context)
    stream key = HKDF-SHA256(FIELD_ENCRYPTION_KEYS[key id], salt, info=b"telemed.crypto.stream.v1")
    nonce   = nonce prefix || segment index (4 bytes, big-endian) || 0x01 on the last segment, else 0x00

Every segment holds `segment size` bytes of plaintext except the last, which holds 0 to
`segment size` (an empty file is one empty last segment). The index in the nonce makes a
reordered or repeated segment fail; the last-segment byte makes a stream cut at a segment
boundary fail (the segment now at the end was sealed as "not last"); the header in the
associated data binds the key id, sizes and salt; the context binds the stream to its
document. A fresh key per stream (the random salt) means nonces never repeat under one key
however many files are encrypted.

Decryption yields each segment once it authenticates. A consumer (a download view) may
already have sent earlier segments when a later one fails: it must treat DecryptionError
mid-stream as a failed transfer (abort the response), never as a complete file.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from telemed.crypto.aead import TAG_BYTES, check_context
from telemed.crypto.errors import DecryptionError, UnknownKeyError
from telemed.crypto.keys import KEY_ID_RE, current_key_id, keyring

MAGIC = b"TMS"
VERSION = 1
SEGMENT_SIZE = 64 * 1024
MAX_SEGMENT_SIZE = 16 * 1024 * 1024  # what a decryptor agrees to buffer for one segment
SALT_BYTES = 32
NONCE_PREFIX_BYTES = 7
_INFO = b"telemed.crypto.stream.v1"
# The longest header: magic, version, id length, a 16-character id, segment size, salt, prefix.
MAX_HEADER_BYTES = len(MAGIC) + 2 + 16 + 4 + SALT_BYTES + NONCE_PREFIX_BYTES


def encrypt_stream(chunks: Iterable[bytes], *, context: bytes, segment_size: int = SEGMENT_SIZE) -> Iterator[bytes]:
    """Yield the header, then one encrypted segment at a time, under the current key."""
    check_context(context)
    if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(f"segment_size must be between 1 and {MAX_SEGMENT_SIZE} bytes.")
    keys = keyring()
    key_id = next(iter(keys))
    salt, prefix = os.urandom(SALT_BYTES), os.urandom(NONCE_PREFIX_BYTES)
    encoded_id = key_id.encode("ascii")
    header = MAGIC + bytes([VERSION, len(encoded_id)]) + encoded_id + segment_size.to_bytes(4, "big") + salt + prefix
    aead = AESGCM(_stream_key(keys[key_id], salt))
    aad = header + context
    yield header

    index = 0
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        # Strictly more than one segment buffered: the first is known not to be the last.
        while len(buffer) > segment_size:
            yield aead.encrypt(_nonce(prefix, index, last=False), bytes(buffer[:segment_size]), aad)
            del buffer[:segment_size]
            index = _next(index)
    yield aead.encrypt(_nonce(prefix, index, last=True), bytes(buffer), aad)


def decrypt_stream(chunks: Iterable[bytes], *, context: bytes) -> Iterator[bytes]:
    """Yield the plaintext segment by segment; DecryptionError on any alteration or truncation."""
    check_context(context)
    buffer = bytearray()
    iterator = iter(chunks)
    parsed = None
    for chunk in iterator:
        buffer += chunk
        parsed = _parse_header(bytes(buffer[:MAX_HEADER_BYTES]), complete=False)
        if parsed is not None:
            break
    if parsed is None:
        _parse_header(bytes(buffer), complete=True)  # raises: the stream ended inside its header
        raise DecryptionError("Encrypted stream is truncated.")
    key_id, segment_size, salt, prefix, header_length = parsed
    key = keyring().get(key_id)
    if key is None:
        raise UnknownKeyError(f"Encrypted under key id {key_id!r}, which FIELD_ENCRYPTION_KEYS does not hold.")
    aead = AESGCM(_stream_key(key, salt))
    aad = bytes(buffer[:header_length]) + context
    del buffer[:header_length]
    sealed_size = segment_size + TAG_BYTES

    index = 0
    # b"" first: the chunk that completed the header may already hold whole segments.
    for chunk in itertools.chain([b""], iterator):
        buffer += chunk
        while len(buffer) > sealed_size:
            yield _open(aead, _nonce(prefix, index, last=False), bytes(buffer[:sealed_size]), aad)
            del buffer[:sealed_size]
            index = _next(index)
    # What is left must be the last segment: sealed as last, at this index.
    yield _open(aead, _nonce(prefix, index, last=True), bytes(buffer), aad)


def stream_key_id(head: bytes) -> str:
    """The key id of an encrypted stream, from its first bytes (at least MAX_HEADER_BYTES or the
    whole header); nothing is decrypted. What rotate_keys reads to pass over current files."""
    parsed = _parse_header(bytes(head[:MAX_HEADER_BYTES]), complete=True)
    if parsed is None:
        raise DecryptionError("Encrypted stream is truncated.")
    return parsed[0]


def stream_needs_rotation(head: bytes) -> bool:
    return stream_key_id(head) != current_key_id()


def _parse_header(data: bytes, *, complete: bool) -> tuple[str, int, bytes, bytes, int] | None:
    """The header's fields and length; None while `data` may still be a prefix of a header
    (and `complete` is False); DecryptionError when it cannot be one."""
    fixed = len(MAGIC) + 2
    if data[: len(MAGIC)] != MAGIC[: len(data)]:
        raise DecryptionError("Not an encrypted stream (bad magic).")
    if len(data) >= fixed:
        if data[len(MAGIC)] != VERSION:
            raise DecryptionError(f"Unknown encrypted stream version {data[len(MAGIC)]}.")
        id_length = data[len(MAGIC) + 1]
        end = fixed + id_length + 4 + SALT_BYTES + NONCE_PREFIX_BYTES
        if len(data) >= end:
            try:
                key_id = data[fixed : fixed + id_length].decode("ascii")
            except UnicodeDecodeError:
                raise DecryptionError("Malformed key id in stream header.") from None
            if not KEY_ID_RE.fullmatch(key_id):
                raise DecryptionError("Malformed key id in stream header.")
            at = fixed + id_length
            segment_size = int.from_bytes(data[at : at + 4], "big")
            if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
                raise DecryptionError("Encrypted stream header has an impossible segment size.")
            at += 4
            salt, prefix = data[at : at + SALT_BYTES], data[at + SALT_BYTES : end]
            return key_id, segment_size, salt, prefix, end
    if complete:
        raise DecryptionError("Encrypted stream is truncated (incomplete header).")
    return None


def _stream_key(key: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(key)


def _nonce(prefix: bytes, index: int, *, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _next(index: int) -> int:
    if index + 1 >= 2**32:
        raise ValueError("Stream too long: more than 2**32 segments.")
    return index + 1


def _open(aead: AESGCM, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < TAG_BYTES:
        raise DecryptionError("Encrypted stream is truncated.")
    try:
        return aead.decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise DecryptionError(
            "Encrypted stream does not authenticate: truncated, reordered or altered, "
            "or made for another context, or under another key."
        ) from None
