"""Files for the upload tests: real images and PDFs made by real writers, and hand-built PDFs
where a test needs a structure no writer produces on request (an object stream holding a
script). Every hand-built PDF is one PDFium opens (the tests check that a script in it is
one PDFium sees), so a refusal is of a real file, not of a string that merely looks bad.
"""

from __future__ import annotations

import io
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from reportlab.pdfgen import canvas

# The EICAR anti-virus test file: harmless, and every scanner is meant to flag it.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

SCRIPT_ACTION = b"<< /Type /Action /S /JavaScript /JS (app.alert\\('owned'\\)) >>"


def upload(content: bytes, name: str, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    # The browser's content type is the attacker's to choose; the service never reads it.
    return SimpleUploadedFile(name, content, content_type=content_type)


def png(size: tuple[int, int] = (32, 24), color: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def jpeg(size: tuple[int, int] = (64, 48), color: str = "salmon") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", quality=90)
    return out.getvalue()


def lab_report_pdf(lines: int = 3) -> bytes:
    """A real PDF from reportlab, compressed the way most writers do."""
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pageCompression=1)
    pdf.setTitle("Lipid panel")
    for number in range(lines):
        pdf.drawString(72, 720 - 18 * number, f"LDL cholesterol {2.4 + number / 10:.1f} mmol/L")
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def built_pdf(
    extra: dict[int, bytes] | None = None,
    *,
    catalog: bytes = b"",
    packed: set[int] = frozenset(),
    predictor: bool = False,
) -> bytes:
    """A one-page PDF 1.5 with a cross-reference stream. Objects 1-3 are the catalog, the page
    tree and the page; `catalog` adds entries to the catalog, `extra` adds objects from 4 on,
    and the object numbers in `packed` go into one zlib-compressed object stream (with a PNG
    "Up" predictor when `predictor`), where they cannot be seen in the file's bytes."""
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        **(extra or {}),
    }
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    compressed: dict[int, tuple[int, int]] = {}
    for number in sorted(set(objects) - set(packed)):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    next_number = max(objects) + 1
    if packed:
        container, next_number = next_number, next_number + 1
        index, body = [], b""
        for position, number in enumerate(sorted(packed)):
            index.append(b"%d %d" % (number, len(body)))
            body += objects[number] + b"\n"
            compressed[number] = (container, position)
        head = b" ".join(index) + b"\n"
        content, params = head + body, b""
        if predictor:
            content, params = _png_up(content, columns=8), b" /DecodeParms << /Predictor 12 /Columns 8 >>"
        data = zlib.compress(content)
        offsets[container] = len(out)
        out += b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode%s /Length %d >>\nstream\n" % (
            container,
            len(packed),
            len(head),
            params,
            len(data),
        )
        out += data + b"\nendstream\nendobj\n"
    xref = next_number
    offsets[xref] = len(out)
    rows = b""
    for number in range(xref + 1):
        if number in compressed:
            kind, first, second = 2, *compressed[number]
        elif number in offsets:
            kind, first, second = 1, offsets[number], 0
        else:
            kind, first, second = 0, 0, 65535 if number == 0 else 0
        rows += bytes([kind]) + first.to_bytes(4, "big") + second.to_bytes(2, "big")
    data = zlib.compress(rows)
    out += b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Filter /FlateDecode /Length %d >>\nstream\n" % (
        xref,
        xref + 1,
        len(data),
    )
    out += data + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % offsets[xref]
    return bytes(out)


def _png_up(data: bytes, *, columns: int) -> bytes:
    """PNG predictor 2 ("Up") as PDF's /Predictor 12 expects it: each row a difference."""
    data += b"\0" * (-len(data) % columns)
    rows = [data[start : start + columns] for start in range(0, len(data), columns)]
    out, previous = bytearray(), bytes(columns)
    for row in rows:
        out += b"\x02" + bytes((byte - above) & 0xFF for byte, above in zip(row, previous, strict=True))
        previous = row
    return bytes(out)


def script_in_names(packed: bool = False, predictor: bool = False) -> bytes:
    """A PDF whose document-level JavaScript (the /Names tree) runs when it is opened."""
    return built_pdf(
        {4: SCRIPT_ACTION, 5: b"<< /JavaScript << /Names [(open) 4 0 R] >> >>"},
        catalog=b"/Names 5 0 R",
        packed={1, 4, 5} if packed else set(),
        predictor=predictor,
    )
