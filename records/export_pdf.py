"""The patient's copy as a PDF (reportlab platypus), rendered from the `telemed.record.v1`
data that records.services.export builds: a title, the identity block, one section per part of
the record with its table, the visit notes with their amendments, and on every page the
patient, the MRN, when it was generated and "Page n of N". Times are shown in the clinic's
time zone (TIME_ZONE) with the zone's name.

No access check and no audit here: the service does both before it calls this.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterable
from typing import Any
from xml.sax.saxutils import escape

from django.utils import timezone

from records.models import Source
from telemed.pdf_fonts import pdf_fonts


def _text(value: Any) -> str:
    return escape("" if value is None else str(value)).replace("\n", "<br/>")


def _date(value: str | None) -> str:
    if not value:
        return "—"
    day = dt.date.fromisoformat(value)
    return f"{day.day} {day:%b %Y}"


def _moment(value: str | None) -> str:
    """A stored instant in the clinic's time zone (TIME_ZONE), with the zone's name."""
    if not value:
        return "—"
    local = timezone.localtime(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    return f"{local.day} {local:%b %Y %H:%M} {local.tzname()}"


def _label(value: str | None) -> str:
    return (value or "—").replace("_", " ").capitalize()


def _measure(value: Any) -> str:
    return "—" if value is None else str(value)


def _who(party: dict[str, str] | None) -> str:
    return party["name"] if party else "—"


def render_record_pdf(record: dict[str, Any]) -> bytes:
    """The PDF of a `telemed.record.v1` record (records.services.export builds the record)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    fonts = pdf_fonts()
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=fonts.regular, fontSize=9, leading=11.5)
    cell = ParagraphStyle("cell", parent=body, fontSize=8, leading=10)
    head = ParagraphStyle("head", parent=cell, fontName=fonts.bold)
    title = ParagraphStyle("title", parent=base["Title"], fontName=fonts.bold, fontSize=18, alignment=0)
    h2 = ParagraphStyle("h2", parent=base["Heading2"], fontName=fonts.bold, fontSize=12.5, spaceBefore=10)
    h3 = ParagraphStyle("h3", parent=base["Heading3"], fontName=fonts.bold, fontSize=10, spaceBefore=6)
    width = A4[0] - 36 * mm

    def table(headers: list[str], rows: Iterable[list[Any]], widths: list[float]) -> Any:
        data = [[Paragraph(_text(text), head) for text in headers]]
        data += [[Paragraph(_text(value), cell) for value in row] for row in rows]
        if len(data) == 1:
            return Paragraph("None recorded.", body)
        scale = width / sum(widths)
        grid = Table(data, colWidths=[w * scale for w in widths], repeatRows=1)
        grid.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#b8c4d0")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("TOPPADDING", (0, 0), (-1, -1), 2),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ]
            )
        )
        return grid

    patient = record["patient"]
    generated = _moment(record["generated_at"])
    story: list[Any] = [
        Paragraph(_text(f"Health record of {patient['name']}"), title),
        Paragraph(_text(f"{record['clinic']} · generated {generated}"), body),
        Spacer(1, 4 * mm),
        table(
            ["Name", "Legal name", "Date of birth", "MRN", "Sex", "Email"],
            [
                [
                    patient["name"],
                    patient["legal_name"] or "—",
                    _date(patient["date_of_birth"]),
                    patient["mrn"] or "—",
                    _label(patient["sex"]),
                    patient["email"],
                ]
            ],
            [3, 3, 2.2, 2.2, 1.6, 4],
        ),
    ]

    def section(heading: str, content: Any) -> None:
        story.append(Paragraph(_text(heading), h2))
        story.append(content)

    section(
        "Allergies",
        table(
            ["Substance", "Reaction", "Severity", "Status", "Noted", "Recorded by"],
            [
                [
                    a["substance"],
                    a["reaction"],
                    _label(a["severity"]),
                    _label(a["status"]),
                    _date(a["noted_on"]),
                    _who(a["recorded_by"]),
                ]
                for a in record["allergies"]
            ],
            [3, 3.5, 1.6, 1.6, 1.8, 2.6],
        ),
    )
    section(
        "Problems",
        table(
            ["Problem", "Code", "Onset", "Status", "Recorded by"],
            [
                [c["description"], c["code"], _date(c["onset_on"]), _label(c["status"]), _who(c["recorded_by"])]
                for c in record["problems"]
            ],
            [5, 1.8, 1.8, 1.6, 2.6],
        ),
    )
    section(
        "Medications",
        table(
            ["Medication", "Dose", "Route", "How often", "Started", "Stopped", "Status"],
            [
                [
                    m["name"],
                    m["dose"],
                    _label(m["route"]),
                    m["frequency"],
                    _date(m["started_on"]),
                    _date(m["stopped_on"]),
                    _label(m["status"]),
                ]
                for m in record["medications"]
            ],
            [3.2, 1.8, 1.6, 2.4, 1.8, 1.8, 1.6],
        ),
    )
    section(
        "Immunizations",
        table(
            ["Vaccine", "Given on", "Dose", "Lot", "Notes"],
            [
                [i["vaccine"], _date(i["administered_on"]), _measure(i["dose_number"]), i["lot_number"], i["notes"]]
                for i in record["immunizations"]
            ],
            [3.2, 1.8, 1, 2, 4.5],
        ),
    )
    section(
        "Vital signs",
        table(
            [
                "Measured",
                "BP mmHg",
                "Pulse /min",
                "Temp °C",
                "Resp. /min",
                "SpO2 %",
                "Weight kg",
                "Height cm",
                "BMI",
                "Source, note",
            ],
            [
                [
                    _moment(v["measured_at"]),
                    f"{v['systolic_mmhg']}/{v['diastolic_mmhg']}" if v["systolic_mmhg"] is not None else "—",
                    _measure(v["heart_rate_bpm"]),
                    _measure(v["temperature_c"]),
                    _measure(v["respiratory_rate"]),
                    _measure(v["spo2_pct"]),
                    _measure(v["weight_kg"]),
                    _measure(v["height_cm"]),
                    _measure(v["bmi"]),
                    "; ".join(part for part in (Source(v["source"]).label, v["note"]) if part),
                ]
                for v in record["vitals"]
            ],
            [2.4, 1.5, 1.2, 1.2, 1.2, 1.3, 1.6, 1.6, 1, 3],
        ),
    )
    story.append(Paragraph("Visit notes", h2))
    if not record["notes"]:
        story.append(Paragraph("None recorded.", body))
    for note in record["notes"]:
        parts = [
            Paragraph(_text(f"Signed {_moment(note['signed_at'])} by {_who(note['signed_by'])}"), h3),
            *(
                Paragraph(f"<b>{label}.</b> {_text(note[key])}", body)
                for key, label in (
                    ("subjective", "Subjective"),
                    ("objective", "Objective"),
                    ("assessment", "Assessment"),
                    ("plan", "Plan"),
                )
                if note[key]
            ),
        ]
        for amendment in note["amendments"]:
            parts.append(
                Paragraph(
                    f"<b>Amendment</b> {_text(_moment(amendment['created_at']))} by {_text(_who(amendment['author']))} "
                    f"({_text(amendment['reason'])}): {_text(amendment['text'])}",
                    body,
                )
            )
        story.append(KeepTogether(parts))
    section(
        "Documents",
        table(
            ["Title", "File", "Category", "Type", "Size", "Added", "SHA-256"],
            [
                [
                    d["title"],
                    d["filename"],
                    _label(d["category"]),
                    d["content_type"],
                    f"{d['size_bytes']:,} B",
                    _moment(d["recorded_at"]),
                    d["sha256"][:16] + "…",
                ]
                for d in record["documents"]
            ],
            [3, 3, 1.6, 1.8, 1.4, 2.4, 2.4],
        ),
    )
    if record["documents"]:
        story.append(
            Paragraph(
                "The documents themselves are downloaded one by one from the portal (My health → Documents).", body
            )
        )

    output = io.BytesIO()
    footer = f"{patient['name']} · MRN {patient['mrn'] or '—'} · generated {generated}"
    document = SimpleDocTemplate(
        output,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=f"Health record of {patient['name']}",
        author=record["clinic"],
        subject=record["format"],
    )
    document.build(story, canvasmaker=_numbered_canvas(fonts.regular, footer))
    return output.getvalue()


def _numbered_canvas(font: str, footer: str) -> Callable[..., Any]:
    """A canvas that writes "Page n of N" and the footer once the page count is known."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont(font, 7.5)
                self.setFillGray(0.35)
                self.drawString(18 * mm, 10 * mm, footer)
                self.drawRightString(A4[0] - 18 * mm, 10 * mm, f"Page {self._pageNumber} of {total}")
                super().showPage()
            super().save()

    return NumberedCanvas
