"""The prescription paper: an A4 PDF that a pharmacist can check online and offline.

What it shows comes from one function, `paper_blocks(document, ...)`: the clinic, the
prescription id, the signing date and validity, what it replaces, the prescriber (name,
licence, key fingerprint), the patient (name, date of birth, MRN), every field of every item,
then a QR code with the verify address (which carries the check code), the same address as
text, and the pharmacy dispense code (printed only, never in the QR code: a photo of the QR
code records no dispense). The renderer draws exactly those lines, and the checker
(`paper_check`) compares the PDF's text with exactly those lines, so the two cannot drift.

The PDF embeds the signature as an attached file (`prescription-signature.json`):
`{"format": "telemed-rx/1", "document": <the signed document>, "signature": <hex>,
"public_key": <hex>, "fingerprint": <hex>}` (see prescriptions.document and .signing).

`paper_check` needs no database: the payload is readable and well formed, its public key
hashes to the fingerprint the document names, the Ed25519 signature covers the document, and
the printed text is what the signed document says (a line break only where a space was, and
nothing added, dropped or changed). Without the database it proves only "signed by the key
with this fingerprint"; `manage.py rx_verify` then checks that the key is the prescriber's
and asks the database whether the prescription is still dispensable.

Dates are printed in UTC with English month names, whatever the server's time zone and locale,
so that every installation reads an old paper the same way.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from prescriptions import signing
from prescriptions.document import integrity_ok, signed_document
from prescriptions.models import CODE_ALPHABET, DosageForm, Prescription, PrescriptionStatus, Route
from telemed.pdf_fonts import pdf_fonts

FORMAT = "telemed-rx/1"
ATTACHMENT = "prescription-signature.json"
# A real payload is a few kilobytes; anything far larger is not ours.
MAX_PAYLOAD_BYTES = 256 * 1024

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
EMPTY = "—"
SEPARATOR = " · "

# What the paper says about a prescription that must not be dispensed (not signed content:
# the verify page tells the current state; these only warn whoever holds a stale copy).
NOTICES = {
    PrescriptionStatus.CANCELLED.value: "CANCELLED by the prescriber: do not dispense.",
    PrescriptionStatus.SUPERSEDED.value: "REPLACED by a newer prescription: do not dispense this one.",
    "invalid": "INVALID: this prescription no longer matches its signature. Do not dispense.",
}

_CODE = f"[{CODE_ALPHABET}]"
VERIFY_PATH = "/verify/rx/"


# --- What the paper says ---------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of the paper: runs of (text, bold), in a style (see `_STYLES`)."""

    runs: tuple[tuple[str, bool], ...]
    style: str = "body"

    @property
    def text(self) -> str:
        return _normal("".join(text for text, _ in self.runs))


@dataclass(frozen=True)
class Block:
    """Lines kept on one page: a heading across the page, then the lines, beside a QR code of
    the address `qr` when there is one."""

    lines: tuple[Line, ...]
    heading: Line | None = None
    qr: str = ""

    @property
    def all_lines(self) -> tuple[Line, ...]:
        return (self.heading, *self.lines) if self.heading else self.lines


def _normal(text: str) -> str:
    return " ".join(text.split())


def _value(value: object) -> str:
    text = _normal("" if value is None else str(value))
    return text or EMPTY


def _fields(*pairs: tuple[str, object]) -> Line:
    runs: list[tuple[str, bool]] = []
    for index, (label, value) in enumerate(pairs):
        if index:
            runs.append((SEPARATOR, False))
        runs += [(f"{label}: ", True), (_value(value), False)]
    return Line(tuple(runs))


def _plain(text: str, style: str = "body", *, bold: bool = False) -> Line:
    return Line(((text, bold),), style)


def _heading(text: str) -> Line:
    return _plain(text, "heading", bold=True)


def _day(value: str) -> str:
    if not value:
        return "not recorded"
    day = dt.date.fromisoformat(value)
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def _instant(value: str) -> str:
    moment = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}, {moment:%H:%M:%S} UTC"


def verify_url(public_id: str, check_code: str) -> str:
    """The public verify page of a prescription (what the QR code holds)."""
    return f"{settings.SITE_URL.rstrip('/')}{VERIFY_PATH}{public_id}?c={check_code}"


def _grouped(code: str) -> str:
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def footer(public_id: str, page: int, pages: int) -> str:
    return f"Prescription {public_id} · page {page} of {pages}"


def paper_blocks(document: dict[str, Any], *, check_code: str, dispense_code: str, notice: str = "") -> list[Block]:
    """Everything the paper prints but the page footers, in reading order.

    The renderer draws these lines; `paper_check` requires the PDF's text to be exactly these
    lines. `document` is a signed document (prescriptions.document.signed_document); the
    codes and the notice are not signed and are printed as given.
    """
    patient, prescriber = document["patient"], document["prescriber"]
    header = [_plain(notice, "notice", bold=True)] if notice else []
    header += [
        _plain(document["clinic"], "title", bold=True),
        _plain(f"Prescription {document['id']}", "subtitle", bold=True),
        _fields(
            ("Signed", _instant(document["signed_at"])),
            ("Valid until", f"{_day(document['valid_until'])} ({document['valid_days']} days)"),
        ),
    ]
    if document["supersedes"]:
        header.append(_fields(("Replaces prescription", document["supersedes"])))
    blocks = [
        Block(tuple(header)),
        Block(
            (
                _fields(("Name", prescriber["name"])),
                _fields(("Licence number", prescriber["licence"]), ("Jurisdiction", prescriber["jurisdiction"])),
                _fields(("Key fingerprint", signing.fingerprint_for_display(prescriber["key"]))),
            ),
            heading=_heading("Prescriber"),
        ),
        Block(
            (
                _fields(("Name", patient["name"])),
                _fields(("Date of birth", _day(patient["birth_date"])), ("MRN", patient["mrn"])),
            ),
            heading=_heading("Patient"),
        ),
    ]
    forms, routes = dict(DosageForm.choices), dict(Route.choices)
    for index, item in enumerate(document["items"]):
        lines = [
            _plain(f"{item['position']}. {_value(item['medication'])}", "item", bold=True),
            _fields(
                ("Strength", item["strength"]),
                ("Form", forms.get(item["form"], item["form"])),
                ("Route", routes.get(item["route"], item["route"])),
            ),
            _fields(("Dose", item["dose"]), ("Frequency", item["frequency"]), ("Duration", item["duration"])),
            _fields(
                ("Quantity", f"{item['quantity']} {item['quantity_unit']}"),
                ("Refills", item["refills"]),
                ("Substitution allowed", "Yes" if item["substitution_allowed"] else "No"),
            ),
            _fields(("Instructions", item["instructions"])),
        ]
        blocks.append(Block(tuple(lines), heading=_heading("Medicines") if index == 0 else None))
    address = verify_url(document["id"], check_code)
    blocks.append(
        Block(
            (
                _plain("Scan the code or open this address to check the prescription:"),
                _plain(address),
                _fields(("Pharmacy dispense code", _grouped(dispense_code))),
                _plain("The pharmacy enters this code to record what it hands over.", "small"),
                _plain("The signature is embedded in this PDF: it can be checked offline too.", "small"),
            ),
            heading=_heading("Before dispensing"),
            qr=address,
        )
    )
    return blocks


def paper_lines(blocks: Iterable[Block]) -> list[str]:
    return [line.text for block in blocks for line in block.all_lines]


# --- Drawing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    size: float
    leading: float
    space_before: float = 0
    color: str = "#1a1a1a"


_STYLES = {
    "notice": _Style(11, 14.5, 0, "#b00020"),
    "title": _Style(16, 20, 2, "#12355b"),
    "subtitle": _Style(12, 16),
    "heading": _Style(11, 14, 9, "#12355b"),
    "item": _Style(10, 13, 5),
    "body": _Style(9.5, 12.5),
    "small": _Style(8, 10.5, 1, "#555555"),
}


@dataclass
class _Placed:
    """A physical line: words (text, bold) at a position and size."""

    words: list[tuple[str, bool]]
    x: float
    y: float
    size: float
    color: str


@dataclass
class _Page:
    lines: list[_Placed] = field(default_factory=list)
    # QR codes: (address, x, y, size)
    codes: list[tuple[str, float, float, float]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.lines or self.codes)


def _wrap(line: Line, width: float, style: _Style) -> tuple[list[list[tuple[str, bool]]], float]:
    """Physical lines breaking only at spaces (so the checker can rejoin them with a space);
    a word wider than the column shrinks the whole line's type until it fits."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    fonts = pdf_fonts()
    regular, bold = fonts.regular, fonts.bold
    words = [(word, strong) for text, strong in line.runs for word in text.split()]

    def measure(word: tuple[str, bool], size: float) -> float:
        return stringWidth(word[0], bold if word[1] else regular, size)

    size = style.size
    widest = max((measure(word, size) for word in words), default=0)
    if widest > width:
        size = size * width / widest * 0.98
    rows: list[list[tuple[str, bool]]] = [[]]
    used = 0.0
    for word in words:
        gap = measure((" ", word[1]), size) if rows[-1] else 0
        wide = measure(word, size)
        if rows[-1] and used + gap + wide > width:
            rows.append([])
            used, gap = 0.0, 0
        rows[-1].append(word)
        used += gap + wide
    return rows, size


def _layout(blocks: list[Block]) -> list[_Page]:
    """Blocks placed on pages: a block starts a new page rather than be split, unless it is
    taller than a page (then its lines flow on; no line is ever placed off the page)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm

    page_width, page_height = A4
    left, top, bottom = 18 * mm, page_height - 16 * mm, 18 * mm
    width = page_width - 36 * mm
    qr_size, qr_gap = 36 * mm, 5 * mm
    pages = [_Page()]
    y = top

    def rows(lines: Iterable[Line], column: float) -> list[tuple[list[tuple[str, bool]], float, _Style, float]]:
        """(words, size, style, space before) per physical line."""
        placed = []
        for line in lines:
            style = _STYLES[line.style]
            wrapped, size = _wrap(line, column, style)
            for index, words in enumerate(wrapped):
                placed.append((words, size, style, style.space_before if index == 0 else 0))
        return placed

    def height(placed: list[tuple[list[tuple[str, bool]], float, _Style, float]]) -> float:
        return sum(before + style.leading * size / style.size for _, size, style, before in placed)

    def put(row: tuple[list[tuple[str, bool]], float, _Style, float], x: float) -> None:
        nonlocal y
        words, size, style, before = row
        leading = style.leading * size / style.size
        if y - before - leading < bottom:
            pages.append(_Page())
            y, before = top, 0
        y -= before
        pages[-1].lines.append(_Placed(words, x, y - size, size, style.color))
        y -= leading

    for block in blocks:
        head = rows([block.heading] if block.heading else [], width)
        x, column = (left + qr_size + qr_gap, width - qr_size - qr_gap) if block.qr else (left, width)
        body = rows(block.lines, column)
        needed = height(head) + (max(height(body), qr_size) if block.qr else height(body))
        if y - needed < bottom and not pages[-1].empty and needed <= top - bottom:
            pages.append(_Page())
            y = top
        for row in head:
            put(row, left)
        qr_bottom = y - qr_size
        if block.qr:
            pages[-1].codes.append((block.qr, left, qr_bottom, qr_size))
        for row in body:
            put(row, x)
        y = min(y, qr_bottom) - 2 if block.qr else y - 2
    return pages


def _draw_qr(canvas: Any, address: str, x: float, y: float, size: float) -> None:
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing

    drawing = Drawing(size, size)
    drawing.add(QrCodeWidget(address, barWidth=size, barHeight=size, barLevel="M", barBorder=4))
    renderPDF.draw(drawing, canvas, x, y)


def _render(blocks: list[Block], *, public_id: str, title: str, author: str) -> bytes:
    from reportlab.lib.colors import HexColor
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    fonts = pdf_fonts()
    regular, bold = fonts.regular, fonts.bold
    pages = _layout(blocks)
    output = io.BytesIO()
    # invariant: no creation date or random id, so the same prescription gives the same bytes.
    canvas = Canvas(output, pagesize=A4, invariant=1, pageCompression=1)
    canvas.setTitle(title)
    canvas.setAuthor(author)
    canvas.setSubject(FORMAT)
    canvas.setCreator("Telemed")
    for number, page in enumerate(pages, start=1):
        for address, x, y, size in page.codes:
            _draw_qr(canvas, address, x, y, size)
        for placed in page.lines:
            text = canvas.beginText(placed.x, placed.y)
            text.setFillColor(HexColor(placed.color))
            for index, (word, strong) in enumerate(placed.words):
                text.setFont(bold if strong else regular, placed.size)
                text.textOut(word if index == 0 else f" {word}")
            canvas.drawText(text)
        canvas.setFont(regular, 7.5)
        canvas.setFillGray(0.35)
        canvas.drawString(18 * mm, 10 * mm, footer(public_id, number, len(pages)))
        canvas.showPage()
    canvas.save()
    return output.getvalue()


def render_paper(
    document: dict[str, Any], *, payload: dict[str, Any], check_code: str, dispense_code: str, notice: str = ""
) -> bytes:
    """The paper that prints `document` and embeds `payload` (prescription_pdf gives both from
    one prescription; tests give them apart to forge papers)."""
    from pypdf import PdfWriter
    from pypdf.generic import NameObject, TextStringObject

    blocks = paper_blocks(document, check_code=check_code, dispense_code=dispense_code, notice=notice)
    pdf = _render(blocks, public_id=document["id"], title=f"Prescription {document['id']}", author=document["clinic"])
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    body = json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")
    attached = writer.add_attachment(ATTACHMENT, body)
    attached.subtype = NameObject("/application#2Fjson")
    attached.description = TextStringObject("Signed prescription (telemed-rx/1): check it with manage.py rx_verify")
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def payload_for(prescription: Prescription) -> tuple[dict[str, Any], str]:
    """The embedded payload of a signed prescription, and the notice its paper prints."""
    items = list(prescription.items.all())
    key = prescription.signing_key
    payload = {
        "format": FORMAT,
        "document": signed_document(prescription, items, key),
        "signature": prescription.signature,
        "public_key": key.public_key if key else "",
        "fingerprint": key.fingerprint if key else "",
    }
    if not integrity_ok(prescription, items):
        return payload, NOTICES["invalid"]
    return payload, NOTICES.get(prescription.status, "")


def prescription_pdf(prescription: Prescription) -> bytes:
    """The paper of a signed prescription (ValueError for a draft: a draft has no paper).

    Cancelled and superseded prescriptions still print, with a notice on top; whoever checks
    the QR code learns the current state from the verify page.
    """
    if prescription.status == PrescriptionStatus.DRAFT or not prescription.is_signed:
        raise ValueError("A draft has no paper: only a signed prescription is printed.")
    payload, notice = payload_for(prescription)
    return render_paper(
        payload["document"],
        payload=payload,
        check_code=prescription.check_code,
        dispense_code=prescription.dispense_code,
        notice=notice,
    )


# --- Checking a paper ------------------------------------------------------------------------


@dataclass
class PaperCheck:
    """What `paper_check` found: ok only when `reasons` is empty.

    `document` is the embedded signed document when it could be read (trust it only if ok);
    `check_code` and `dispense_code` are what the paper prints (not signed: `rx_verify`
    compares them with the database).
    """

    ok: bool
    reasons: list[str] = field(default_factory=list)
    document: dict[str, Any] | None = None
    fingerprint: str = ""
    public_key: str = ""
    signature: str = ""
    check_code: str = ""
    dispense_code: str = ""


_ITEM_TYPES: dict[str, type] = {
    "position": int,
    "medication": str,
    "strength": str,
    "form": str,
    "dose": str,
    "route": str,
    "frequency": str,
    "duration": str,
    "quantity": int,
    "quantity_unit": str,
    "refills": int,
    "substitution_allowed": bool,
    "instructions": str,
}
_PARTY_KEYS = {"patient": {"name", "birth_date", "mrn"}, "prescriber": {"name", "licence", "jurisdiction", "key"}}
_DOCUMENT_KEYS = {
    "v",
    "id",
    "clinic",
    "patient",
    "prescriber",
    "appointment",
    "supersedes",
    "signed_at",
    "valid_days",
    "valid_until",
    "items",
}


def _is_date(value: object, *, blank: bool) -> bool:
    if not isinstance(value, str):
        return False
    if blank and value == "":
        return True
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value))


def _document_problem(document: object) -> str | None:
    """Why `document` is not a version-1 signed document, or None. Exactly the fields the
    paper prints (and the appointment id): a field the paper did not show could be signed
    without anyone seeing it. A field added to signed_document is added here and printed."""
    if not isinstance(document, dict) or set(document) != _DOCUMENT_KEYS or document["v"] != 1:
        return "The embedded prescription is not in a format this portal knows (telemed-rx/1, version 1)."
    checks = [
        isinstance(document["id"], str) and re.fullmatch(f"{_CODE}{{12}}", document["id"]) is not None,
        isinstance(document["clinic"], str),
        document["appointment"] is None or type(document["appointment"]) is int,
        document["supersedes"] is None or isinstance(document["supersedes"], str),
        isinstance(document["signed_at"], str)
        and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", document["signed_at"]) is not None
        and _is_date(document["signed_at"][:10], blank=False),
        _is_date(document["valid_until"], blank=False),
        type(document["valid_days"]) is int,
    ]
    for party, keys in _PARTY_KEYS.items():
        value = document[party]
        checks.append(
            isinstance(value, dict) and set(value) == keys and all(isinstance(v, str) for v in value.values())
        )
    if all(checks):
        checks.append(_is_date(document["patient"]["birth_date"], blank=True))
    items = document["items"]
    checks.append(isinstance(items, list) and len(items) > 0)
    for item in items if isinstance(items, list) else []:
        checks.append(
            isinstance(item, dict)
            and set(item) == set(_ITEM_TYPES)
            # bool is an int in Python: the counts must be real integers, the flag a real bool.
            and all(
                isinstance(item[k], t) and (t is bool or not isinstance(item[k], bool)) for k, t in _ITEM_TYPES.items()
            )
        )
    if not all(checks):
        return "The embedded prescription is malformed: a field is missing or of the wrong kind."
    return None


def _payload(reader: Any, result: PaperCheck) -> dict[str, Any] | None:
    attachments = reader.attachments.get(ATTACHMENT)
    if not attachments:
        result.reasons.append(
            "The PDF carries no embedded signature: it is not a prescription paper from this portal, "
            "or it was re-saved without its attachment."
        )
        return None
    if len(attachments) != 1:
        result.reasons.append("The PDF carries more than one embedded signature.")
        return None
    raw = attachments[0]
    if len(raw) > MAX_PAYLOAD_BYTES:
        result.reasons.append("The embedded signature is far larger than a prescription's: it is not one.")
        return None
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        result.reasons.append("The embedded signature cannot be read (not JSON).")
        return None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        result.reasons.append(f"The embedded signature is not in the {FORMAT} format.")
        return None
    return payload


def _hex(value: object, size: int) -> bytes | None:
    if not isinstance(value, str) or not re.fullmatch(f"[0-9a-f]{{{size * 2}}}", value):
        return None
    return bytes.fromhex(value)


def _check_signature(payload: dict[str, Any], document: dict[str, Any], result: PaperCheck) -> None:
    public = _hex(payload.get("public_key"), signing.PUBLIC_KEY_BYTES)
    signature = _hex(payload.get("signature"), signing.SIGNATURE_BYTES)
    if public is None:
        result.reasons.append("The embedded public key is not an Ed25519 public key.")
    if signature is None:
        result.reasons.append("The embedded signature is not an Ed25519 signature.")
    if public is None or signature is None:
        return
    named = document["prescriber"]["key"]
    actual = signing.fingerprint(public)
    if actual != named or payload.get("fingerprint") != named:
        result.reasons.append(
            f"The embedded public key (fingerprint {signing.fingerprint_for_display(actual)}) is not the key "
            f"the prescription names ({signing.fingerprint_for_display(str(named))})."
        )
    if not signing.verify(public, document, signature):
        result.reasons.append(
            "The signature does not match the prescription: its content was changed after signing, "
            "or it was not signed with this key."
        )


def _page_lines(reader: Any, public_id: str, result: PaperCheck) -> list[str] | None:
    """The text lines of every page, each page's footer checked and left out, or None (reason given)."""
    pages = list(reader.pages)
    lines: list[str] = []
    for number, page in enumerate(pages, start=1):
        if page.get("/Annots"):
            result.reasons.append(f"Page {number} carries annotations (marks added on top of the printed text).")
            return None
        # The paper draws no image (its QR code is vector art): an image could show other
        # text than the text this check reads.
        if page.images:
            result.reasons.append(f"Page {number} carries an image, which the paper never does.")
            return None
        text = [_normal(row) for row in page.extract_text().splitlines()]
        expected_footer = footer(public_id, number, len(pages))
        if text.count(expected_footer) != 1:
            result.reasons.append(
                f"Page {number} does not carry its footer “{expected_footer}”: pages were added, removed or changed."
            )
            return None
        lines += [row for row in text if row and row != expected_footer]
    if not lines:
        result.reasons.append("The PDF has no text to compare with the signature (was it scanned or flattened?).")
        return None
    return lines


def _shown(text: str) -> str:
    # A character the paper's font cannot draw (DejaVu Sans has no CJK) comes back as NUL.
    return "".join("□" if ord(char) < 32 else char for char in text)


def _difference(expected: list[str], printed: list[str]) -> str | None:
    """The first difference between the lines the signature says and the lines printed, or None.

    A printed line may hold only part of an expected line, broken at a space (wrapping); so
    consecutive printed lines are joined with a space until they make the expected line.
    """
    index = 0
    for want in expected:
        got = ""
        while got != want:
            if index >= len(printed):
                return f"The paper lacks “{want}”, which the signed prescription says."
            got = f"{got} {printed[index]}" if got else printed[index]
            index += 1
            if not (want == got or want.startswith(got + " ")):
                return f"The paper shows “{_shown(got)}” where the signed prescription says “{want}”."
    if index < len(printed):
        return f"The paper shows “{_shown(printed[index])}”, which the signed prescription does not say."
    return None


def _check_text(reader: Any, document: dict[str, Any], result: PaperCheck) -> None:
    printed = _page_lines(reader, document["id"], result)
    if printed is None:
        return
    whole = " ".join(printed)
    # Any portal's address: a clinic that moves to a new address keeps its old papers valid
    # (what is signed is checked here; the address only leads a phone to the verify page).
    address = re.search(rf"https?://[^\s/]+{re.escape(VERIFY_PATH)}({_CODE}+)\?c=({_CODE}{{10}})(?!\S)", whole)
    dispense = re.search(rf"Pharmacy dispense code: ({_CODE}{{4}} {_CODE}{{4}})(?!\S)", whole)
    if address is None:
        result.reasons.append("The paper does not print a verify address.")
    elif address.group(1) != document["id"]:
        result.reasons.append(
            f"The verify address on the paper names prescription {address.group(1)}, not {document['id']}."
        )
    if dispense is None:
        result.reasons.append("The paper does not print a pharmacy dispense code.")
    if address is None or dispense is None or address.group(1) != document["id"]:
        return
    result.check_code, result.dispense_code = address.group(2), dispense.group(1).replace(" ", "")
    notice = next((text for text in NOTICES.values() if whole.startswith(f"{text} ")), "")
    blocks = paper_blocks(document, check_code=result.check_code, dispense_code=result.dispense_code, notice=notice)
    difference = _difference(paper_lines(blocks), printed)
    if difference:
        result.reasons.append(difference)


def paper_check(pdf: bytes) -> PaperCheck:
    """Check a paper without the database (see the module docstring); never raises."""
    from pypdf import PdfReader

    result = PaperCheck(ok=False)
    try:
        reader = PdfReader(io.BytesIO(pdf))
        if reader.is_encrypted:
            result.reasons.append("The PDF is encrypted: a prescription paper never is.")
            return result
        payload = _payload(reader, result)
        if payload is None:
            return result
        document = payload.get("document")
        problem = _document_problem(document)
        if problem:
            result.reasons.append(problem)
            return result
        assert isinstance(document, dict)
        result.document = document
        result.fingerprint = document["prescriber"]["key"]
        result.public_key = str(payload.get("public_key", ""))
        result.signature = str(payload.get("signature", ""))
        _check_signature(payload, document, result)
        _check_text(reader, document, result)
    except Exception as error:  # a malformed PDF is an invalid paper, never a crash
        result.reasons.append(f"The PDF cannot be read ({type(error).__name__}).")
    result.ok = not result.reasons
    return result
