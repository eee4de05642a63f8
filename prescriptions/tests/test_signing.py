"""The signature format: canonical bytes, Ed25519, fingerprints."""

from __future__ import annotations

import pytest

from prescriptions import signing

DOCUMENT = {
    "patient": {"name": "Pat Patient", "born": "1980-04-02"},
    "prescriber": {"name": "Dr Dana Doctor", "licence": "GMC-1234567"},
    "items": [{"medication": "Amoxicillin", "strength": "500 mg", "quantity": "21", "refills": 0}],
    "signed_on": "2026-11-23",
}


def test_the_canonical_bytes_do_not_depend_on_key_order():
    reordered = {key: DOCUMENT[key] for key in reversed(list(DOCUMENT))}

    assert signing.canonical_bytes(reordered) == signing.canonical_bytes(DOCUMENT)
    assert b" " not in signing.canonical_bytes({"a": 1, "b": [1, 2]})


def test_accents_are_kept_as_utf8_not_escaped():
    assert signing.canonical_bytes({"name": "Zoë Müller"}) == '{"name":"Zoë Müller"}'.encode()


@pytest.mark.parametrize("value", [1.5, b"bytes", {1: "a"}, object()])
def test_values_without_one_exact_form_are_refused(value):
    with pytest.raises(TypeError):
        signing.canonical_bytes({"field": value})


def test_a_signature_verifies_with_the_public_key_and_nothing_else():
    key = signing.new_private_key()
    other = signing.new_private_key()
    signature = signing.sign(key, DOCUMENT)

    assert signing.verify(signing.public_key_bytes(key), DOCUMENT, signature)
    assert not signing.verify(signing.public_key_bytes(other), DOCUMENT, signature)
    assert not signing.verify(signing.public_key_bytes(key), DOCUMENT, signature[:-1] + bytes([signature[-1] ^ 1]))
    assert not signing.verify(signing.public_key_bytes(key), DOCUMENT, b"short")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["patient"].__setitem__("born", "1980-04-03"),
        lambda d: d["prescriber"].__setitem__("licence", "GMC-7654321"),
        lambda d: d["items"][0].__setitem__("quantity", "210"),
        lambda d: d["items"][0].__setitem__("refills", 1),
        lambda d: d["items"].append({"medication": "Oxycodone"}),
        lambda d: d.__setitem__("signed_on", "2026-11-24"),
    ],
)
def test_changing_any_field_makes_the_signature_invalid(tamper):
    import copy

    key = signing.new_private_key()
    signature = signing.sign(key, DOCUMENT)
    changed = copy.deepcopy(DOCUMENT)
    tamper(changed)

    assert not signing.verify(signing.public_key_bytes(key), changed, signature)


def test_the_fingerprint_is_stable_and_readable():
    key = signing.new_private_key()
    public = signing.public_key_bytes(key)

    value = signing.fingerprint(public)

    assert value == signing.fingerprint(public) and len(value) == 32
    assert signing.fingerprint_for_display(value) == " ".join(value[i : i + 4] for i in range(0, 32, 4)).upper()
    with pytest.raises(ValueError):
        signing.fingerprint(public[:31])


def test_a_private_key_survives_its_raw_form():
    key = signing.new_private_key()
    again = signing.private_key_from_bytes(signing.private_key_bytes(key))

    assert signing.verify(signing.public_key_bytes(key), DOCUMENT, signing.sign(again, DOCUMENT))
