"""Key rotation for EncryptedTextField columns, for every installed app.

`encrypted_fields()` finds every EncryptedTextField of every installed model; `rotate_field()`
moves one column's values to the current key (the first of FIELD_ENCRYPTION_KEYS):

- Rows are found by their *stored* text (the column read through `Cast(..., TextField())`, so
  the field's decryption is bypassed): non-empty and not starting with `enc:v1:<current id>:`.
  Values already under the current key are never read or decrypted, which makes a second run
  cheap and a rerun after an interruption start where the last one stopped.
- Each value is decrypted under its own key and written back through the field (which
  encrypts it under the current key) by an `UPDATE ... WHERE pk = ? AND column = <old stored
  text>`: a row edited meanwhile keeps the edit (counted as `changed`, the next run looks again).
  `update()` leaves `auto_now` columns alone: rotation is not an edit of the record.
- Batches of `batch_size` rows (keyset order by primary key), each in its own transaction: a
  run killed part-way keeps every finished batch, and a rerun finishes the rest.
- A value that does not decrypt (unknown key id, altered, not ciphertext at all) is reported,
  not skipped silently: it stays as it is and the caller must not drop the old key.

Nothing here writes the audit trail; the caller (records' `keys_rotate`) does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.db import models, transaction
from django.db.models.functions import Cast
from django.db.models.lookups import Exact

from telemed.crypto.errors import DecryptionError
from telemed.crypto.fields import PREFIX, EncryptedTextField, decrypt_text
from telemed.crypto.keys import current_key_id

DEFAULT_BATCH_SIZE = 500
# Values that would not decrypt are listed up to this many per field (the count is exact).
FAILURES_SHOWN = 20


@dataclass
class FieldRotation:
    """What `rotate_field` found and did for one column."""

    label: str  # "records.Allergy.substance"
    pending: int = 0  # values found under another key than the current one
    rotated: int = 0
    changed: int = 0  # edited by someone else between reading and writing: left for a rerun
    unreadable: int = 0
    failures: list[str] = field(default_factory=list)  # "pk 12: <why>", at most FAILURES_SHOWN


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedTextField]]:
    """(model, field) for every EncryptedTextField column of every installed, managed model.

    Each column once: on the model whose table holds it (proxies and multi-table children
    are skipped for inherited columns).
    """
    found = []
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed:
            continue
        for model_field in meta.local_concrete_fields:
            if isinstance(model_field, EncryptedTextField):
                found.append((model, model_field))
    return sorted(found, key=lambda pair: (pair[0]._meta.label, pair[1].name))


def field_label(model: type[models.Model], model_field: EncryptedTextField) -> str:
    return f"{model._meta.label}.{model_field.name}"


def _stored(model_field: EncryptedTextField) -> Cast:
    # The column as text, without the field's from_db_value: the stored form, not the plaintext.
    return Cast(model_field.name, output_field=models.TextField())


def _candidates(model: type[models.Model], model_field: EncryptedTextField, current: str) -> models.QuerySet:
    return (
        model._base_manager.annotate(stored_text=_stored(model_field))
        .filter(stored_text__isnull=False)
        .exclude(stored_text="")
        .exclude(stored_text__startswith=f"{PREFIX}{current}:")
        .order_by("pk")
    )


def _batches(
    model: type[models.Model], model_field: EncryptedTextField, current: str, batch_size: int
) -> Iterator[list[tuple[object, str]]]:
    last = None
    while True:
        rows = _candidates(model, model_field, current)
        if last is not None:
            rows = rows.filter(pk__gt=last)
        batch = list(rows.values_list("pk", "stored_text")[:batch_size])
        if not batch:
            return
        yield batch
        last = batch[-1][0]


def pending_count(model: type[models.Model], model_field: EncryptedTextField) -> int:
    """How many stored values of this column are not under the current key (nothing decrypted)."""
    return _candidates(model, model_field, current_key_id()).count()


def rotate_field(
    model: type[models.Model],
    model_field: EncryptedTextField,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
) -> FieldRotation:
    """Re-encrypt under the current key every value of one column that is under another key.

    With `dry_run`, decrypt each of them (proving the keys to read them are configured) and
    count, writing nothing. See the module docstring for the guarantees.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    current = current_key_id()
    context = model_field.encryption_context
    report = FieldRotation(label=field_label(model, model_field))
    for batch in _batches(model, model_field, current, batch_size):
        report.pending += len(batch)
        plaintexts: list[tuple[object, str, str]] = []
        for pk, stored in batch:
            try:
                plaintexts.append((pk, stored, decrypt_text(stored, context=context)))
            except DecryptionError as exc:
                report.unreadable += 1
                if len(report.failures) < FAILURES_SHOWN:
                    report.failures.append(f"pk {pk}: {exc}")
        if dry_run:
            continue
        with transaction.atomic():
            allow_reencryption()
            for pk, stored, plaintext in plaintexts:
                if write_if_unchanged(model, model_field, pk=pk, stored=stored, plaintext=plaintext):
                    report.rotated += 1
                else:
                    report.changed += 1
    return report


def allow_reencryption() -> None:
    """Tell PostgreSQL's guards of signed content (prescriptions migration 0002) that this
    transaction only re-encrypts: the flag lasts until the transaction ends."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('telemed.reencrypting', 'on', true)")


def write_if_unchanged(
    model: type[models.Model], model_field: EncryptedTextField, *, pk: object, stored: str, plaintext: str
) -> bool:
    """Write `plaintext` (encrypted by the field, under the current key) into the row `pk` if
    its column still holds `stored`, the text it was read with; False when someone changed it
    meanwhile (their value stays)."""
    return bool(
        model._base_manager.filter(pk=pk)
        .filter(Exact(_stored(model_field), stored))
        .update(**{model_field.name: plaintext})
    )
