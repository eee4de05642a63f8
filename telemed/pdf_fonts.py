"""The fonts of the PDFs the portal prints (the patient's record, prescriptions)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class PdfFonts:
    regular: str
    bold: str
    name: str  # what the fonts are, for the reader of this code and the tests


@lru_cache(maxsize=1)
def pdf_fonts() -> PdfFonts:
    """DejaVu Sans (Debian's fonts-dejavu-core: Latin, Greek, Cyrillic and more) when installed,
    else Bitstream Vera, which reportlab ships (Latin-1: the accents of western European
    names). Both are embedded TrueType fonts with a Unicode map, so the text can be searched,
    copied and compared (a prescription's offline check reads it back). The PDF's standard
    Helvetica is the last resort: it has no glyph outside Latin-1 and no embedded map."""
    import reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    bundled = Path(reportlab.__file__).parent / "fonts"
    candidates = [
        ("DejaVu", DEJAVU_DIR / "DejaVuSans.ttf", DEJAVU_DIR / "DejaVuSans-Bold.ttf"),
        ("Vera", bundled / "Vera.ttf", bundled / "VeraBd.ttf"),
    ]
    for name, regular, bold in candidates:
        if regular.exists() and bold.exists():
            pdfmetrics.registerFont(TTFont(f"Telemed{name}", str(regular)))
            pdfmetrics.registerFont(TTFont(f"Telemed{name}-Bold", str(bold)))
            # So that <b> in a paragraph finds the bold face.
            pdfmetrics.registerFontFamily(
                f"Telemed{name}",
                normal=f"Telemed{name}",
                bold=f"Telemed{name}-Bold",
                italic=f"Telemed{name}",
                boldItalic=f"Telemed{name}-Bold",
            )
            return PdfFonts(regular=f"Telemed{name}", bold=f"Telemed{name}-Bold", name=name)
    return PdfFonts(regular="Helvetica", bold="Helvetica-Bold", name="Helvetica")
