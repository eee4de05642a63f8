"""The prescription paper: what it shows, its QR code, its embedded signature, and the offline
check that refuses any change to the embedded prescription or to the printed text."""

import copy
import datetime as dt
import io
import json

import pypdfium2
import pytest
import zxingcpp
from django.conf import settings
from django.urls import reverse
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.annotations import FreeText
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from accounts.tests.factories import PatientProfileFactory
from prescriptions import signing
from prescriptions.document import signed_document
from prescriptions.paper import ATTACHMENT, paper_check, payload_for, prescription_pdf, render_paper
from prescriptions.services.prescribing import (
    prescription_cancel,
    prescription_create,
    prescription_revise,
    prescription_update,
)
from prescriptions.tests.conftest import ATORVASTATIN

pytestmark = pytest.mark.django_db

SALBUTAMOL = {
    "medication": "Salbutamol",
    "strength": "100 micrograms per dose",
    "form": "inhaler",
    "dose": "2 puffs",
    "route": "inhaled",
    "frequency": "When needed, up to 4 times a day",
    "duration": "3 months",
    "quantity": 1,
    "quantity_unit": "inhaler",
    "refills": 3,
    "substitution_allowed": False,
    "instructions": "Shake well; rinse your mouth after use.",
}
ATORVASTATIN_AT_NIGHT = dict(ATORVASTATIN, instructions="Take it at night, with or without food.")


@pytest.fixture
def profile(patient):
    return PatientProfileFactory(user=patient, legal_name="Zoë Ñúñez-Łęcka", date_of_birth=dt.date(1961, 3, 12))


@pytest.fixture
def rich(profile, prescriber, patient, sign):
    """A signed revision with two items, every printed field filled (accents included)."""
    first = sign(prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN]))
    revision = prescription_revise(actor=prescriber, prescription=first)
    prescription_update(
        actor=prescriber, prescription=revision, items=[ATORVASTATIN_AT_NIGHT, SALBUTAMOL], valid_days=90
    )
    return sign(revision)


def page_text(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


def payload_of(pdf: bytes) -> dict:
    return json.loads(PdfReader(io.BytesIO(pdf)).attachments[ATTACHMENT][0])


def saved(writer: PdfWriter) -> bytes:
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def reattached(pdf: bytes, payload: dict) -> bytes:
    """The same PDF with its embedded signature file replaced, as someone editing it would."""
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    for attachment in writer.attachment_list:
        attachment.delete()
    writer.add_attachment(ATTACHMENT, json.dumps(payload).encode())
    return saved(writer)


def reprinted(prescription, document: dict) -> bytes:
    """A paper printing `document` with the prescription's genuine embedded signature."""
    payload, notice = payload_for(prescription)
    return render_paper(
        document,
        payload=payload,
        check_code=prescription.check_code,
        dispense_code=prescription.dispense_code,
        notice=notice,
    )


def baselines_of(page) -> list[float]:
    """Where each piece of text on a page sits, up from the bottom edge."""
    found: list[float] = []
    page.extract_text(visitor_text=lambda text, cm, tm, font, size: found.append(tm[5]) if text.strip() else None)
    return found


def qr_codes(pdf: bytes) -> list[str]:
    page = pypdfium2.PdfDocument(pdf)[0]
    image = page.render(scale=200 / 72).to_pil()
    return [code.text for code in zxingcpp.read_barcodes(image)]


def verify_address(prescription) -> str:
    """The public verify page's address (telemed.urls "rx_verify") with the check code."""
    path = reverse("rx_verify", args=[prescription.public_id])
    return f"{settings.SITE_URL}{path}?c={prescription.check_code}"


# --- What the paper shows --------------------------------------------------------------------


def test_the_paper_is_an_a4_pdf_that_shows_every_signed_field(rich, profile):
    pdf = prescription_pdf(rich)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    assert [round(float(side)) for side in reader.pages[0].mediabox[2:]] == [595, 842]
    text = page_text(pdf)
    key = rich.signing_key
    signed_at = rich.signed_at.astimezone(dt.UTC)
    expected = [
        settings.CLINIC_NAME,
        f"Prescription {rich.public_id}",
        f"Signed: {signed_at.day} {signed_at:%b %Y, %H:%M:%S} UTC",
        f"Valid until: {rich.valid_until.day} {rich.valid_until:%b %Y} (90 days)",
        f"Replaces prescription: {rich.supersedes.public_id}",
        "Name: Dr Dana Doctor",
        "Licence number: GMC 7654321 · Jurisdiction: United Kingdom",
        f"Key fingerprint: {signing.fingerprint_for_display(key.fingerprint)}",
        "Name: Zoë Ñúñez-Łęcka",
        f"Date of birth: 12 Mar 1961 · MRN: {profile.mrn}",
        "1. Atorvastatin",
        "Strength: 20 mg · Form: Tablet · Route: By mouth",
        "Dose: 1 tablet · Frequency: Once daily at night · Duration: 28 days",
        "Quantity: 28 tablets · Refills: 2 · Substitution allowed: Yes",
        "Instructions: Take it at night, with or without food.",
        "2. Salbutamol",
        "Strength: 100 micrograms per dose · Form: Inhaler · Route: Inhaled",
        "Dose: 2 puffs · Frequency: When needed, up to 4 times a day · Duration: 3 months",
        "Quantity: 1 inhaler · Refills: 3 · Substitution allowed: No",
        "Instructions: Shake well; rinse your mouth after use.",
        verify_address(rich),
        f"Pharmacy dispense code: {rich.dispense_code[:4]} {rich.dispense_code[4:]}",
    ]
    for line in expected:
        assert line in text
    assert "valid" not in text.lower().replace("valid until", "")


def test_the_qr_code_read_from_the_page_image_is_the_verify_address_without_the_dispense_code(signed):
    codes = qr_codes(prescription_pdf(signed))

    assert codes == [verify_address(signed)]
    assert signed.dispense_code not in codes[0]


def test_the_same_prescription_prints_the_same_bytes(signed):
    assert prescription_pdf(signed) == prescription_pdf(signed)


def test_a_draft_has_no_paper(draft):
    with pytest.raises(ValueError, match="draft has no paper"):
        prescription_pdf(draft)


def test_a_cancelled_prescription_still_prints_and_says_it_is_cancelled(signed, prescriber):
    cancelled = prescription_cancel(actor=prescriber, prescription=signed, reason="Wrong dose")

    pdf = prescription_pdf(cancelled)

    assert page_text(pdf).startswith("CANCELLED by the prescriber: do not dispense.")
    assert paper_check(pdf).ok  # genuine: the verify page and rx_verify tell it is cancelled


def test_a_superseded_prescription_still_prints_and_says_it_was_replaced(rich):
    old = rich.supersedes
    old.refresh_from_db()

    assert page_text(prescription_pdf(old)).startswith("REPLACED by a newer prescription: do not dispense this one.")


def test_a_long_prescription_wraps_its_lines_spans_pages_and_still_checks_out(prescriber, patient, sign):
    long_item = dict(
        SALBUTAMOL,
        medication="Hydroxychloroquine-sulfate-extended-release-film-coated-tablets-for-long-term-use",
        instructions="Shake well before each use, breathe out fully, then inhale slowly and deeply. " * 4,
    )
    items = [dict(long_item, quantity=position) for position in range(1, 11)]
    prescription = sign(prescription_create(actor=prescriber, patient=patient, items=items))

    pdf = prescription_pdf(prescription)
    check = paper_check(pdf)

    assert len(PdfReader(io.BytesIO(pdf)).pages) > 1
    assert check.ok, check.reasons
    assert "10. Hydroxychloroquine-sulfate-extended-release" in page_text(pdf)


def test_an_item_taller_than_a_page_flows_onto_the_next_pages_and_still_checks_out(prescriber, patient, sign):
    instructions = " ".join(f"Step {n}: apply a thin layer to the affected skin." for n in range(1, 400))
    prescription = sign(
        prescription_create(actor=prescriber, patient=patient, items=[dict(SALBUTAMOL, instructions=instructions)])
    )

    pdf = prescription_pdf(prescription)

    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) > 2
    for page in pages:
        baselines = baselines_of(page)
        assert baselines
        assert all(0 < baseline < float(page.mediabox.top) for baseline in baselines)
    assert paper_check(pdf).ok


# --- The embedded signature and the offline check ---------------------------------------------


def test_the_paper_embeds_the_signed_document_its_signature_and_the_public_key(signed):
    payload = payload_of(prescription_pdf(signed))
    key = signed.signing_key

    assert payload["format"] == "telemed-rx/1"
    assert payload["document"] == signed_document(signed, signed.items.all(), key)
    assert payload["public_key"] == key.public_key
    assert payload["fingerprint"] == key.fingerprint
    assert signing.verify(bytes.fromhex(key.public_key), payload["document"], bytes.fromhex(payload["signature"]))


def test_a_fresh_paper_checks_out_offline(rich):
    check = paper_check(prescription_pdf(rich))

    assert check.ok
    assert check.reasons == []
    assert check.document == signed_document(rich, rich.items.all(), rich.signing_key)
    assert check.fingerprint == rich.signing_key.fingerprint
    assert (check.check_code, check.dispense_code) == (rich.check_code, rich.dispense_code)


ITEM_FIELDS = [
    "position",
    "medication",
    "strength",
    "form",
    "dose",
    "route",
    "frequency",
    "duration",
    "quantity",
    "quantity_unit",
    "refills",
    "substitution_allowed",
    "instructions",
]
PRINTED_PATHS = [
    ("id",),
    ("clinic",),
    ("patient", "name"),
    ("patient", "birth_date"),
    ("patient", "mrn"),
    ("prescriber", "name"),
    ("prescriber", "licence"),
    ("prescriber", "jurisdiction"),
    ("prescriber", "key"),
    ("signed_at",),
    ("valid_days",),
    ("valid_until",),
    ("supersedes",),
    *[("items", 1, name) for name in ITEM_FIELDS],
]
SIGNED_PATHS = [*PRINTED_PATHS, ("appointment",)]


def changed(value, name):
    """Another plausible value for a document field."""
    if name in ("id", "supersedes"):
        return "ZZZZZZZZZZZZ"
    if name == "key":
        return "ab" * 16
    if name in ("birth_date", "valid_until"):
        return (dt.date.fromisoformat(value) + dt.timedelta(days=1)).isoformat()
    if name == "signed_at":
        moment = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ") + dt.timedelta(seconds=1)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if name == "form":
        return "capsule"
    if name == "route":
        return "topical"
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if value is None:
        return 7
    return f"{value}0"


def with_change(document: dict, path: tuple) -> dict:
    document = copy.deepcopy(document)
    *parents, name = path
    holder = document
    for step in parents:
        holder = holder[step]
    holder[name] = changed(holder[name], name)
    return document


@pytest.mark.parametrize("path", SIGNED_PATHS, ids=lambda path: ".".join(map(str, path)))
def test_a_paper_whose_embedded_prescription_was_changed_is_invalid(rich, path):
    pdf = prescription_pdf(rich)
    payload = payload_of(pdf)
    payload["document"] = with_change(payload["document"], path)

    check = paper_check(reattached(pdf, payload))

    assert not check.ok
    assert any("signature does not match" in reason or "not the key" in reason for reason in check.reasons)


@pytest.mark.parametrize("path", PRINTED_PATHS, ids=lambda path: ".".join(map(str, path)))
def test_a_paper_printing_a_changed_value_under_the_genuine_signature_is_invalid(rich, path):
    document = signed_document(rich, rich.items.all(), rich.signing_key)

    check = paper_check(reprinted(rich, with_change(document, path)))

    assert not check.ok
    assert check.reasons
    assert not any("signature does not match" in reason for reason in check.reasons)


def test_a_paper_printing_the_unchanged_document_under_the_genuine_signature_is_valid(rich):
    # The counterpart of the test above: only the change makes those papers invalid.
    document = signed_document(rich, rich.items.all(), rich.signing_key)

    assert paper_check(reprinted(rich, document)).ok


def test_the_reason_names_the_printed_line_that_differs(signed):
    document = signed_document(signed, signed.items.all(), signed.signing_key)
    document["items"][0]["quantity"] = 280

    check = paper_check(reprinted(signed, document))

    assert check.reasons == [
        "The paper shows “Quantity: 280 tablets · Refills: 2 · Substitution allowed: Yes” where the signed "
        "prescription says “Quantity: 28 tablets · Refills: 2 · Substitution allowed: Yes”."
    ]


def test_a_flipped_byte_in_the_signature_makes_the_paper_invalid(signed):
    pdf = prescription_pdf(signed)
    payload = payload_of(pdf)
    signature = bytearray.fromhex(payload["signature"])
    signature[17] ^= 0x01
    payload["signature"] = signature.hex()

    check = paper_check(reattached(pdf, payload))

    assert not check.ok
    assert any("signature does not match" in reason for reason in check.reasons)


def test_a_payload_re_signed_with_another_key_under_the_prescribers_fingerprint_is_invalid(signed):
    pdf = prescription_pdf(signed)
    payload = payload_of(pdf)
    forger = signing.new_private_key()
    payload["signature"] = signing.sign(forger, payload["document"]).hex()
    payload["public_key"] = signing.public_key_bytes(forger).hex()

    check = paper_check(reattached(pdf, payload))

    assert not check.ok
    assert any("is not the key the prescription names" in reason for reason in check.reasons)


def test_text_drawn_over_the_page_makes_the_paper_invalid(signed):
    pdf = prescription_pdf(signed)
    overlay = io.BytesIO()
    canvas = Canvas(overlay, pagesize=A4)
    canvas.drawString(300, 560, "Quantity: 280 tablets")
    canvas.save()
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    writer.pages[0].merge_page(PdfReader(overlay).pages[0])

    check = paper_check(saved(writer))

    assert not check.ok
    assert any("280 tablets" in reason for reason in check.reasons)


def test_an_image_pasted_on_the_page_makes_the_paper_invalid(signed):
    pdf = prescription_pdf(signed)
    overlay = io.BytesIO()
    canvas = Canvas(overlay, pagesize=A4)
    canvas.drawImage(ImageReader(Image.new("RGB", (120, 16), "white")), 300, 560, width=120, height=16)
    canvas.save()
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    writer.pages[0].merge_page(PdfReader(overlay).pages[0])

    check = paper_check(saved(writer))

    assert check.reasons == ["Page 1 carries an image, which the paper never does."]


def test_an_annotation_added_on_the_page_makes_the_paper_invalid(signed):
    writer = PdfWriter(clone_from=io.BytesIO(prescription_pdf(signed)))
    writer.add_annotation(page_number=0, annotation=FreeText(text="Quantity: 280", rect=(300, 500, 450, 520)))

    check = paper_check(saved(writer))

    assert check.reasons == ["Page 1 carries annotations (marks added on top of the printed text)."]


def test_a_page_taken_out_of_a_long_paper_makes_it_invalid(prescriber, patient, sign):
    items = [dict(SALBUTAMOL, medication=f"Emollient {n}", instructions="Apply thinly. " * 30) for n in range(6)]
    pdf = prescription_pdf(sign(prescription_create(actor=prescriber, patient=patient, items=items)))
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    writer.remove_page(1)

    check = paper_check(saved(writer))

    assert not check.ok
    assert any("footer" in reason for reason in check.reasons)


def test_a_pdf_without_the_embedded_signature_is_invalid(signed):
    writer = PdfWriter(clone_from=io.BytesIO(prescription_pdf(signed)))
    for attachment in writer.attachment_list:
        attachment.delete()

    check = paper_check(saved(writer))

    assert not check.ok
    assert check.document is None
    assert "no embedded signature" in check.reasons[0]


def test_an_unreadable_embedded_signature_is_invalid(signed):
    pdf = prescription_pdf(signed)
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    for attachment in writer.attachment_list:
        attachment.delete()
    writer.add_attachment(ATTACHMENT, b"{not json")

    check = paper_check(saved(writer))

    assert check.reasons == ["The embedded signature cannot be read (not JSON)."]


def test_a_file_that_is_not_a_pdf_is_invalid_without_crashing():
    check = paper_check(b"%PDF-1.4 this is not really a PDF")

    assert not check.ok
    assert check.reasons
