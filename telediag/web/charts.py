"""Charts of one tracker's telemetry as small SVG images, drawn server-side with matplotlib.

Pure: numbers and texts in, SVG bytes out; nothing is fetched, nothing touches the store. The
console has no chart library of its own and the pages load nothing from the internet, so every chart
is an SVG file the console serves from its own origin.

matplotlib is used through ``Figure`` and the SVG canvas directly, never through ``pyplot`` (pyplot
keeps global figure state, which the API's worker threads must not share). matplotlib's own docs
say artists are not thread-safe either, and rcParams are process-wide, so drawing takes turns
behind one lock: a chart takes a few tens of milliseconds (see :func:`render_chart`), far less than
a page's round trip. Output is deterministic (``svg.hashsalt`` fixed, no date in the metadata) and
small: text stays text (``svg.fonttype = 'none'``), no glyphs are embedded. matplotlib is imported
at the first drawing, not with the module: a quarter of a second every process that starts the console
would pay whether or not it ever draws.

Every SVG carries a ``<title>`` and a ``<desc>`` (and ``role="img"`` with an ``aria-label``) with
the chart's summary, so the image has a text alternative wherever it ends up.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

SVG_RC: dict[RcKeyType, Any] = {
    "svg.hashsalt": "telediag-console",  # clip-path ids from a fixed salt: the same data draws the same bytes
    "svg.fonttype": "none",              # text as <text>, no embedded glyph paths
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.edgecolor": "#555555",
    "axes.labelcolor": "#222222",
    "xtick.color": "#333333",
    "ytick.color": "#333333",
}
"""rcParams every drawing runs under (set inside the lock, restored after)."""

DRAWING = threading.Lock()
"""matplotlib's artists and rcParams are shared process state: one drawing at a time."""

WIDTH_IN, HEIGHT_IN = 6.4, 2.1
"""A chart's size in inches (at 72 px an inch: 461 x 151 px, scaled to the page's width by CSS)."""
LINE = "#1f5fa8"
"""The console's accent colour (web.css ``--accent``); contrast 6.4:1 on white."""
GAP_FACTOR, MIN_GAP_S = 5.0, 900.0
"""A silence longer than five typical report intervals (and at least 15 min) breaks the line: a gap
in the data is drawn as a gap, never bridged by a straight line that looks like real readings."""


@dataclass(frozen=True)
class Summary:
    """What a chart shows, in numbers: its text alternative."""

    count: int
    low: float
    high: float
    last: float
    last_at: float


@dataclass(frozen=True)
class Chart:
    """One time series to draw over a fixed window, with its texts already in the reader's language."""

    title: str
    unit: str
    times: Sequence[float]
    """Epoch seconds (UTC), oldest first."""
    values: Sequence[float | None]
    """One per time; None (or NaN) for a reading the device did not give."""
    since: float
    until: float
    description: str
    """The summary sentence for ``<desc>`` and ``aria-label`` (lowest, highest, last)."""
    empty_text: str
    """What the chart says when there is nothing to draw ("No data in the last 24 h")."""
    y_range: tuple[float | None, float | None] = (None, None)
    """Fixed axis bounds where the scale is known (signal 0-100 %); None: from the data."""
    steps: bool = False
    """Whole counts (satellites) are drawn as steps, not slopes."""
    zero_line: bool = False
    """Draw the zero line (a voltage at 0 V means the feed is cut)."""


def points(times: Sequence[float], values: Sequence[float | None]) -> Iterator[tuple[float, float]]:
    """(time, value) pairs with a usable value (finite number), in the given order."""
    for at, value in zip(times, values, strict=True):
        if value is not None and isinstance(value, (int, float)) and math.isfinite(value):
            yield float(at), float(value)


def summarise(times: Sequence[float], values: Sequence[float | None]) -> Summary | None:
    """Count, lowest, highest and last usable value; None when there is none."""
    count, low, high, last, last_at = 0, math.inf, -math.inf, math.nan, math.nan
    for at, value in points(times, values):
        count += 1
        low, high = min(low, value), max(high, value)
        last, last_at = value, at
    if count == 0:
        return None
    return Summary(count, low, high, last, last_at)


def with_gaps(times: Sequence[float], values: Sequence[float]) -> tuple[list[float], list[float]]:
    """The series with a NaN put into each silence long enough to be a gap (see ``GAP_FACTOR``)."""
    if len(times) < 3:
        return list(times), list(values)
    steps = sorted(b - a for a, b in pairwise(times))
    typical = steps[len(steps) // 2]
    limit = max(MIN_GAP_S, GAP_FACTOR * typical)
    out_t: list[float] = [times[0]]
    out_v: list[float] = [values[0]]
    for (previous, at), value in zip(pairwise(times), values[1:], strict=True):
        if at - previous > limit:
            out_t.append((previous + at) / 2)
            out_v.append(math.nan)
        out_t.append(at)
        out_v.append(value)
    return out_t, out_v


def render_chart(chart: Chart) -> bytes:
    """The chart as a standalone SVG document (UTF-8 bytes).

    About 45 ms for 720 points on the development machine (2 cores, idle; ~95 ms with the test suite
    running beside it): ``pytest -s tests/telediag/web/test_charts.py -k render_time`` prints it.
    The console keeps drawn charts per tracker, newest record and minute, so that is paid once.
    """
    from matplotlib import dates, rc_context, ticker
    from matplotlib.figure import Figure

    usable = list(points(chart.times, chart.values))
    with DRAWING, rc_context(SVG_RC):
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=72, layout="constrained")
        axes = figure.add_subplot()
        axes.set_title(chart.title, loc="left")
        start, end = _utc(chart.since), _utc(chart.until)
        axes.set_xlim(start, end)  # type: ignore[arg-type]  # matplotlib takes datetimes; its stubs say float
        axes.xaxis.set_major_locator(dates.AutoDateLocator(minticks=4, maxticks=8, tz=UTC))
        axes.xaxis.set_major_formatter(dates.DateFormatter("%H:%M", tz=UTC))
        axes.set_xlabel("UTC")
        axes.grid(True, color="#dddddd", linewidth=0.6)
        axes.spines[["top", "right"]].set_visible(False)
        if chart.unit:
            axes.set_ylabel(chart.unit)
        if chart.steps:
            axes.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        low, high = chart.y_range
        if usable:
            times, values = with_gaps([t for t, _ in usable], [v for _, v in usable])
            stamps = [_utc(t) for t in times]
            if chart.steps:
                axes.step(stamps, values, where="post", color=LINE, linewidth=1.4)  # type: ignore[arg-type]  # as above
            else:
                axes.plot(stamps, values, color=LINE, linewidth=1.4)  # type: ignore[arg-type]  # as above
            if len(usable) == 1:
                axes.plot(stamps, values, "o", color=LINE, markersize=4)  # type: ignore[arg-type]  # as above
            if chart.zero_line:
                axes.axhline(0.0, color="#a4262c", linewidth=0.8, linestyle="--")
            data_low = min(v for _, v in usable)
            data_high = max(v for _, v in usable)
            pad = max((data_high - data_low) * 0.08, 0.5 if chart.steps else 0.05)
            axes.set_ylim(low if low is not None else min(data_low - pad, 0.0 if chart.zero_line else data_low - pad),
                          high if high is not None else data_high + pad)
        else:
            axes.set_ylim(low if low is not None else 0.0, high if high is not None else 1.0)
            axes.text(0.5, 0.5, chart.empty_text, transform=axes.transAxes, ha="center", va="center",
                      color="#333333", fontsize=11)
        return _svg(figure, chart.title, chart.description)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _svg(figure: Figure, title: str, description: str) -> bytes:
    """Figure -> SVG bytes with ``<title>``, ``<desc>`` and ``role="img"`` (call under the lock)."""
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    out = io.BytesIO()
    FigureCanvasSVG(figure).print_svg(out, metadata={"Date": None, "Creator": None})
    return accessible(out.getvalue(), title, description)


def accessible(svg: bytes, title: str, description: str) -> bytes:
    """The SVG document with a title and description as its first children and an ARIA image role."""
    text = svg.decode("utf-8")
    start = text.index("<svg")
    end = text.index(">", start)
    label = f"{title}. {description}" if description else title
    opening = text[start:end] + f' role="img" aria-label={quoteattr(label)}'
    head = f"<title>{escape(title)}</title>\n<desc>{escape(description)}</desc>\n"
    return (text[:start] + opening + ">\n" + head + text[end + 1:]).encode("utf-8")
