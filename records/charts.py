"""Server-rendered SVG trend charts for vitals: readable without JavaScript, CSP-safe.

`line_chart` draws one chart (one unit, one or more series) as an inline <svg> with a
<title> and <desc> for screen readers, a y axis with "nice" labelled ticks and its unit, an
x axis with date (or hour) ticks in the viewer's time zone, and a marker per reading with
its own <title> (value, unit, when). Colours and line styles come from classes that
static/css/records.css styles; a second series also differs by its marker shape and a dashed
line, never by colour alone. No inline style attributes and no script: the page's CSP allows
neither. Every piece of text is escaped.

The page shows the same readings as a table next to the charts (the fallback for anyone
the picture does not serve).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 320
HEIGHT = 190
MARGIN_LEFT = 44
MARGIN_RIGHT = 12
MARGIN_TOP = 26
MARGIN_BOTTOM = 30
# Markers sit this far inside the plot area so a reading at the edge is not cut in half.
INSET = 10
Y_TICKS = 5
DAY_STEPS = (1, 2, 3, 5, 7, 14, 30, 61, 91, 182, 365, 730)
HOUR_STEPS = (1, 2, 3, 6, 12, 24)

Number = int | float | decimal.Decimal


@dataclass(frozen=True)
class Point:
    at: dt.datetime
    value: Number


@dataclass(frozen=True)
class Series:
    """One line: its name (in the legend and each marker's title) and its readings."""

    name: str
    points: Sequence[Point]
    # "primary" or "secondary": the CSS modifier of the line and its markers.
    style: str = "primary"
    # "circle" or "square".
    marker: str = "circle"


def format_number(value: Number) -> str:
    """128 -> "128", 70.5 -> "70.5", 70.0 -> "70" (no float noise)."""
    number = decimal.Decimal(str(value))
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def format_when(moment: dt.datetime, zone: dt.tzinfo) -> str:
    local = moment.astimezone(zone)
    return f"{local.day} {local:%b %Y, %H:%M}"


def _short_date(day: dt.date, *, year: bool = False) -> str:
    return f"{day.day} {day:%b %Y}" if year else f"{day.day} {day:%b}"


def nice_ticks(low: float, high: float, count: int = Y_TICKS) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    if high < low:
        low, high = high, low
    if math.isclose(low, high):
        pad = max(abs(low) * 0.05, 1.0)
        low, high = low - pad, high + pad
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = magnitude * 10
    for multiple in (1, 2, 2.5, 5, 10):
        if multiple * magnitude >= raw - 1e-12:
            step = multiple * magnitude
            break
    start = math.floor(low / step + 1e-9) * step
    end = math.ceil(high / step - 1e-9) * step
    steps = round((end - start) / step)
    return [round(start + index * step, 10) for index in range(steps + 1)]


def _tick_label(value: float, ticks: Sequence[float]) -> str:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1
    if float(step).is_integer() and float(value).is_integer():
        return str(int(value))
    decimals = 1 if (step * 10).is_integer() else 2
    return f"{value:.{decimals}f}"


def time_ticks(first: dt.datetime, last: dt.datetime, zone: dt.tzinfo) -> list[tuple[dt.datetime, str]]:
    """Ticks on the time axis at local midnights (or whole hours for a short span), labelled."""
    span = last - first
    if span <= dt.timedelta(days=2):
        hours = span.total_seconds() / 3600
        step = next((step for step in HOUR_STEPS if hours / step <= 4), HOUR_STEPS[-1])
        local = first.astimezone(zone)
        tick = local.replace(minute=0, second=0, microsecond=0)

        def later(moment: dt.datetime, hours: int) -> dt.datetime:
            # Through UTC: adding to a local time would step over a DST change wrongly.
            return (moment.astimezone(dt.UTC) + dt.timedelta(hours=hours)).astimezone(zone)

        while tick < local or tick.hour % step:
            tick = later(tick, 1)
        ticks = []
        while tick <= last:
            label = _short_date(tick.date()) if tick.hour == 0 else f"{tick:%H:%M}"
            ticks.append((tick, label))
            tick = later(tick, step)
        return ticks
    days = span.total_seconds() / 86400
    with_year = days > 300
    limit = 3 if with_year else 4
    step = next((step for step in DAY_STEPS if days / step <= limit), DAY_STEPS[-1])
    day = first.astimezone(zone).date()
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    if midnight < first:
        day += dt.timedelta(days=1)
    ticks = []
    while (moment := dt.datetime.combine(day, dt.time(0), tzinfo=zone)) <= last:
        ticks.append((moment, _short_date(day, year=with_year)))
        day += dt.timedelta(days=step)
    return ticks


@dataclass
class _Scale:
    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        if self.high == self.low:
            return (self.start + self.end) / 2
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _marker(kind: str, x: float, y: float, label: str | None, css: str = "trend__marker") -> str:
    title = f"<title>{escape(label)}</title>" if label else ""
    if kind == "square":
        return f'<rect class="{css}" x="{_num(x - 4)}" y="{_num(y - 4)}" width="8" height="8">{title}</rect>'
    return f'<circle class="{css}" cx="{_num(x)}" cy="{_num(y)}" r="4.5">{title}</circle>'


def _describe(series: Sequence[Series], unit: str, zone: dt.tzinfo) -> str:
    parts = []
    for line in series:
        if not line.points:
            parts.append(f"{line.name}: no readings.")
            continue
        ordered = sorted(line.points, key=lambda point: point.at)
        latest = ordered[-1]
        values = [float(point.value) for point in ordered]
        readings = "1 reading" if len(ordered) == 1 else f"{len(ordered)} readings"
        span = (
            f"on {format_when(latest.at, zone)}"
            if len(ordered) == 1
            else f"from {format_when(ordered[0].at, zone)} to {format_when(latest.at, zone)}"
        )
        parts.append(
            f"{line.name}: {readings} {span}; latest {format_number(latest.value)} {unit}, "
            f"lowest {format_number(min(values))}, highest {format_number(max(values))}."
        )
    return " ".join(parts)


def line_chart(
    *,
    title: str,
    unit: str,
    series: Sequence[Series],
    zone: dt.tzinfo,
    chart_id: str,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> SafeString | None:
    """The chart as inline SVG markup, or None when no series has a reading.

    `chart_id` must be unique on the page: the <title> and <desc> ids derive from it.
    """
    points = [point for line in series for point in line.points]
    if not points:
        return None
    values = [float(point.value) for point in points]
    ticks = nice_ticks(min(values), max(values))
    left, right = MARGIN_LEFT, width - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, height - MARGIN_BOTTOM
    y = _Scale(ticks[0], ticks[-1], bottom, top)

    first = min(point.at for point in points)
    last = max(point.at for point in points)
    if first == last:
        first, last = first - dt.timedelta(hours=12), last + dt.timedelta(hours=12)
    x = _Scale(first.timestamp(), last.timestamp(), left + INSET, right - INSET)

    ident = escape(chart_id)
    parts = [
        f'<svg class="trend" viewBox="0 0 {width} {height}" role="img" focusable="false" '
        f'aria-labelledby="{ident}-title" aria-describedby="{ident}-desc" data-chart="{ident}">',
        f'<title id="{ident}-title">{escape(title)} ({escape(unit)})</title>',
        f'<desc id="{ident}-desc">{escape(_describe(series, unit, zone))}</desc>',
        '<g class="trend__grid" aria-hidden="true">',
    ]
    for tick in ticks:
        parts.append(f'<line x1="{left}" x2="{right}" y1="{_num(y(tick))}" y2="{_num(y(tick))}"/>')
    parts.append("</g>")

    parts.append('<g class="trend__axis trend__axis--y">')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}"/>')
    for tick in ticks:
        parts.append(
            f'<text x="{left - 6}" y="{_num(y(tick) + 4)}" text-anchor="end">{escape(_tick_label(tick, ticks))}</text>'
        )
    parts.append(f'<text class="trend__unit" x="4" y="14">{escape(unit)}</text>')
    parts.append("</g>")

    parts.append('<g class="trend__axis trend__axis--x">')
    parts.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>')
    for moment, label in time_ticks(first, last, zone):
        at = _num(x(moment.timestamp()))
        parts.append(f'<line x1="{at}" x2="{at}" y1="{bottom}" y2="{bottom + 5}"/>')
        parts.append(f'<text x="{at}" y="{bottom + 18}" text-anchor="middle">{escape(label)}</text>')
    parts.append("</g>")

    for index, line in enumerate(series):
        if not line.points:
            continue
        ordered = sorted(line.points, key=lambda point: point.at)
        coords = [(x(point.at.timestamp()), y(float(point.value))) for point in ordered]
        style = escape(line.style)
        parts.append(f'<g class="trend__series trend__series--{style}" data-series="{escape(line.name)}">')
        if len(coords) > 1:
            path = " ".join(f"{_num(cx)},{_num(cy)}" for cx, cy in coords)
            parts.append(f'<polyline class="trend__line" fill="none" points="{path}"/>')
        for point, (cx, cy) in zip(ordered, coords, strict=True):
            label = f"{line.name}: {format_number(point.value)} {unit}, {format_when(point.at, zone)}"
            parts.append(_marker(line.marker, cx, cy, label))
        parts.append("</g>")
        if len(series) > 1:
            parts.append(_legend(line, index, left))
    parts.append("</svg>")
    # Safe: the markup is this function's own; every text in it (title, unit, labels, series
    # names, styles, ids) went through escape() and every number through _num/format_number.
    return mark_safe("".join(parts))  # noqa: S308


def _legend(line: Series, index: int, left: int) -> str:
    # Legend entries on the top line, left to right in the order of the series.
    x = left + 26 + index * 92
    marker = _marker(line.marker, x, 10, None, css="trend__key")
    return (
        f'<g class="trend__legend trend__series--{escape(line.style)}" aria-hidden="true">'
        f'{marker}<text x="{x + 8}" y="14">{escape(line.name)}</text></g>'
    )


# --- The vitals trends of a chart -----------------------------------------------------------


@dataclass(frozen=True)
class TrendSpec:
    key: str
    title: str
    unit: str
    # (series name, VitalSigns field, style, marker)
    lines: tuple[tuple[str, str, str, str], ...]


TRENDS: tuple[TrendSpec, ...] = (
    TrendSpec(
        "blood-pressure",
        "Blood pressure",
        "mmHg",
        (("Systolic", "systolic_mmhg", "primary", "circle"), ("Diastolic", "diastolic_mmhg", "secondary", "square")),
    ),
    TrendSpec("heart-rate", "Heart rate", "beats/min", (("Heart rate", "heart_rate_bpm", "primary", "circle"),)),
    TrendSpec("weight", "Weight", "kg", (("Weight", "weight_kg", "primary", "circle"),)),
)


@dataclass
class Trend:
    key: str
    title: str
    unit: str
    svg: SafeString | None
    readings: int = 0
    series: list[Series] = field(default_factory=list)


def vitals_trends(vitals: Iterable[object], *, zone: dt.tzinfo, id_prefix: str = "trend") -> list[Trend]:
    """Blood pressure, heart rate and weight charts from sets of vital signs (any order)."""
    readings = list(vitals)
    trends = []
    for spec in TRENDS:
        series = [
            Series(
                name=name,
                points=[
                    Point(at=reading.measured_at, value=getattr(reading, attribute))  # type: ignore[attr-defined]
                    for reading in readings
                    if getattr(reading, attribute, None) is not None
                ],
                style=style,
                marker=marker,
            )
            for name, attribute, style, marker in spec.lines
        ]
        svg = line_chart(title=spec.title, unit=spec.unit, series=series, zone=zone, chart_id=f"{id_prefix}-{spec.key}")
        trends.append(
            Trend(
                key=spec.key,
                title=spec.title,
                unit=spec.unit,
                svg=svg,
                readings=max(len(line.points) for line in series),
                series=series,
            )
        )
    return trends
