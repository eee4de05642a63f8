"""Encryption at rest: keys, tokens, streams and EncryptedTextField (telemed.crypto)."""

from __future__ import annotations

import base64
import itertools
import os

import pytest
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import connection, models
from django.db.migrations.writer import MigrationWriter
from django.test.utils import isolate_apps

from telemed.crypto import (
    DecryptionError,
    UnknownKeyError,
    current_key_id,
    decrypt,
    decrypt_stream,
    encrypt,
    encrypt_stream,
    key_id_of,
    needs_rotation,
    parse_keys,
    reencrypt,
    stream_key_id,
    stream_needs_rotation,
)
from telemed.crypto.fields import (
    EncryptedTextField,
    decrypt_text,
    encrypt_text,
    stored_key_id,
    stored_needs_rotation,
)
from telemed.crypto.stream import SEGMENT_SIZE
from telemed.env import env_encryption_keys

KEY_A = os.urandom(32)
KEY_B = os.urandom(32)
CONTEXT = b"records.allergy.reaction:42"
SECRET = "Anaphylaxis after penicillin; carries an EpiPen. HIV positive since 2019."


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


@pytest.fixture(autouse=True)
def key_a(settings):
    settings.FIELD_ENCRYPTION_KEYS = {"A": KEY_A}


def rotate_to_b(settings):
    settings.FIELD_ENCRYPTION_KEYS = {"B": KEY_B, "A": KEY_A}


def windows(data: bytes, size: int = 8):
    return {data[i : i + size] for i in range(len(data) - size + 1)}


# --- Keys ------------------------------------------------------------------------------------


def test_the_key_list_keeps_its_order_and_the_first_key_is_current(settings):
    keys = parse_keys(f"2026b:{b64(KEY_B)}, 2026a:{b64(KEY_A)}")

    assert list(keys) == ["2026b", "2026a"]
    assert keys == {"2026b": KEY_B, "2026a": KEY_A}
    settings.FIELD_ENCRYPTION_KEYS = keys
    assert current_key_id() == "2026b"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "comma-separated"),
        ("   ", "comma-separated"),
        (f"a:{b64(KEY_A)},", "no empty entry"),
        (b64(KEY_A), "is not <key id>:<base64 key>"),
        (f"a:{b64(os.urandom(16))}", "is 16 bytes, not 32"),
        (f"a:{b64(os.urandom(33))}", "is 33 bytes, not 32"),
        ("a:not*base64!", "not valid base64"),
        (f"a:{b64(KEY_A)},a:{b64(KEY_B)}", "appears twice"),
        (f"a-very-long-key-id-x:{b64(KEY_A)}", "1-16 characters"),
        (f"with space:{b64(KEY_A)}", "1-16 characters"),
        (f":{b64(KEY_A)}", "1-16 characters"),
    ],
    ids=[
        "empty",
        "blank",
        "empty-entry",
        "no-key-id",
        "short-key",
        "long-key",
        "bad-base64",
        "duplicate-id",
        "long-id",
        "bad-id",
        "empty-id",
    ],
)
def test_a_malformed_key_list_is_refused(value, message):
    with pytest.raises(ValueError, match=message):
        parse_keys(value)


def test_the_environment_helper_names_the_variable_and_never_echoes_key_material(monkeypatch):
    short_key = b64(os.urandom(16))
    monkeypatch.setenv("TM_KEYS", f"k1:{short_key}")

    with pytest.raises(ImproperlyConfigured, match="TM_KEYS") as raised:
        env_encryption_keys("TM_KEYS", "")
    assert short_key not in str(raised.value)


def test_the_environment_helper_falls_back_to_its_default_only_when_unset(monkeypatch):
    monkeypatch.delenv("TM_KEYS", raising=False)
    assert env_encryption_keys("TM_KEYS", f"dev:{b64(KEY_A)}") == {"dev": KEY_A}
    assert env_encryption_keys("TM_KEYS", "") == {}


@pytest.mark.parametrize("configured", [{}, {"A": b"short"}, {"bad id": KEY_A}, None])
def test_a_bad_keys_setting_is_refused_when_used(settings, configured):
    settings.FIELD_ENCRYPTION_KEYS = configured
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS"):
        encrypt(b"x", context=CONTEXT)


# --- Tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000, 100_000])
def test_a_value_round_trips(size):
    plaintext = os.urandom(size)
    assert decrypt(encrypt(plaintext, context=CONTEXT), context=CONTEXT) == plaintext


def test_a_token_contains_no_piece_of_its_plaintext():
    plaintext = SECRET.encode() * 20
    token = encrypt(plaintext, context=CONTEXT)

    assert not windows(plaintext) & windows(token)
    assert b"penicillin" not in token and b"HIV" not in token


def test_two_encryptions_of_one_value_differ():
    assert encrypt(b"same", context=CONTEXT) != encrypt(b"same", context=CONTEXT)


def test_a_token_names_its_key_in_a_small_versioned_header():
    token = encrypt(b"x", context=CONTEXT)

    assert token[:3] == b"\x01\x01A"
    assert key_id_of(token) == "A"
    # header, 96-bit nonce, one byte of ciphertext, 128-bit tag
    assert len(token) == 3 + 12 + 1 + 16


def test_a_token_does_not_decrypt_in_another_context():
    token = encrypt(SECRET.encode(), context=b"records.allergy.reaction:42")

    with pytest.raises(DecryptionError, match="another context"):
        decrypt(token, context=b"records.allergy.reaction:43")
    with pytest.raises(DecryptionError):
        decrypt(token, context=b"records.condition.note:42")


def test_every_flipped_byte_is_detected():
    token = encrypt(SECRET.encode(), context=CONTEXT)
    for position in range(len(token)):
        altered = bytearray(token)
        altered[position] ^= 0x01
        with pytest.raises(DecryptionError):
            decrypt(bytes(altered), context=CONTEXT)


@pytest.mark.parametrize("length", [0, 1, 3, 3 + 12, 3 + 12 + 15])
def test_a_truncated_token_is_refused(length):
    token = encrypt(b"", context=CONTEXT)
    with pytest.raises(DecryptionError, match=r"truncated|does not authenticate"):
        decrypt(token[:length], context=CONTEXT)


def test_a_token_under_another_key_with_the_same_id_is_refused(settings):
    token = encrypt(SECRET.encode(), context=CONTEXT)
    settings.FIELD_ENCRYPTION_KEYS = {"A": KEY_B}

    with pytest.raises(DecryptionError, match="under another key"):
        decrypt(token, context=CONTEXT)


def test_a_token_under_a_dropped_key_says_which_key_is_missing(settings):
    token = encrypt(b"x", context=CONTEXT)
    settings.FIELD_ENCRYPTION_KEYS = {"B": KEY_B}

    with pytest.raises(UnknownKeyError, match="'A'"):
        decrypt(token, context=CONTEXT)


def test_the_context_must_be_non_empty_bytes():
    with pytest.raises(TypeError):
        encrypt(b"x", context=b"")
    with pytest.raises(TypeError):
        encrypt(b"x", context="records.allergy.reaction")  # type: ignore[arg-type]


def test_rotation_keeps_old_tokens_readable_and_reencrypts_under_the_new_key(settings):
    old = encrypt(SECRET.encode(), context=CONTEXT)
    assert needs_rotation(old) is False

    rotate_to_b(settings)

    assert decrypt(old, context=CONTEXT) == SECRET.encode()
    assert needs_rotation(old) is True
    new = reencrypt(old, context=CONTEXT)
    assert key_id_of(new) == "B"
    assert needs_rotation(new) is False
    assert reencrypt(new, context=CONTEXT) is new
    assert key_id_of(encrypt(b"fresh", context=CONTEXT)) == "B"

    settings.FIELD_ENCRYPTION_KEYS = {"B": KEY_B}
    assert decrypt(new, context=CONTEXT) == SECRET.encode()
    with pytest.raises(UnknownKeyError):
        decrypt(old, context=CONTEXT)


# --- Streams ---------------------------------------------------------------------------------


def encrypted(data: bytes, *, chunk: int = 4096, context: bytes = CONTEXT, **kwargs) -> list[bytes]:
    return list(encrypt_stream((data[i : i + chunk] for i in range(0, len(data), chunk)), context=context, **kwargs))


def decrypted(parts, *, context: bytes = CONTEXT) -> bytes:
    return b"".join(decrypt_stream(parts, context=context))


@pytest.mark.parametrize(
    "size",
    [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE, 3 * SEGMENT_SIZE + 17],
    ids=["empty", "one-byte", "under-a-segment", "one-segment", "over-a-segment", "three-segments", "many-segments"],
)
def test_a_stream_round_trips(size):
    data = os.urandom(size)
    parts = encrypted(data)

    expected_segments = max(1, -(-size // SEGMENT_SIZE))
    assert len(parts) == 1 + expected_segments
    assert decrypted(parts) == data
    # However the stored bytes come back in chunks.
    whole = b"".join(parts)
    assert decrypted([whole]) == data
    assert decrypted(whole[i : i + 1000] for i in range(0, len(whole), 1000)) == data


def test_odd_chunk_and_segment_sizes_round_trip():
    data = os.urandom(1001)
    for segment_size in (1, 7, 16, 1000, 1001, 1002):
        for chunk in (1, 3, 999, 5000):
            assert decrypted(encrypted(data, chunk=chunk, segment_size=segment_size)) == data


def test_a_stream_contains_no_piece_of_its_file():
    data = (SECRET.encode() + b"\n") * 5000
    stored = b"".join(encrypted(data))

    assert not windows(data[:4096]) & windows(stored)
    assert b"penicillin" not in stored


def test_streams_are_lazy_so_a_large_file_never_sits_whole_in_memory():
    endless = itertools.repeat(b"x" * 10_000)

    plaintext = decrypt_stream(encrypt_stream(endless, context=CONTEXT), context=CONTEXT)

    assert [len(part) for part in itertools.islice(plaintext, 3)] == [SEGMENT_SIZE] * 3


def test_a_stream_cut_at_a_segment_boundary_is_refused():
    parts = encrypted(os.urandom(3 * SEGMENT_SIZE + 5))

    with pytest.raises(DecryptionError, match="truncated"):
        decrypted(parts[:-1])
    with pytest.raises(DecryptionError):
        decrypted(parts[:2])


@pytest.mark.parametrize("cut", [1, 10, 50])
def test_a_stream_cut_inside_its_header_is_refused(cut):
    stored = b"".join(encrypted(b"abc"))
    with pytest.raises(DecryptionError, match="truncated"):
        decrypted([stored[:cut]])


def test_a_stream_of_nothing_or_only_a_header_is_refused():
    parts = encrypted(b"abc")
    with pytest.raises(DecryptionError, match="truncated"):
        decrypted([])
    with pytest.raises(DecryptionError, match="truncated"):
        decrypted(parts[:1])


def test_a_stream_cut_inside_a_segment_is_refused():
    stored = b"".join(encrypted(os.urandom(2 * SEGMENT_SIZE)))
    with pytest.raises(DecryptionError):
        decrypted([stored[:-1]])
    with pytest.raises(DecryptionError):
        decrypted([stored[: -SEGMENT_SIZE // 2]])


def test_reordered_or_repeated_segments_are_refused():
    header, first, second, third, last = encrypted(os.urandom(3 * SEGMENT_SIZE + 1))

    for order in ([first, third, second, last], [second, first, third, last], [first, first, second, third, last]):
        with pytest.raises(DecryptionError, match="reordered"):
            decrypted([header, *order])


def test_bytes_appended_after_the_last_segment_are_refused():
    parts = encrypted(os.urandom(SEGMENT_SIZE + 3))
    with pytest.raises(DecryptionError):
        decrypted([*parts, b"\x00" * 40])
    with pytest.raises(DecryptionError):
        decrypted([*parts, parts[-1]])


def test_a_flipped_byte_anywhere_in_a_stream_is_refused():
    stored = b"".join(encrypted(os.urandom(100), segment_size=32))
    for position in range(len(stored)):
        altered = bytearray(stored)
        altered[position] ^= 0x80
        with pytest.raises(DecryptionError):
            decrypted([bytes(altered)])


def test_a_stream_does_not_decrypt_in_another_context():
    parts = encrypted(b"scan.pdf bytes", context=b"records.document:1")
    with pytest.raises(DecryptionError, match="another context"):
        decrypted(parts, context=b"records.document:2")


def test_a_stream_under_another_key_is_refused(settings):
    parts = encrypted(b"scan.pdf bytes")

    settings.FIELD_ENCRYPTION_KEYS = {"A": KEY_B}
    with pytest.raises(DecryptionError, match="another key"):
        decrypted(parts)
    settings.FIELD_ENCRYPTION_KEYS = {"B": KEY_B}
    with pytest.raises(UnknownKeyError, match="'A'"):
        decrypted(parts)


def test_a_stream_that_is_not_ours_is_refused():
    with pytest.raises(DecryptionError, match="magic"):
        decrypted([b"%PDF-1.7 plain file"])


def test_a_stream_names_its_key_and_survives_rotation(settings):
    data = os.urandom(SEGMENT_SIZE + 10)
    old = b"".join(encrypted(data))
    assert stream_key_id(old[:100]) == "A"
    assert stream_needs_rotation(old[:100]) is False

    rotate_to_b(settings)

    assert stream_needs_rotation(old[:100]) is True
    assert decrypted([old]) == data
    new = b"".join(encrypt_stream(decrypt_stream([old], context=CONTEXT), context=CONTEXT))
    assert stream_key_id(new) == "B"
    assert decrypted([new]) == data


# --- EncryptedTextField ------------------------------------------------------------------------


@pytest.fixture
def allergy_model():
    with isolate_apps("telemed"):

        class Allergy(models.Model):
            reaction = EncryptedTextField(blank=True)
            note = EncryptedTextField(null=True, blank=True)
            renamed = EncryptedTextField(blank=True, associated_data="records.allergy.old_name")

            class Meta:
                app_label = "telemed"

            def __str__(self):
                return f"allergy {self.pk}"

        yield Allergy


def field(model, name):
    return model._meta.get_field(name)


def test_the_field_stores_only_ciphertext_in_the_documented_form(allergy_model):
    stored = field(allergy_model, "reaction").get_prep_value(SECRET)

    prefix, version, key_id, body = stored.split(":")
    assert (prefix, version, key_id) == ("enc", "v1", "A")
    assert set(body) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
    assert not windows(SECRET.encode()) & windows(stored.encode())
    assert "penicillin" not in stored


def test_the_field_reads_back_what_it_stored(allergy_model):
    reaction = field(allergy_model, "reaction")
    stored = reaction.get_prep_value(SECRET)

    assert reaction.from_db_value(stored, None, connection) == SECRET


def test_the_associated_data_is_app_model_and_field(allergy_model):
    stored = field(allergy_model, "reaction").get_prep_value(SECRET)

    assert decrypt_text(stored, context=b"telemed.allergy.reaction") == SECRET
    with pytest.raises(DecryptionError):
        field(allergy_model, "note").from_db_value(stored, None, connection)


def test_associated_data_can_keep_an_old_name_across_a_rename(allergy_model):
    stored = encrypt_text(SECRET, context=b"records.allergy.old_name")
    assert field(allergy_model, "renamed").from_db_value(stored, None, connection) == SECRET


def test_blank_and_null_are_stored_as_they_are(allergy_model):
    note = field(allergy_model, "note")

    assert note.get_prep_value("") == ""
    assert note.get_prep_value(None) is None
    assert note.from_db_value("", None, connection) == ""
    assert note.from_db_value(None, None, connection) is None


def test_plaintext_found_in_an_encrypted_column_is_refused(allergy_model):
    with pytest.raises(DecryptionError, match="Not an encrypted value"):
        field(allergy_model, "reaction").from_db_value("hives", None, connection)


def test_to_python_never_decrypts_so_a_pasted_ciphertext_reveals_nothing(allergy_model):
    reaction = field(allergy_model, "reaction")
    stored = reaction.get_prep_value(SECRET)

    assert reaction.to_python(stored) == stored
    assert reaction.clean(stored, allergy_model()) == stored


@pytest.mark.parametrize(
    "lookup", ["reaction", "reaction__exact", "reaction__icontains", "reaction__in", "reaction__lower"]
)
def test_encrypted_fields_cannot_be_filtered(allergy_model, lookup):
    with pytest.raises(FieldError, match="encrypted fields cannot be filtered"):
        allergy_model.objects.filter(**{lookup: "hives" if not lookup.endswith("__in") else ["hives"]})


def test_encrypted_fields_can_be_tested_for_null(allergy_model):
    query = str(allergy_model.objects.filter(note__isnull=True).query)
    assert '"note" IS NULL' in query


def test_the_field_deconstructs_for_migrations(allergy_model):
    name, path, args, kwargs = field(allergy_model, "renamed").deconstruct()

    assert (name, path, args) == ("renamed", "telemed.crypto.fields.EncryptedTextField", [])
    assert kwargs == {"blank": True, "associated_data": "records.allergy.old_name"}
    assert "associated_data" not in field(allergy_model, "reaction").deconstruct()[3]
    rebuilt = EncryptedTextField(*args, **kwargs)
    assert rebuilt.associated_data == "records.allergy.old_name"
    serialized, imports = MigrationWriter.serialize(field(allergy_model, "renamed"))
    assert serialized.startswith("telemed.crypto.fields.EncryptedTextField(")
    assert "import telemed.crypto.fields" in imports


def test_an_encrypted_field_cannot_be_unique_or_indexed():
    with isolate_apps("telemed"):

        class Bad(models.Model):
            secret = EncryptedTextField(unique=True)
            indexed = EncryptedTextField(db_index=True)

            class Meta:
                app_label = "telemed"

            def __str__(self):
                return f"bad {self.pk}"

        ids = [error.id for name in ("secret", "indexed") for error in Bad._meta.get_field(name).check()]
    assert ids == ["telemed.E101", "telemed.E101"]


def test_a_field_rotation_reads_under_the_old_key_and_writes_under_the_new(settings, allergy_model):
    reaction = field(allergy_model, "reaction")
    old = reaction.get_prep_value(SECRET)
    assert stored_needs_rotation(old) is False

    rotate_to_b(settings)

    assert stored_key_id(old) == "A"
    assert stored_needs_rotation(old) is True
    assert stored_needs_rotation("") is False
    new = reaction.get_prep_value(reaction.from_db_value(old, None, connection))
    assert stored_key_id(new) == "B"
    assert reaction.from_db_value(new, None, connection) == SECRET


@pytest.mark.django_db(transaction=True)
def test_a_raw_read_of_the_table_shows_no_plaintext(allergy_model):
    with connection.schema_editor() as editor:
        editor.create_model(allergy_model)
    try:
        row = allergy_model.objects.create(reaction=SECRET, note="")
        allergy_model.objects.filter(pk=row.pk).update(note="Itching on the left forearm")

        with connection.cursor() as cursor:
            cursor.execute(f"SELECT reaction, note FROM {allergy_model._meta.db_table}")
            (raw_reaction, raw_note) = cursor.fetchone()
        assert raw_reaction.startswith("enc:v1:A:") and raw_note.startswith("enc:v1:A:")
        assert "penicillin" not in raw_reaction and "forearm" not in raw_note

        fetched = allergy_model.objects.get(pk=row.pk)
        assert (fetched.reaction, fetched.note) == (SECRET, "Itching on the left forearm")
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(allergy_model)
