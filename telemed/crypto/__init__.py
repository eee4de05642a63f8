"""Encryption at rest for health data: free text (telemed.crypto.fields) and files (streams).

AES-256-GCM (`cryptography`) under FIELD_ENCRYPTION_KEYS; every token names its key id so keys
rotate. See docs/security.md, "Encryption at rest". EncryptedTextField lives in
telemed.crypto.fields (it imports the ORM; this package's primitives do not).
"""

from telemed.crypto.aead import decrypt, encrypt, key_id_of, needs_rotation, reencrypt
from telemed.crypto.errors import DecryptionError, UnknownKeyError
from telemed.crypto.keys import current_key_id, parse_keys
from telemed.crypto.stream import decrypt_stream, encrypt_stream, stream_key_id, stream_needs_rotation

__all__ = [
    "DecryptionError",
    "UnknownKeyError",
    "current_key_id",
    "decrypt",
    "decrypt_stream",
    "encrypt",
    "encrypt_stream",
    "key_id_of",
    "needs_rotation",
    "parse_keys",
    "reencrypt",
    "stream_key_id",
    "stream_needs_rotation",
]
