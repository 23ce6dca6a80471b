"""The console's SVG charts and track map, drawn without a server: valid SVG with a text alternative,
a plain sentence when there is no data, the same bytes for the same data, and how long a drawing takes."""

from __future__ import annotations

import math
import time
import xml.etree.ElementTree as ElementTree

from telediag.web.charts import Chart, accessible, render_chart, summarise, with_gaps
from telediag.web.track_map import MIN_SPAN_DEG, Journey, TrackMap, countries_in, render_track, track_bounds

SVG = "{http://www.w3.org/2000/svg}"
UNTIL = 1_765_000_000.0
SINCE = UNTIL - 86_400.0
EMPTY = "No data in the last 24 h"


def voltage_chart(points: int = 720, description: str = "last 0.0 V, lowest 0.0 V, highest 14.0 V") -> Chart:
    times = [SINCE + 120 * i for i in range(points)]
    values: list[float | None] = [13.8 + 0.2 * math.sin(i / 30) if i < points * 0.8 else 0.0 for i in range(points)]
    values[5] = None  # a reading the device did not give
    return Chart("External voltage", "V", times, values, SINCE, UNTIL, description, EMPTY, zero_line=True)


def parsed(svg: bytes) -> ElementTree.Element:
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def test_a_chart_is_valid_svg_whose_title_and_description_come_first() -> None:
    root = parsed(render_chart(voltage_chart()))
    assert root.get("role") == "img"
    assert root.get("aria-label") == "External voltage. last 0.0 V, lowest 0.0 V, highest 14.0 V"
    assert [child.tag for child in root][:2] == [f"{SVG}title", f"{SVG}desc"]
    assert root[0].text == "External voltage" and root[1].text.startswith("last 0.0 V")
    assert root.findall(f".//{SVG}path")
    texts = "".join(root.itertext())
    assert "UTC" in texts and EMPTY not in texts


def test_a_chart_is_small_deterministic_and_embeds_no_font_or_date() -> None:
    first, second = render_chart(voltage_chart()), render_chart(voltage_chart())
    assert first == second
    assert len(first) < 40_000
    assert b"<dc:date>" not in first and b"font-face" not in first and b"<image" not in first
    assert b"<text" in first  # text stays text (svg.fonttype = none)


def test_an_empty_chart_says_there_is_no_data() -> None:
    for times, values in (([], []), ([SINCE + 10, SINCE + 20], [None, math.nan])):
        chart = Chart("GSM signal", "%", times, values, SINCE, UNTIL, EMPTY, EMPTY, y_range=(0.0, 100.0))
        root = parsed(render_chart(chart))
        assert EMPTY in "".join(root.itertext())
        assert root.get("aria-label") == f"GSM signal. {EMPTY}"


def test_one_reading_and_steps_draw() -> None:
    single = Chart("Satellites", "", [UNTIL - 60], [7], SINCE, UNTIL, "last 7", EMPTY, steps=True)
    assert b"<path" in render_chart(single)


def test_texts_are_escaped_in_the_svg() -> None:
    chart = Chart("<b>Volts & co</b>", "V", [], [], SINCE, UNTIL, 'say "<script>"', EMPTY)
    svg = render_chart(chart)
    root = parsed(svg)
    assert root[0].text == "<b>Volts & co</b>" and root[1].text == 'say "<script>"'
    assert b"<script>" not in svg
    assert accessible(b'<svg a="1"><g/></svg>', "T", "D") == (
        b'<svg a="1" role="img" aria-label="T. D">\n<title>T</title>\n<desc>D</desc>\n<g/></svg>')


def test_summary_and_gaps() -> None:
    summary = summarise([1.0, 2.0, 3.0, 4.0], [5.0, None, math.inf, 2.0])
    assert summary is not None and (summary.count, summary.low, summary.high, summary.last) == (2, 2.0, 5.0, 2.0)
    assert summarise([1.0], [None]) is None
    times, values = with_gaps([0.0, 60.0, 120.0, 5000.0, 5060.0], [1.0, 2.0, 3.0, 4.0, 5.0])
    assert len(times) == 6 and math.isnan(values[3])  # an hour of silence is drawn as a gap
    assert with_gaps([0.0, 60.0, 120.0], [1.0, 2.0, 3.0]) == ([0.0, 60.0, 120.0], [1.0, 2.0, 3.0])


def test_render_time() -> None:
    """A chart of 720 points, drawn ten times: printed for the record (run with -s), and far below a
    page's time budget."""
    chart = voltage_chart()
    render_chart(chart)
    start = time.perf_counter()
    for _ in range(10):
        render_chart(chart)
    each = (time.perf_counter() - start) / 10
    print(f"\nchart of 720 points: {each * 1000:.1f} ms")
    assert each < 1.0


def track(lats: list[float], lons: list[float], journeys: tuple[Journey, ...] = (), language: str = "en") -> TrackMap:
    times = [UNTIL - 3600 + 60 * i for i in range(len(lats))]
    return TrackMap("Track of the last 24 h", f"{len(lats)} positions", "No positions in the last 24 h", times, lats,
                    lons, journeys, language)


def test_the_track_is_drawn_over_the_borders_near_it_with_names_in_the_readers_language() -> None:
    lats = [52.35 + 0.05 * math.sin(i / 10) for i in range(60)]
    lons = [14.45 + 0.15 * i / 60 for i in range(60)]  # across the Oder: Germany to Poland
    journey = Journey(1, UNTIL - 3600 + 600, UNTIL - 3600 + 1200)
    start = time.perf_counter()
    svg = render_track(track(lats, lons, (journey,), "pl"))
    print(f"\ntrack map (first, Natural Earth loaded): {(time.perf_counter() - start) * 1000:.0f} ms")
    root = parsed(svg)
    assert root.get("role") == "img" and root[0].text == "Track of the last 24 h" and root[1].text == "60 positions"
    texts = "".join(root.itertext())
    assert "Polska" in texts and "Niemcy" in texts
    assert "1" in texts  # the journey's number
    assert render_track(track(lats, lons, (journey,), "pl")) == svg
    english = "".join(parsed(render_track(track(lats, lons))).itertext())
    assert "Poland" in english and "Germany" in english


def test_no_position_says_so() -> None:
    root = parsed(render_track(track([], [])))
    assert "No positions in the last 24 h" in "".join(root.itertext())
    root = parsed(render_track(track([math.nan], [math.nan])))
    assert "No positions in the last 24 h" in "".join(root.itertext())


def test_a_parked_tracker_still_gets_a_readable_map() -> None:
    bounds = track_bounds([52.2297] * 5, [21.0122] * 5)
    assert bounds is not None
    assert bounds.north - bounds.south >= MIN_SPAN_DEG
    assert bounds.south < 52.2297 < bounds.north and bounds.west < 21.0122 < bounds.east
    assert track_bounds([], []) is None
    assert [shape.name for shape in countries_in(bounds)] == ["Poland"]
    far = track_bounds([89.9, -89.9], [179.9, -179.9])
    assert far is not None and -180 <= far.west < far.east <= 180 and -90 <= far.south < far.north <= 90
