"""H02 text sentences (``*HQ,<id>,<type>,...#``): positions, cell and heartbeat reports.

The sentence layouts follow Traccar's ``H02ProtocolDecoder`` patterns (main ``V1``-style report,
``NBR``, ``LINK``, ``V3``, ``VP1``, ``HTBT``, plus the ``SMS`` answer), with two differences
where a sentence reads two ways: a 6-digit field after the course is taken as the date rather
than a battery value, and an 8-hex-digit field as the status rather than SIM data (Traccar's
greedy groups lose the date or the status there). Coordinates come as
``ddmm.mmmm``, ``-dd-mm.mmmm``, ``ddmmmmmm`` or empty (no fix); speed in knots. A sentence that
matches no layout decodes to None here; the session makes that a ``ProtocolError``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from protocols.h02.fields import KNOTS_TO_KMH, Fields, apply_status, set_time
from protocols.record import operator_code


class Sentence(NamedTuple):
    """A split text frame: maker (``HQ``), device id (may be empty), type, the whole text, and
    ``head``, the text up to the end of the type (what a heartbeat echo repeats)."""

    maker: str
    ident: str
    type: str
    text: str
    head: str


def split(raw: bytes) -> Sentence:
    """Maker, id and type of a ``*..#`` frame (type as Traccar finds it: up to the next , or #)."""
    text = raw.decode("latin-1").strip()
    first = text.index(",")
    second = text.find(",", first + 1)
    ident = text[first + 1 : second] if second > 0 else text[first + 1 : -1]
    if second < 0:
        return Sentence(text[1:first], ident, "", text, text)
    end = text.find(",", second + 1)
    if end < 0:
        end = text.find("#", second + 1)
    if end < 0:
        return Sentence(text[1:first], ident, "", text, text)
    return Sentence(text[1:first], ident, text[second + 1 : end], text, text[:end])


_LAT = (
    r"(?:-(?P<la_d1>\d+)-(?P<la_m1>\d+\.\d+)"  # -dd-mm.mmmm
    r"|(?P<la_d2>\d*)(?P<la_m2>\d\d\.\d+)"  # ddmm.mmmm (degrees may be absent: 38.6508 = 0 deg)
    r"|(?P<la_d3>\d+)(?P<la_m3>\d\d)(?P<la_f3>\d{4})"  # ddmmmmmm
    r"|)"  # empty: no fix (``V1,,V,,N,,E,...``)
    r",(?P<la_h>[NS])"
)
_LON = _LAT.replace("la_", "lo_").replace("[NS]", "[EW]")

MAIN = re.compile(
    r"\*..,(?P<id>\d+)?,"
    r"(?:V4,(?P<result>.*),|(?P<type>V[^,]*),)"
    r"(?:(?P<hh>\d\d)(?P<mi>\d\d)(?P<ss>\d\d))?,"
    r"(?:(?P<valid>[ABV])?,|(?P<coding>\d+),)"
    + _LAT + ","
    + _LON + ","
    r" *(?P<speed>\d+\.?\d*),"
    r"(?P<course>\d+\.?\d*)?,"
    r"(?:\d+,)??"
    r"(?:(?P<dd>\d\d)(?P<mo>\d\d)(?P<yy>\d\d))?"
    r"(?:,(?P<sim>[^,]*,[^,]*,[^,]*))??"
    r"(?:,(?P<status>[0-9A-Fa-f]{8})"
    r"(?:,(?P<odometer>\d+),(?P<temp>-?\d+),(?P<fuel>\d+\.\d+),(?P<alt>-?\d+)"
    r",(?P<lac>[0-9A-Fa-f]+),(?P<cid>[0-9A-Fa-f]+)"
    r"|,(?P<data>.*)|))?"
    r"#"
)

ICCID = re.compile(r"89\d{16,18}[0-9Ff]?")

NBR = re.compile(
    r"\*..,(?P<id>\d+),NBR,(?P<hh>\d\d)(?P<mi>\d\d)(?P<ss>\d\d),(?P<mcc>\d+),(?P<mnc>\d+),\d+,\d+,"
    r"(?P<cells>(?:\d+,\d+,-?\d+,)+)(?P<date>\d{6}),(?P<status>[0-9A-Fa-f]{8}).*",
    re.S,
)

LINK = re.compile(
    r"\*..,(?P<id>\d+),LINK,(?P<time>\d{6}),(?P<rssi>\d+),(?P<sats>\d+),(?P<battery>\d+),(?P<steps>\d+),"
    r"(?P<turnovers>\d+),(?P<date>\d{6}),(?P<status>[0-9A-Fa-f]{8}).*",
    re.S,
)

V3 = re.compile(
    r"\*..,(?P<id>\d+),V3,(?P<time>\d{6}),(?P<mcc>\d{3})(?P<mnc>\d+),(?P<count>\d+),(?P<cells>.*),"
    r"(?P<battery>[0-9A-Fa-f]{4}),\d+,X,(?P<date>\d{6}),(?P<status>[0-9A-Fa-f]{8})#?"
)

VP1 = re.compile(
    r"\*hq,(?P<id>\d{15}),VP1,(?:V,(?P<mcc>\d+),(?P<mnc>\d+),(?P<cells>[^#]+)"
    r"|[AB],(?P<la_d>\d+)(?P<la_m>\d\d\.\d+),(?P<la_h>[NS]),(?P<lo_d>\d+)(?P<lo_m>\d\d\.\d+),(?P<lo_h>[EW]),"
    r"(?P<speed>\d+\.\d+),(?P<course>\d+\.\d+),(?P<date>\d{6})).*",
    re.S,
)

HTBT = re.compile(r"\*HQ,(?P<id>\d{15}),HTBT,(?P<battery>\d+).*", re.S)

SMS = re.compile(r"\*..,(?P<id>\d*),SMS,(?P<text>.*)#", re.S)


def _coordinate(m: re.Match[str], p: str) -> float | None:
    """Degrees from whichever of the three coordinate forms matched (prefix ``la_``/``lo_``)."""
    g = m.groupdict()
    if g[p + "m1"] is not None:
        value = int(g[p + "d1"]) + float(g[p + "m1"]) / 60
    elif g[p + "m2"] is not None:
        value = int(g[p + "d2"] or 0) + float(g[p + "m2"]) / 60
    elif g[p + "m3"] is not None:
        value = int(g[p + "d3"]) + (int(g[p + "m3"]) + int(g[p + "f3"]) / 10000) / 60
    else:
        return None
    return -value if g[p + "h"] in ("S", "W") else value


def _set_cell(rec: Fields, mcc: int, mnc_text: str, lac: int, cid: int) -> None:
    mnc = int(mnc_text)
    rec.a.update(mcc=mcc, mnc=mnc, lac=lac, cell_id=cid)
    if mcc:
        rec.f["operator"] = operator_code(mcc, mnc, len(mnc_text) if len(mnc_text) == 3 else 2)


def decode_main(text: str) -> tuple[Fields | None, str | None]:
    """The main report (V1, V2, V4 answer, V5/V6/V8/V19, VI1...): (record or None, type)."""
    m = MAIN.fullmatch(text)
    if m is None:
        return None, None
    g = m.groupdict()
    rec = Fields()
    if g["result"] is not None:
        rec.a["result"] = g["result"]
    if g["coding"] is not None:
        rec.a["coding_scheme"] = int(g["coding"])
        rec.f["valid"] = True
    else:  # an empty validity field claims no fix, as Traccar reads it
        rec.f["valid"] = g["valid"] == "A"
    lat, lon = _coordinate(m, "la_"), _coordinate(m, "lo_")
    if lat == 0 and lon == 0 or lat is None or lon is None:
        lat = lon = None  # no fix ever: 0,0 (or an empty field) is "unknown", not the Gulf of Guinea
    rec.f["lat"], rec.f["lon"] = lat, lon
    rec.f["speed_kmh"] = float(g["speed"]) * KNOTS_TO_KMH
    rec.f["course_deg"] = float(g["course"]) if g["course"] else None
    date = g["dd"] + g["mo"] + g["yy"] if g["dd"] else None
    clock = g["hh"] + g["mi"] + g["ss"] if g["hh"] else None
    set_time(rec, date, clock)
    if g["sim"] is not None:
        rec.a["sim_info"] = g["sim"]
        iccid = g["sim"].rsplit(",", 1)[-1].rstrip("?")
        if ICCID.fullmatch(iccid):
            rec.a["iccid"] = iccid
    if g["status"] is not None:
        apply_status(rec, int(g["status"], 16))
    if g["odometer"] is not None:
        rec.f["odometer_m"] = float(g["odometer"])
        rec.a["temperature_c"] = int(g["temp"])
        rec.a["fuel_level"] = float(g["fuel"])
        rec.f["altitude_m"] = float(g["alt"])
        rec.a["lac"] = int(g["lac"], 16)
        rec.a["cell_id"] = int(g["cid"], 16)
    if g["data"] is not None:
        for i, value in enumerate(g["data"].split(","), start=1):
            rec.a[f"io{i}"] = value.strip()
    return rec, g["type"]


def _cells(rec: Fields, mcc: int, mnc: str, values: list[str], width: int) -> None:
    """Serving cell first; the count of neighbours kept."""
    count = len(values) // width
    if count:
        _set_cell(rec, mcc, mnc, int(values[0]), int(values[1]))
    rec.a["cell_count"] = count


def decode_nbr(text: str) -> Fields | None:
    """``NBR``: cells seen, no fix."""
    m = NBR.fullmatch(text)
    if m is None:
        return None
    rec = Fields()
    set_time(rec, m["date"], m["hh"] + m["mi"] + m["ss"], key="device_time")
    _cells(rec, int(m["mcc"]), m["mnc"], m["cells"].rstrip(",").split(","), 3)
    apply_status(rec, int(m["status"], 16))
    return rec


def decode_link(text: str) -> Fields | None:
    """``LINK`` (wearables): signal, satellites, battery %, steps; no fix."""
    m = LINK.fullmatch(text)
    if m is None:
        return None
    rec = Fields()
    set_time(rec, m["date"], m["time"], key="device_time")
    rec.a["rssi"] = int(m["rssi"])
    rec.f["satellites"] = int(m["sats"])
    rec.a["battery_pct"] = int(m["battery"])
    rec.a["steps"] = int(m["steps"])
    rec.a["turnovers"] = int(m["turnovers"])
    apply_status(rec, int(m["status"], 16))
    return rec


def decode_v3(text: str) -> Fields | None:
    """``V3``: cells (lac, cid, signal, blank) and a hex battery value; no fix."""
    m = V3.fullmatch(text)
    if m is None:
        return None
    rec = Fields()
    set_time(rec, m["date"], m["time"], key="device_time")
    values = m["cells"].split(",")
    count = int(m["count"])
    if len(values) < 4 * count:
        raise ValueError("V3 cell list shorter than its count")
    _cells(rec, int(m["mcc"]), m["mnc"], values[: 4 * count], 4)
    rec.a["battery_raw"] = int(m["battery"], 16)
    apply_status(rec, int(m["status"], 16))
    return rec


def decode_vp1(text: str) -> Fields | None:
    """``VP1`` (lower-case ``*hq``): either cells or a valid fix with a date but no time."""
    m = VP1.fullmatch(text)
    if m is None:
        return None
    rec = Fields()
    if m["cells"] is not None:
        cells = [c.split(",") for c in m["cells"].split("Y")]
        first = cells[0]
        _set_cell(rec, int(m["mcc"]), m["mnc"], int(first[0]), int(first[1]))
        rec.a["cell_count"] = len(cells)
        return rec
    rec.f["valid"] = True
    lat = int(m["la_d"]) + float(m["la_m"]) / 60
    lon = int(m["lo_d"]) + float(m["lo_m"]) / 60
    rec.f["lat"] = -lat if m["la_h"] == "S" else lat
    rec.f["lon"] = -lon if m["lo_h"] == "W" else lon
    rec.f["speed_kmh"] = float(m["speed"]) * KNOTS_TO_KMH
    rec.f["course_deg"] = float(m["course"])
    rec.a["device_date"] = m["date"]
    return rec


def decode_htbt(text: str) -> Fields | None:
    """``HTBT,<battery>``: a heartbeat with a battery percentage."""
    m = HTBT.fullmatch(text)
    if m is None:
        return None
    rec = Fields()
    rec.a["battery_pct"] = int(m["battery"])
    return rec


def decode_sms(text: str) -> Fields | None:
    """``SMS,<text>``: the device's answer to a configuration query, kept as ``result``."""
    m = SMS.fullmatch(text)
    if m is None:
        return None
    rec = Fields()
    rec.a["result"] = m["text"]
    return rec
