"""EncryptedTextField: a TextField whose column holds only ciphertext.

Stored form: `enc:v1:<key id>:<urlsafe base64 of nonce || ciphertext || tag>` (the token of
telemed.crypto.aead with its header written as text). The associated data is
"<app_label>.<model_name>.<field name>" (or the field's `associated_data`): a value copied
into another field or model does not decrypt. It does not name the row: the primary key is
not known before the INSERT, and encrypting in two steps would leave a window with a row
whose column cannot be checked. Copying a value between two rows of one field is therefore
not detected by the cipher; the access policy, not the column, decides who reads a row.

The empty string is stored as "", not encrypted. AES-GCM does not hide length (a ciphertext
is its plaintext's length plus a fixed overhead), so an encrypted "" would be recognisable as empty
anyway; storing "" says the same thing, needs no key to read, and keeps `blank=True` fields
and `default=""` migrations free of key material. NULL stays NULL.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.core import checks
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import models

from telemed.crypto.aead import decrypt, encrypt, token_header
from telemed.crypto.errors import DecryptionError
from telemed.crypto.keys import KEY_ID_RE, current_key_id

PREFIX = "enc:v1:"


def encrypt_text(plaintext: str, *, context: bytes) -> str:
    """`plaintext` under the current key, in the stored text form (`enc:v1:<kid>:<base64>`)."""
    token = encrypt(plaintext.encode("utf-8"), context=context)
    key_id_length = token[1]
    key_id = token[2 : 2 + key_id_length].decode("ascii")
    body = base64.urlsafe_b64encode(token[2 + key_id_length :]).decode("ascii")
    return f"{PREFIX}{key_id}:{body}"


def decrypt_text(stored: str, *, context: bytes) -> str:
    """The plaintext of a stored value; DecryptionError when it is not one of ours or was altered."""
    key_id, body = _split(stored)
    try:
        return decrypt(token_header(key_id) + body, context=context).decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError("Encrypted text is not UTF-8.") from None


def stored_key_id(stored: str) -> str:
    """The key id a stored value was encrypted under; nothing is decrypted."""
    return _split(stored)[0]


def stored_needs_rotation(stored: str) -> bool:
    """True for a non-empty stored value that is not under the current key (rotate_keys' test)."""
    return stored != "" and stored_key_id(stored) != current_key_id()


def _split(stored: str) -> tuple[str, bytes]:
    if not isinstance(stored, str) or not stored.startswith(PREFIX):
        # Plaintext in an encrypted column is refused, not passed through: it was written
        # around the application (or is a column that was never migrated).
        raise DecryptionError("Not an encrypted value (expected enc:v1:<key id>:<base64>).")
    key_id, sep, encoded = stored[len(PREFIX) :].partition(":")
    if not sep or not KEY_ID_RE.fullmatch(key_id):
        raise DecryptionError("Encrypted value has a malformed key id.")
    try:
        body = base64.b64decode(encoded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError("Encrypted value is not valid base64.") from None
    return key_id, body


class EncryptedTextField(models.TextField):
    """Free text encrypted before it reaches the database, decrypted when it is read.

    Cannot be filtered, searched or ordered meaningfully: only `isnull` lookups are allowed.
    Renaming the app, model or field changes the associated data and makes existing values
    unreadable: pass the old name as `associated_data` when renaming (it is kept in migrations).
    """

    description = "Text encrypted at rest (AES-256-GCM)"

    def __init__(self, *args: Any, associated_data: str | None = None, **kwargs: Any) -> None:
        self.associated_data = associated_data
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.associated_data is not None:
            kwargs["associated_data"] = self.associated_data
        return name, path, args, kwargs

    @property
    def encryption_context(self) -> bytes:
        if self.associated_data is not None:
            return self.associated_data.encode("utf-8")
        model = getattr(self, "model", None)
        if model is None:
            raise ImproperlyConfigured("An EncryptedTextField encrypts only once it belongs to a model.")
        return f"{model._meta.app_label}.{model._meta.model_name}.{self.name}".encode()

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_text(value, context=self.encryption_context)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt_text(value, context=self.encryption_context)

    # to_python (forms, deserialization) is TextField's: it must never decrypt, or a form
    # field would turn a ciphertext pasted by a user into someone else's plaintext.

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name != "isnull":
            raise FieldError(self._refusal(lookup_name))
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name: str) -> Any:
        raise FieldError(self._refusal(lookup_name))

    def _refusal(self, lookup_name: str) -> str:
        where = f"{self.model._meta.label}.{self.name}" if hasattr(self, "model") else self.name
        return (
            f"{where} is encrypted: encrypted fields cannot be filtered (lookup {lookup_name!r}); "
            "only isnull is allowed. Filter on another column, or decrypt and compare in Python."
        )

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        options = self.deconstruct()[3]
        if any(options.get(name) for name in ("unique", "db_index", "primary_key")):
            errors.append(
                checks.Error(
                    "An EncryptedTextField cannot be unique, indexed or a primary key: "
                    "two encryptions of one value differ, so the index would compare noise.",
                    obj=self,
                    id="telemed.E101",
                )
            )
        return errors
