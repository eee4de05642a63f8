"""What goes wrong when reading encrypted data.

Not an ApplicationError: a token that does not decrypt is corrupted or tampered data (or a
missing key), never a rule the caller broke, so it must surface as a server error and be
investigated, not be turned into a form error.
"""

from __future__ import annotations


class DecryptionError(Exception):
    """The token or stream is malformed, was altered, or belongs to another context or key."""


class UnknownKeyError(DecryptionError):
    """The token names a key id that FIELD_ENCRYPTION_KEYS does not hold (a dropped key)."""
