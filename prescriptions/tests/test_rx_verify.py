"""`manage.py rx_verify FILE [--offline]`: the paper checked offline, then against the database
(the prescriber's key, the prescription's state), with exit status 0 valid / 1 invalid / 2 not
to be dispensed, and an audit event whenever the database is consulted."""

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from pypdf import PdfWriter

from accounts.models import PatientProfile, mrn_generate
from accounts.tests.factories import PatientProfileFactory
from audit.models import AuditEvent
from prescriptions import signing
from prescriptions.document import signed_document
from prescriptions.paper import payload_for, prescription_pdf, render_paper
from prescriptions.services.dispensing import dispense_record
from prescriptions.services.keys import prescriber_key_rotate
from prescriptions.services.prescribing import prescription_cancel, prescription_revise

pytestmark = pytest.mark.django_db


def rx_verify(tmp_path, pdf: bytes, *options: str) -> tuple[int, str]:
    """(exit status, output) of `manage.py rx_verify` on a file holding `pdf`."""
    path = tmp_path / "prescription.pdf"
    path.write_bytes(pdf)
    out = io.StringIO()
    try:
        call_command("rx_verify", str(path), *options, stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue()
    return 0, out.getvalue()


def verifications(prescription) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="prescriptions.verify", target_id=str(prescription.pk)))


def forged(prescription, document: dict, *, payload: dict | None = None) -> bytes:
    genuine, notice = payload_for(prescription)
    return render_paper(
        document,
        payload=payload or genuine,
        check_code=prescription.check_code,
        dispense_code=prescription.dispense_code,
        notice=notice,
    )


def test_a_genuine_paper_is_valid_and_the_check_is_audited(tmp_path, signed, patient):
    status, output = rx_verify(tmp_path, prescription_pdf(signed))

    assert status == 0
    assert output.splitlines()[:2] == ["VALID", "Valid: signed by the prescriber and not altered."]
    key = signed.signing_key
    assert (
        f"Key {signing.fingerprint_for_display(key.fingerprint)}: Dr Dana Doctor's key at this portal, active."
        in output
    )
    assert "Name: Dr Dana Doctor" in output
    assert "Licence number: GMC 7654321 · Jurisdiction: United Kingdom" in output
    assert "1. Atorvastatin" in output
    assert "Quantity: 28 tablets · Refills: 2 · Substitution allowed: Yes" in output
    assert "1. Atorvastatin: 0 of 84 tablets dispensed, 84 left, 2 refill(s) left" in output
    [event] = verifications(signed)
    assert (event.actor, event.patient, event.reason) == (None, patient, "valid (rx_verify)")


def test_offline_a_genuine_paper_is_valid_on_paper_and_the_database_is_not_consulted(tmp_path, signed):
    status, output = rx_verify(tmp_path, prescription_pdf(signed), "--offline")

    assert status == 0
    assert output.splitlines()[:2] == [
        "VALID (offline)",
        "Valid on paper: the signature covers what is printed. Not checked: whether the key is the prescriber's "
        "(compare its fingerprint with the one the prescriber publishes) and whether the prescription was "
        "cancelled, replaced or dispensed.",
    ]
    assert signing.fingerprint_for_display(signed.signing_key.fingerprint) in output
    assert verifications(signed) == []


def test_a_paper_printing_a_changed_quantity_is_invalid_online_and_offline(tmp_path, signed):
    document = signed_document(signed, signed.items.all(), signed.signing_key)
    document["items"][0]["quantity"] = 280
    pdf = forged(signed, document)

    for options in ((), ("--offline",)):
        status, output = rx_verify(tmp_path, pdf, *options)

        assert status == 1
        assert output.splitlines()[:2] == [
            "INVALID",
            "Invalid: this prescription does not match its signature. Do not dispense.",
        ]
        assert "  - The paper shows “Quantity: 280 tablets" in output
        assert "do not trust it" in output
    assert verifications(signed) == []


def test_a_cancelled_prescription_is_genuine_but_not_to_be_dispensed(tmp_path, signed, prescriber, patient):
    pdf = prescription_pdf(signed)
    prescription_cancel(actor=prescriber, prescription=signed, reason="Wrong dose")

    status, output = rx_verify(tmp_path, pdf)

    assert status == 2
    assert output.splitlines()[:2] == ["CANCELLED", "Cancelled by the prescriber. Do not dispense."]
    [event] = verifications(signed)
    assert (event.patient, event.reason) == (patient, "cancelled (rx_verify)")


def test_a_superseded_prescription_is_genuine_but_not_to_be_dispensed(tmp_path, signed, prescriber, sign):
    pdf = prescription_pdf(signed)
    sign(prescription_revise(actor=prescriber, prescription=signed))

    status, output = rx_verify(tmp_path, pdf)

    assert (status, output.splitlines()[0]) == (2, "SUPERSEDED")


def test_an_expired_prescription_is_genuine_but_not_to_be_dispensed(tmp_path, signed):
    pdf = prescription_pdf(signed)

    with time_machine.travel(signed.signed_at + dt.timedelta(days=200)):
        status, output = rx_verify(tmp_path, pdf)

    assert (status, output.splitlines()[0]) == (2, "EXPIRED")


def test_a_prescription_dispensed_in_full_is_genuine_but_not_to_be_dispensed(tmp_path, signed):
    dispense_record(
        prescription=signed,
        dispense_code=signed.dispense_code,
        lines=[(1, 84)],
        pharmacy="Bridge St",
        pharmacist="A. Lee",
    )

    status, output = rx_verify(tmp_path, prescription_pdf(signed))

    assert (status, output.splitlines()[0]) == (2, "DISPENSED")
    assert "1. Atorvastatin: 84 of 84 tablets dispensed, 0 left, 0 refill(s) left" in output


def test_an_old_paper_stays_valid_after_the_prescriber_rotates_their_key(tmp_path, signed, prescriber):
    pdf = prescription_pdf(signed)
    new_key = prescriber_key_rotate(actor=prescriber)

    status, output = rx_verify(tmp_path, pdf)

    assert status == 0
    assert new_key.fingerprint != signed.signing_key.fingerprint
    assert "Dr Dana Doctor's key at this portal, retired (what it signed stays valid)." in output


def test_a_payload_re_signed_with_another_key_naming_the_prescribers_fingerprint_is_invalid(tmp_path, signed):
    payload, _ = payload_for(signed)
    forger = signing.new_private_key()
    payload["signature"] = signing.sign(forger, payload["document"]).hex()
    payload["public_key"] = signing.public_key_bytes(forger).hex()
    pdf = forged(signed, payload["document"], payload=payload)

    for options in ((), ("--offline",)):
        status, output = rx_verify(tmp_path, pdf, *options)

        assert status == 1
        assert "is not the key the prescription names" in output


def test_a_prescription_re_signed_with_another_key_and_its_fingerprint_is_invalid_online(tmp_path, signed):
    forger = signing.new_private_key()
    public = signing.public_key_bytes(forger)
    shown = signing.fingerprint_for_display(signing.fingerprint(public))
    document = signed_document(signed, signed.items.all(), signed.signing_key)
    document["prescriber"]["key"] = signing.fingerprint(public)
    payload = {
        "format": "telemed-rx/1",
        "document": document,
        "signature": signing.sign(forger, document).hex(),
        "public_key": public.hex(),
        "fingerprint": signing.fingerprint(public),
    }
    pdf = forged(signed, document, payload=payload)

    offline_status, offline_output = rx_verify(tmp_path, pdf, "--offline")
    status, output = rx_verify(tmp_path, pdf)

    # Offline only the key's fingerprint, printed for comparison, tells it is not the prescriber's.
    assert offline_status == 0
    assert f"Key fingerprint: {shown}" in offline_output
    assert status == 1
    assert f"No prescriber of this portal has a key with fingerprint {shown}." in output
    assert "The prescription on record carries another signature: this is not its paper." in output
    [event] = verifications(signed)
    assert event.reason == "invalid (rx_verify)"


def test_a_paper_of_a_prescription_never_issued_here_is_invalid_and_the_attempt_audited(tmp_path, signed):
    forger = signing.new_private_key()
    public = signing.public_key_bytes(forger)
    document = signed_document(signed, signed.items.all(), signed.signing_key)
    document["id"] = "ZZZZZZZZZZZZ"
    document["prescriber"]["key"] = signing.fingerprint(public)
    payload = {
        "format": "telemed-rx/1",
        "document": document,
        "signature": signing.sign(forger, document).hex(),
        "public_key": public.hex(),
        "fingerprint": signing.fingerprint(public),
    }

    status, output = rx_verify(tmp_path, forged(signed, document, payload=payload))

    assert status == 1
    assert "  - No signed prescription ZZZZZZZZZZZZ is on record." in output
    [event] = AuditEvent.objects.filter(action="prescriptions.verify", target_id="ZZZZZZZZZZZZ")
    assert (event.outcome, event.reason) == ("denied", "no match (rx_verify)")


def test_a_paper_printing_another_dispense_code_is_invalid_online(tmp_path, signed):
    payload, _ = payload_for(signed)
    other_code = "ZZZZ0000" if signed.dispense_code != "ZZZZ0000" else "YYYY0000"
    pdf = render_paper(payload["document"], payload=payload, check_code=signed.check_code, dispense_code=other_code)

    assert rx_verify(tmp_path, pdf, "--offline")[0] == 0  # the codes are not signed
    status, output = rx_verify(tmp_path, pdf)

    assert status == 1
    assert "The dispense code printed on the paper is not this prescription's." in output


def test_a_paper_printing_another_check_code_is_invalid_online(tmp_path, signed):
    payload, _ = payload_for(signed)
    other_code = "ZZZZZ00000" if signed.check_code != "ZZZZZ00000" else "YYYYY00000"
    pdf = render_paper(payload["document"], payload=payload, check_code=other_code, dispense_code=signed.dispense_code)

    status, output = rx_verify(tmp_path, pdf)

    assert status == 1
    assert "The check code printed on the paper is not this prescription's." in output


def test_a_prescription_whose_rows_no_longer_match_its_signature_is_invalid(tmp_path, prescriber, patient, sign, draft):
    profile = PatientProfileFactory(user=patient)
    signed = sign(draft)
    pdf = prescription_pdf(signed)
    # The signed record number no longer being the patient's: the prescription was moved to
    # another chart (prescriptions.document.integrity_ok).
    PatientProfile.objects.filter(pk=profile.pk).update(mrn=mrn_generate())

    status, output = rx_verify(tmp_path, pdf)

    assert status == 1
    assert "The prescription on record no longer matches its signature: its data was changed." in output


def test_a_pdf_without_an_embedded_signature_is_invalid(tmp_path, signed):
    writer = PdfWriter(clone_from=io.BytesIO(prescription_pdf(signed)))
    for attachment in writer.attachment_list:
        attachment.delete()
    output = io.BytesIO()
    writer.write(output)

    status, text = rx_verify(tmp_path, output.getvalue())

    assert status == 1
    assert "The PDF carries no embedded signature" in text


def test_a_file_that_cannot_be_read_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("rx_verify", str(tmp_path / "missing.pdf"), stdout=io.StringIO())
