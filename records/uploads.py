"""What an uploaded file really is: decided from its bytes (libmagic), never from its name.

Allowed: PDF, PNG, JPEG, plain text (UTF-8). Refused, whatever the name says: HTML, SVG (it
carries script), anything else libmagic recognises, and files of an allowed type that carry
what a patient's record has no use for:

- a PDF with JavaScript, auto-run, launch or submit actions, XFA forms, rich media or
  attached files, looked for in the file's objects *and* inside its compressed streams (a
  modern PDF keeps most objects in compressed object streams, where the raw bytes show
  nothing); a PDF that is encrypted, or uses an encoding decoded here neither by zlib nor as
  ASCII hex/base-85 (LZW, RunLength, Crypt), is refused because it cannot be checked;
- a PNG or JPEG that Pillow cannot read to the end (truncated, garbage after a valid header),
  larger than Pillow's decompression-bomb limit, with bytes after the PNG end chunk, or with
  HTML/SVG markup anywhere (the image/HTML polyglot);
- text that is not UTF-8, has control characters, or contains HTML/SVG markup.

Decompression is bounded (PDF_INFLATE_BUDGET bytes for one PDF) so that a small "zip bomb"
costs a refusal, not the worker's memory. This is one layer: downloads are also attachments
with `nosniff`, and ClamAV scans what passes (records.scanning).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
import zlib
from collections.abc import Iterable, Iterator
from typing import IO

import magic
from PIL import Image, UnidentifiedImageError

ALLOWED_TYPES = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "text/plain": ".txt",
}
SNIFF_BYTES = 64 * 1024
# What all the streams of one PDF may inflate to before the file is refused as a bomb.
PDF_INFLATE_BUDGET = 256 * 1024 * 1024
# Predictors are undone in Python; a non-image stream larger than this once inflated is refused.
PDF_PREDICTOR_LIMIT = 4 * 1024 * 1024
# More streams than any document a patient brings: refused rather than parsed at length.
PDF_MAX_STREAMS = 100_000

# A PDF name ends at whitespace or a delimiter ("/JS(" and "/JS " but not "/JSON").
_NAME_END = rb"(?![^\x00\t\n\x0c\r ()<>\[\]{}/%])"
# PDF names that run something when the file is opened, or smuggle other files in.
_PDF_ACTIVE = re.compile(
    rb"/(JavaScript|JS|Launch|RichMedia|XFA|EmbeddedFiles?|FileAttachment|SubmitForm|ImportData)" + _NAME_END
)
# Content this module cannot read: refused rather than waved through.
_PDF_OPAQUE = re.compile(rb"/(Encrypt|LZWDecode|LZW|RunLengthDecode|RL|Crypt)" + _NAME_END)
# PDF names may spell letters as #xx escapes (/J#61vaScript): decoded before matching.
_PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_STREAM = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
_PDF_FILTER = re.compile(rb"/Filter\s*(\[[^\]]*\]|/[^\x00\t\n\x0c\r ()<>\[\]{}/%]+)")
_PDF_NAME = re.compile(rb"/([^\x00\t\n\x0c\r ()<>\[\]{}/%]+)")
_PDF_LENGTH = re.compile(rb"/Length\s+(\d+)(?:\s+(\d+)\s+R)?")
_PDF_INT = {
    key: re.compile(rb"/" + key + rb"\s+(\d+)") for key in (b"Predictor", b"Columns", b"Colors", b"BitsPerComponent")
}
_PDF_IMAGE = re.compile(rb"/Subtype\s*/Image" + _NAME_END)
_PDF_OBJECT_HEADER = re.compile(rb"\d+\s+\d+\s+obj\b")
_PDF_INTEGER_OBJECT = re.compile(rb"(?<!\d)(\d+)\s+(\d+)\s+obj\s*(\d+)\s*endobj")
_PDF_FLATE = {b"FlateDecode", b"Fl"}
_PDF_HEX = {b"ASCIIHexDecode", b"AHx"}
_PDF_A85 = {b"ASCII85Decode", b"A85"}
# Codecs that only ever hold pixels: a reader never parses objects out of them.
_PDF_IMAGE_CODECS = {b"DCTDecode", b"DCT", b"JPXDecode", b"CCITTFaxDecode", b"CCF", b"JBIG2Decode"}

# Markup a browser would render: tags, optionally namespaced (<svg:svg>, <x:script>).
# Ending at whitespace, "/" or ">" (a tag), not at any non-letter: "<svg" followed by any
# byte turns up by chance in binary image data far more often.
_HTML_HINT = re.compile(
    rb"<\s*(?:[\w.-]+:)?(!doctype\s+html|html|script|svg|iframe|body|head|object|embed|frameset|frame|meta)(?=[\s/>])",
    re.IGNORECASE,
)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class RefusedType(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def sniff(stream: IO[bytes]) -> str:
    """The content type of the file at `stream` (rewound afterwards), or RefusedType."""
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    detected = magic.from_buffer(head, mime=True)
    if detected == "text/csv":
        detected = "text/plain"  # libmagic's name for prose with commas in it (a readings log)
    if detected not in ALLOWED_TYPES:
        readable = {"text/html": "an HTML page", "image/svg+xml": "an SVG image"}.get(detected, detected)
        raise RefusedType(f"This file is {readable}; upload a PDF, PNG, JPEG or plain-text file.")
    try:
        if detected == "application/pdf":
            _check_pdf(stream)
        elif detected == "text/plain":
            _check_text(stream)
        else:
            _check_image(stream, detected)
    finally:
        stream.seek(0)
    return detected


def _chunks(stream: IO[bytes], size: int = 1024 * 1024) -> Iterator[bytes]:
    stream.seek(0)
    tail = b""
    while chunk := stream.read(size):
        # Keep an overlap so that a marker split across two reads is still seen.
        yield tail + chunk
        tail = chunk[-256:]


def _has_markup(stream: IO[bytes]) -> bool:
    return any(_HTML_HINT.search(chunk) for chunk in _chunks(stream))


# --- PDF ----------------------------------------------------------------------------------------
#
# The file is read as text except where its streams hold data: there what a stream decodes to
# is read instead, and pixels (image codecs, image data) are not read at all, since a
# three-letter name like /JS turns up by chance in one 20 MB file out of a few. A stream's raw
# bytes are still read as text when they hold something shaped like an object header
# ("12 0 obj": a reader finding it there by its xref offset would run it), and a stream
# declared as pixels is read as what it inflates to, if it does.


def _unescape(data: bytes) -> bytes:
    return _PDF_NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)


class _PdfBudget:
    def __init__(self) -> None:
        self.left = PDF_INFLATE_BUDGET

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise RefusedType("This PDF is too large once decompressed to be checked safely.")


def _check_pdf(stream: IO[bytes]) -> None:
    stream.seek(0)
    data = stream.read()
    budget = _PdfBudget()
    lengths = _PdfLengths(data)
    structure = bytearray(data)
    previous_end = 0
    for count, match in enumerate(_PDF_STREAM.finditer(data)):
        if count >= PDF_MAX_STREAMS:
            raise RefusedType("This PDF is too complex to be checked safely.")
        # This stream's dictionary lies between the previous stream's end (or, for a stream
        # keyword inside another stream, the last "endobj") and the keyword.
        floor = previous_end if previous_end <= match.start() else data.rfind(b"endobj", 0, match.start()) + 1
        header = _unescape(data[max(floor, match.start() - 1024 * 1024) : match.start()])
        begin = match.end()
        end = data.find(b"endstream", begin)
        end = len(data) if end < 0 else end
        declared = lengths.of(header)
        if declared is not None and begin + declared > end:
            # "endstream" inside the data: a reader follows /Length; so do we.
            end = min(len(data), begin + declared)
        previous_end = max(previous_end, end)
        _check_pdf_stream(data[begin:end], header, budget)
        structure[begin:end] = bytes(end - begin)
    _check_pdf_names(bytes(structure))


def _check_pdf_stream(raw: bytes, header: bytes, budget: _PdfBudget) -> None:
    if _PDF_OBJECT_HEADER.search(raw):
        _check_pdf_names(raw)
    filters = _pdf_filters(header)
    if any(name in _PDF_IMAGE_CODECS for name in filters):
        _check_pdf_text(_inflate(raw, budget))  # declared as pixels, yet it inflates
        return
    # An object stream needs /First: an "image" with one is not only an image.
    if _PDF_IMAGE.search(header) and b"/First" not in header:
        return
    decoded = _pdf_decode(raw, filters, budget)
    if _pdf_param(header, b"Predictor", 1) >= 2:
        _check_pdf_names(_pdf_unpredict(_collect(decoded, PDF_PREDICTOR_LIMIT), header))
    else:
        _check_pdf_text(decoded)
    if not filters:
        _check_pdf_text(_inflate(raw, budget))  # undeclared compression: cheap to try


def _check_pdf_text(pieces: Iterable[bytes]) -> None:
    tail = b""
    for piece in pieces:
        _check_pdf_names(tail + piece)
        tail = piece[-256:]


def _check_pdf_names(data: bytes) -> None:
    text = _unescape(data)
    if _PDF_ACTIVE.search(text):
        raise RefusedType("This PDF contains scripts, automatic actions or attached files and cannot be stored.")
    if _PDF_OPAQUE.search(text):
        raise RefusedType(
            "This PDF is encrypted or uses an encoding that cannot be checked; "
            "print it to a new PDF (or save an unprotected copy) and upload that."
        )


def _pdf_param(header: bytes, key: bytes, default: int) -> int:
    found = _PDF_INT[key].findall(header)
    return int(found[-1]) if found else default


class _PdfLengths:
    """A stream's /Length, direct or through an indirect object (indexed once, on first need)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.objects: dict[tuple[bytes, bytes], int] | None = None

    def of(self, header: bytes) -> int | None:
        found = _PDF_LENGTH.findall(header)
        if not found:
            return None
        number, generation = found[-1]
        if not generation:
            return int(number)
        if self.objects is None:
            self.objects = {(m.group(1), m.group(2)): int(m.group(3)) for m in _PDF_INTEGER_OBJECT.finditer(self.data)}
        return self.objects.get((number, generation))


def _pdf_filters(header: bytes) -> list[bytes]:
    found = _PDF_FILTER.findall(header)
    return _PDF_NAME.findall(found[-1]) if found else []


def _pdf_decode(raw: bytes, filters: list[bytes], budget: _PdfBudget) -> Iterator[bytes]:
    data = raw
    for position, name in enumerate(filters):
        if name in _PDF_FLATE:
            pieces = _inflate(data, budget)
            if position == len(filters) - 1:
                return pieces
            data = _collect(pieces, PDF_PREDICTOR_LIMIT)
        elif name in _PDF_HEX:
            data = _unhex(data)
        elif name in _PDF_A85:
            data = _un85(data)
        else:
            raise RefusedType(f"This PDF uses an encoding ({name.decode('latin-1')}) that cannot be checked.")
    return iter([data])


def _inflate(data: bytes, budget: _PdfBudget) -> Iterator[bytes]:
    """What zlib inflates from `data`, 1 MiB at a time, as far as it goes (a reader shows what
    precedes damage, so that is what is checked), each piece charged to `budget`."""
    inflater = zlib.decompressobj()
    step = 64 * 1024
    try:
        for start in range(0, len(data), step):
            chunk = data[start : start + step]
            while chunk and not inflater.eof:
                piece = inflater.decompress(chunk, 1024 * 1024)
                chunk = inflater.unconsumed_tail
                budget.spend(len(piece))
                if piece:
                    yield piece
            if inflater.eof:
                return
    except zlib.error:
        return


def _collect(pieces: Iterable[bytes], limit: int) -> bytes:
    out = bytearray()
    for piece in pieces:
        out += piece
        if len(out) > limit:
            raise RefusedType("This PDF is too complex to be checked safely.")
    return bytes(out)


def _unhex(data: bytes) -> bytes:
    digits = re.sub(rb"[^0-9A-Fa-f]", b"", data.split(b">", 1)[0])
    if len(digits) % 2:
        digits += b"0"
    return binascii.unhexlify(digits)


def _un85(data: bytes) -> bytes:
    body = data.split(b"~>", 1)[0].strip().removeprefix(b"<~")
    try:
        return base64.a85decode(body, ignorechars=b" \t\n\r\x0b\x0c\x00")
    except ValueError:
        raise RefusedType("This PDF is damaged (a stream does not decode).") from None


def _pdf_unpredict(data: bytes, header: bytes) -> bytes:
    """Undo a PNG (10-15) or TIFF (2) predictor from /DecodeParms, so that names are readable."""
    colors = _pdf_param(header, b"Colors", 1)
    bits = _pdf_param(header, b"BitsPerComponent", 8)
    columns = _pdf_param(header, b"Columns", 1)
    bpp = max(1, colors * bits // 8)
    row = max(1, (colors * bits * columns + 7) // 8)
    if _pdf_param(header, b"Predictor", 1) == 2:
        return bytes(_untiff(data, row, bpp))
    return bytes(_unpng(data, row, bpp))


def _untiff(data: bytes, row: int, bpp: int) -> bytearray:
    out = bytearray(data)
    for start in range(0, len(out), row):
        for x in range(start + bpp, min(start + row, len(out))):
            out[x] = (out[x] + out[x - bpp]) & 0xFF
    return out


def _unpng(data: bytes, row: int, bpp: int) -> bytearray:
    out = bytearray()
    previous = bytearray(row)
    for start in range(0, len(data), row + 1):
        kind = data[start]
        current = bytearray(data[start + 1 : start + 1 + row].ljust(row, b"\0"))
        for x in range(row):
            left = current[x - bpp] if x >= bpp else 0
            up = previous[x]
            if kind == 1:
                current[x] = (current[x] + left) & 0xFF
            elif kind == 2:
                current[x] = (current[x] + up) & 0xFF
            elif kind == 3:
                current[x] = (current[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                corner = previous[x - bpp] if x >= bpp else 0
                guess = left + up - corner
                near_left, near_up, near_corner = abs(guess - left), abs(guess - up), abs(guess - corner)
                if near_left <= near_up and near_left <= near_corner:
                    current[x] = (current[x] + left) & 0xFF
                elif near_up <= near_corner:
                    current[x] = (current[x] + up) & 0xFF
                else:
                    current[x] = (current[x] + corner) & 0xFF
        out += current
        previous = current
    return out


# --- Text and images ----------------------------------------------------------------------------


def _check_text(stream: IO[bytes]) -> None:
    stream.seek(0)
    data = stream.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RefusedType("This text file is not UTF-8; save it as UTF-8 or as a PDF.") from None
    # libmagic calls markup with leading prose "text/plain"; a browser might still render it.
    if _HTML_HINT.search(data):
        raise RefusedType("This file contains HTML or SVG markup; upload a PDF, PNG, JPEG or plain-text file.")
    if any(unicodedata.category(char) == "Cc" and char not in "\t\n\r\f" for char in text):
        raise RefusedType("This text file contains control characters; upload it as a PDF.")


def _check_image(stream: IO[bytes], detected: str) -> None:
    expected = {"image/png": "PNG", "image/jpeg": "JPEG"}[detected]
    stream.seek(0)
    try:
        # formats=: Pillow must not fall back to another decoder for bytes that only look right.
        with Image.open(stream, formats=[expected]) as image:
            if image.format != expected:
                raise RefusedType("This image is not what its contents claim to be.")
            if Image.MAX_IMAGE_PIXELS and image.width * image.height > Image.MAX_IMAGE_PIXELS:
                raise RefusedType("This image is too large to open safely.")
            if expected == "JPEG":
                # A JPEG is only known to be whole once decoded; at 1/8 scale every byte of
                # the compressed data is still read, at a 64th of the memory.
                image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()
            else:
                image.verify()  # every chunk's CRC, through IEND
    except Image.DecompressionBombError as exc:
        raise RefusedType("This image is too large to open safely.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise RefusedType("This image is damaged or not a real PNG/JPEG.") from exc
    if expected == "PNG" and _png_trailing_bytes(stream):
        raise RefusedType("This image has data appended after its end; save it again and upload the copy.")
    if _has_markup(stream):
        raise RefusedType("This image carries HTML or SVG markup and cannot be stored.")


def _png_trailing_bytes(stream: IO[bytes]) -> int:
    """How many bytes follow the IEND chunk (a PNG ends there; anything after is a passenger)."""
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(len(_PNG_SIGNATURE))
    while header := stream.read(8):
        if len(header) < 8:
            break
        length, kind = int.from_bytes(header[:4], "big"), header[4:]
        stream.seek(length + 4, 1)  # data and CRC
        if kind == b"IEND":
            return size - stream.tell()
    return 0


_UNSAFE = re.compile(r"[^\w.\- ()]+")


def display_filename(name: str, content_type: str) -> str:
    """A name to show and to offer on download: the last path part, no control or path characters,
    at most 120 characters, ending in the extension of what the file really is."""
    # NFKC first: it turns look-alikes (fullwidth solidus, one-dot leader) into "/" and ".".
    name = unicodedata.normalize("NFKC", name or "")
    base = re.split(r"[\\/]", name)[-1].strip().lstrip(".")
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = _UNSAFE.sub("_", stem).strip("._ ")[:100] or "document"
    return f"{stem}{ALLOWED_TYPES[content_type]}"
