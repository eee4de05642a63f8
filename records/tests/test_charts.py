"""The SVG trend charts (records.charts): what a reader of the chart sees, checked in the markup."""

import datetime as dt
import decimal
import xml.etree.ElementTree as ET
import zoneinfo

import pytest

from records.charts import (
    HEIGHT,
    INSET,
    MARGIN_BOTTOM,
    MARGIN_LEFT,
    MARGIN_RIGHT,
    MARGIN_TOP,
    WIDTH,
    Point,
    Series,
    line_chart,
    nice_ticks,
    time_ticks,
    vitals_trends,
)
from records.models import VitalSigns

SVG = "{http://www.w3.org/2000/svg}"
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
START = dt.datetime(2025, 3, 3, 8, 0, tzinfo=dt.UTC)


def parse(svg: str) -> ET.Element:
    # Well-formed XML, or this raises: the page embeds it as it is.
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def chart(*series: Series, title: str = "Heart rate", unit: str = "beats/min", chart_id: str = "hr") -> ET.Element:
    svg = line_chart(title=title, unit=unit, series=list(series), zone=PARIS, chart_id=chart_id)
    assert svg is not None
    return parse(svg)


def readings(*values: float, every: dt.timedelta = dt.timedelta(days=1)) -> list[Point]:
    return [Point(at=START + index * every, value=value) for index, value in enumerate(values)]


def markers(root: ET.Element, series: str | None = None) -> list[ET.Element]:
    groups = [
        g for g in root.iter(f"{SVG}g") if g.get("data-series") and (series is None or g.get("data-series") == series)
    ]
    return [child for group in groups for child in group if child.tag in (f"{SVG}circle", f"{SVG}rect")]


def centre(marker: ET.Element) -> tuple[float, float]:
    if marker.tag == f"{SVG}circle":
        return float(marker.get("cx")), float(marker.get("cy"))
    return float(marker.get("x")) + 4, float(marker.get("y")) + 4


def texts(root: ET.Element, axis: str) -> list[str]:
    group = next(g for g in root.iter(f"{SVG}g") if f"trend__axis--{axis}" in (g.get("class") or ""))
    return [text.text for text in group.iter(f"{SVG}text")]


def test_it_draws_one_marker_per_reading_each_titled_with_value_unit_and_time():
    root = chart(Series("Heart rate", readings(72, 80, 64)))

    drawn = markers(root)

    assert len(drawn) == 3
    assert [m.find(f"{SVG}title").text for m in drawn] == [
        "Heart rate: 72 beats/min, 3 Mar 2025, 09:00",
        "Heart rate: 80 beats/min, 4 Mar 2025, 09:00",
        "Heart rate: 64 beats/min, 5 Mar 2025, 09:00",
    ]
    assert len(list(root.iter(f"{SVG}polyline"))) == 1


def test_a_higher_value_sits_higher_and_a_later_reading_further_right():
    root = chart(Series("Heart rate", list(reversed(readings(72, 80, 64)))))

    (x1, y1), (x2, y2), (x3, y3) = (centre(m) for m in markers(root))

    # Drawn in time order whatever order they came in.
    assert x1 < x2 < x3
    assert y2 < y1 < y3


def test_the_scale_maps_the_first_and_last_reading_to_the_edges_of_the_plot():
    root = chart(Series("Heart rate", readings(60, 100, every=dt.timedelta(days=5))))

    (x1, y1), (x2, y2) = (centre(m) for m in markers(root))
    ticks = [float(t) for t in texts(root, "y") if t != "beats/min"]

    assert (x1, x2) == (MARGIN_LEFT + INSET, WIDTH - MARGIN_RIGHT - INSET)
    # 60 and 100 are ticks themselves: on the lowest and highest grid lines.
    assert ticks[0] == 60 and ticks[-1] == 100
    assert (y1, y2) == (HEIGHT - MARGIN_BOTTOM, MARGIN_TOP)


def test_the_y_axis_has_round_labelled_ticks_covering_every_value_and_names_the_unit():
    root = chart(Series("Systolic", readings(142, 128)), title="Blood pressure", unit="mmHg", chart_id="bp")

    labels = texts(root, "y")

    assert labels == ["125", "130", "135", "140", "145", "mmHg"]
    assert nice_ticks(91, 142) == [80, 100, 120, 140, 160]
    assert nice_ticks(36.4, 37.9) == [36.0, 36.5, 37.0, 37.5, 38.0]


def test_the_time_axis_is_labelled_with_dates_in_the_viewers_time_zone():
    # 23:30 UTC on 3 March is already 4 March in Paris.
    first = dt.datetime(2025, 3, 3, 23, 30, tzinfo=dt.UTC)
    root = chart(Series("Heart rate", [Point(first, 70), Point(first + dt.timedelta(days=9), 75)]))

    assert texts(root, "x") == ["5 Mar", "8 Mar", "11 Mar"]
    assert markers(root)[0].find(f"{SVG}title").text.endswith("4 Mar 2025, 00:30")


def test_a_short_span_is_labelled_in_hours_and_a_long_one_with_the_year():
    short = time_ticks(START, START + dt.timedelta(hours=10), PARIS)
    long = time_ticks(START, START + dt.timedelta(days=500), PARIS)

    assert [label for _, label in short] == ["09:00", "12:00", "15:00", "18:00"]
    assert [label for _, label in long] == ["4 Mar 2025", "2 Sep 2025", "3 Mar 2026"]


def test_without_readings_there_is_no_chart():
    assert line_chart(title="Weight", unit="kg", series=[Series("Weight", [])], zone=PARIS, chart_id="w") is None
    assert line_chart(title="Weight", unit="kg", series=[], zone=PARIS, chart_id="w") is None


def test_a_single_reading_is_a_marker_in_the_middle_with_no_line():
    root = chart(Series("Weight", [Point(START, decimal.Decimal("70.5"))]), title="Weight", unit="kg", chart_id="w")

    (marker,) = markers(root)
    x, y = centre(marker)

    assert list(root.iter(f"{SVG}polyline")) == []
    assert x == pytest.approx((MARGIN_LEFT + WIDTH - MARGIN_RIGHT) / 2)
    assert MARGIN_TOP < y < HEIGHT - MARGIN_BOTTOM
    assert marker.find(f"{SVG}title").text == "Weight: 70.5 kg, 3 Mar 2025, 09:00"
    assert "1 reading on 3 Mar 2025, 09:00; latest 70.5 kg" in root.find(f"{SVG}desc").text


def test_it_has_a_title_and_a_description_for_screen_readers():
    svg = line_chart(
        title="Heart rate", unit="beats/min", series=[Series("Heart rate", readings(72, 80))], zone=PARIS, chart_id="hr"
    )
    root = parse(svg)

    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "hr-title"
    assert root.get("aria-describedby") == "hr-desc"
    assert root.find(f"{SVG}title").get("id") == "hr-title"
    assert root.find(f"{SVG}title").text == "Heart rate (beats/min)"
    assert root.find(f"{SVG}desc").text == (
        "Heart rate: 2 readings from 3 Mar 2025, 09:00 to 4 Mar 2025, 09:00; "
        "latest 80 beats/min, lowest 72, highest 80."
    )
    # CSP: no inline style, no script.
    assert "style=" not in svg and "<script" not in svg


def test_every_label_is_escaped():
    svg = line_chart(
        title='<script>alert("t")</script>',
        unit="<b>u</b>",
        series=[Series('"><img src=x onerror=alert(1)>', readings(1, 2)), Series("a&b", readings(3))],
        zone=PARIS,
        chart_id='x" onload="alert(1)',
    )

    assert "<script>" not in svg and "<img" not in svg and "<b>" not in svg
    assert 'onload="' not in svg
    assert "&lt;script&gt;" in svg and "a&amp;b" in svg
    parse(svg)


def test_a_second_series_differs_by_marker_shape_and_line_style_and_is_in_the_legend():
    root = chart(
        Series("Systolic", readings(142, 128)),
        Series("Diastolic", readings(91, 82), style="secondary", marker="square"),
        title="Blood pressure",
        unit="mmHg",
        chart_id="bp",
    )

    assert {m.tag for m in markers(root, "Systolic")} == {f"{SVG}circle"}
    assert {m.tag for m in markers(root, "Diastolic")} == {f"{SVG}rect"}
    legend = [
        t.text for g in root.iter(f"{SVG}g") if "trend__legend" in (g.get("class") or "") for t in g.iter(f"{SVG}text")
    ]
    assert legend == ["Systolic", "Diastolic"]
    desc = root.find(f"{SVG}desc").text
    assert "Systolic: 2 readings" in desc and "Diastolic: 2 readings" in desc


def test_the_vitals_trends_are_blood_pressure_heart_rate_and_weight():
    sets = [
        VitalSigns(measured_at=START, systolic_mmhg=130, diastolic_mmhg=85, heart_rate_bpm=70),
        VitalSigns(measured_at=START + dt.timedelta(days=2), weight_kg=decimal.Decimal("81.2"), heart_rate_bpm=66),
    ]

    trends = vitals_trends(sets, zone=PARIS)

    assert [(t.key, t.title, t.unit, t.readings) for t in trends] == [
        ("blood-pressure", "Blood pressure", "mmHg", 1),
        ("heart-rate", "Heart rate", "beats/min", 2),
        ("weight", "Weight", "kg", 1),
    ]
    assert all(t.svg is not None for t in trends)
    assert "81.2 kg" in trends[2].svg
    assert vitals_trends([], zone=PARIS)[0].svg is None
