"""The TK103 frame layouts Traccar's ``Tk103ProtocolDecoder`` reads, each to record fields.

* classic: ``(<id12><cmd4><data><yymmdd><A|V><ddmm.mmmm><N|S><dddmm.mmmm><E|W><speed 000.0 km/h>
  <hhmmss><course 000.00><charge><ignition><io><io><io><fuel xxx>L<odometer hex m>)``, the
  position of BP05/BR00/BR01/BR02/BO01/BQ81/...;
* comma-delimited: ``(<imei>,<cmd>,<ddmmyy>,A,<lat>N,<lon>E,<km/h>,<hhmmss>,<course>,...)``
  (BP05, ZCxx, DWxx firmware);
* ``ZC20`` battery, ``BZ00`` cell towers (also ``{mcc,mnc,lac,cid}`` lists), ``DW5x`` cell and
  Wi-Fi, ``ZC03`` command answers, ``BV00`` VIN, ``BS50``/``BS51`` battery-management data.

Every function returns ``Fields`` or None when the text does not have that layout.
"""

from __future__ import annotations

import re
import struct
from typing import Any, NamedTuple

from protocols.record import operator_code
from protocols.tk103.fields import BATTERY_LEVELS, Fields, apply_command

_FLAGS = re.X | re.S | re.A

MAIN = re.compile(
    r"""
    \(?
    (?:.{12}|[^,]+,)              # device id (the header parser reads it)
    .{4},?                        # command
    (?:(\d*)|,ALARM,(\d),\d+,)    # 1 data, 2 alarm type
    (\d{2})(\d{2})(\d{2})(,?)     # 3-5 date, 6 comma: ddmmyy when comma-delimited, else yymmdd
    ([AV]),?                      # 7 validity
    \ *(\d*)(\d{2}\.\d+)          # 8, 9 latitude
    ([NS]),?                      # 10
    \ *(\d*)(\d{2}\.\d+)          # 11, 12 longitude
    ([EW]),?                      # 13
    ([\ \d.]{1,5})(?:\d*,)?       # 14 speed km/h
    (\d{2})(\d{2})(\d{2}),?       # 15-17 time
    (?:
      (?:([\ \d.]{6})|(\d{2})),?  # 18, 19 course
      ([01])([01])                # 20 charge (0 = on), 21 ignition
      ([0-9a-fA-F])([0-9a-fA-F])([0-9a-fA-F])   # 22-24 io masks
      ([0-9a-fA-F]{3})            # 25 fuel
      L([0-9a-fA-F]+)             # 26 odometer (m)
     |
      (\d+\.\d+)                  # 27 course
    )
    (.*?)                         # 28 whatever follows
    ([+-]\d{3}\.\d)?              # 29 temperature
    \)?""",
    _FLAGS,
)

COMMA_STATUS = re.compile(
    r",?([01])([01])([0-9a-fA-F])([0-9a-fA-F])([0-9a-fA-F])([0-9a-fA-F]{3}),?L([0-9a-fA-F]+)", re.A)
"""The status block some comma-delimited BP05 frames append after the course."""

BATTERY = re.compile(
    r"\(?\d+,ZC20,(\d{2})(\d{2})(\d{2}),(\d{2})(\d{2})(\d{2}),(\d+),(\d+),(\d+),\d+.*", _FLAGS
)
CELLS = re.compile(r"\(\w{12}.{4}(?:\d{15})?,(.+),([0-9a-fA-F]{8})\)", _FLAGS)
CELL = re.compile(r"\{(\d+),(\d+),(\d+),(\d+)\}", re.A)
NETWORK = re.compile(r"\(?\d{12}BZ00,(\d+),(\d+),([0-9a-fA-F]+),([0-9a-fA-F]+),.*", _FLAGS)
LBS_WIFI = re.compile(
    r"""\(?\d+,.{4},(\d+),(\d+),(\d+),(\d+),(\d+),
    ((?:(?:[0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}\*[-+]?\d+\*\d+,)*)
    (\d{2})(\d{2})(\d{2}),(\d{2})(\d{2})(\d{2}).*""",
    _FLAGS,
)
COMMAND_RESULT = re.compile(
    r"\(?\d+,.{4},(\d{2})(\d{2})(\d{2}),(\d{2})(\d{2})(\d{2}),\$([\s\S]*?)(?:\$|$).*", _FLAGS
)
VIN = re.compile(r"\(\w+BV00(.{17})\)", _FLAGS)


class Header(NamedTuple):
    """Who sent a frame and what it is: ``classic`` frames (id glued to the command) get answers."""

    device_id: str
    command: str
    classic: bool


_HEADERS = (
    (re.compile(r"\((\w{12})([A-Z]{2}[0-9A-Z]{2})", re.A), True),
    (re.compile(r"\((\d{11,15})([A-Z]{2}\d{2})", re.A), True),
    (re.compile(r"\((\w{6,20}),([A-Z]{2}[0-9A-Z]{2}),", re.A), False),
)


def header(text: str) -> Header | None:
    """The device id and command word, or None for a frame that has neither."""
    for pattern, classic in _HEADERS:
        m = pattern.match(text)
        if m is not None:
            return Header(m.group(1), m.group(2), classic)
    return None


def _coordinate(deg: str, minutes: str, hemisphere: str) -> float:
    value = int(deg or 0) + float(minutes) / 60
    return -value if hemisphere in ("S", "W") else value


def _status(rec: Fields, charge: str, ignition: str, m1: str, m2: str, m3: str, fuel: str, odo: str) -> None:
    """The 8-character status and the mileage: Traccar's reading, high bits only (decodeLow off)."""
    a = rec.a
    a["charge"] = charge == "0"
    rec.f["ignition"] = ignition == "1"
    mask1, mask2, mask3 = int(m1, 16), int(m2, 16), int(m3, 16)
    a["in2"] = mask1 & 1
    a["panic"] = (mask1 >> 1) & 1
    a["out2"] = (mask1 >> 2) & 1
    if mask1 & 8:
        a["blocked"] = 1
    for i in range(3):
        if mask2 & (1 << i):
            a[f"hs{3 - i}"] = 1
    if mask2 & 8:
        a["door"] = 1
    for i in range(1, 4):
        if mask3 & (1 << i):
            a[f"ls{3 - i + 1}"] = 1
    a["fuel"] = int(fuel, 16)
    rec.f["odometer_m"] = float(int(odo, 16))


def main(text: str, head: Header) -> Fields | None:
    """A position frame (classic or comma-delimited)."""
    if head.classic and len(head.device_id) != 12:
        # Traccar's pattern wants 12 characters before the command; an 11- or 15-digit id is
        # measured by the header parser instead
        text = "(" + "#" * 12 + text[1 + len(head.device_id) :]
    m = MAIN.fullmatch(text)
    if m is None:
        return None
    g = m.groups()
    rec = Fields()
    f, a = rec.f, rec.a
    data = g[1] if g[1] is not None else g[0]
    if data:
        if head.command in ("BP05", "BP04") and len(data) >= 15:
            a["device_imei"] = data[-15:]
        else:
            a["data"] = data
    apply_command(rec, head.command, data)
    a["command"] = head.command
    d1, d2, d3 = int(g[2]), int(g[3]), int(g[4])
    yy, mo, dd = (d3, d2, d1) if g[5] else (d1, d2, d3)
    hh, mi, ss = int(g[14]), int(g[15]), int(g[16])
    rec.set_time_parts(2000 + yy, mo, dd, hh, mi, ss)
    f["valid"] = g[6] == "A"
    lat = _coordinate(g[7], g[8], g[9])
    lon = _coordinate(g[10], g[11], g[12])
    if lat or lon or f["valid"]:
        f["lat"], f["lon"] = lat, lon
    try:
        f["speed_kmh"] = float(g[13].replace(" ", ""))
    except ValueError:
        pass
    course = g[17] or g[18] or g[26]
    if course:
        try:
            f["course_deg"] = float(course.replace(" ", ""))
        except ValueError:
            pass
    if g[19] is not None:
        _status(rec, *g[19:26])
    rest = g[27]
    if rest:
        status = COMMA_STATUS.match(rest)
        if status is not None and g[19] is None:
            _status(rec, *status.groups())
        else:
            a["extra"] = rest
    if g[28]:
        a["temperature_c"] = float(g[28])
    return rec


def battery(text: str) -> Fields | None:
    """ZC20: battery level, battery and external voltage (65535 / 255: not measured)."""
    m = BATTERY.fullmatch(text)
    if m is None:
        return None
    g = [int(v) for v in m.groups()]
    rec = Fields()
    rec.set_time_parts(2000 + g[2], g[1], g[0], g[3], g[4], g[5])
    if g[6] != 255:
        rec.a["battery_level"] = g[6]
        if g[6] in BATTERY_LEVELS:
            rec.a["battery_pct"] = BATTERY_LEVELS[g[6]]
    if g[7] != 65535:
        rec.f["battery_voltage_v"] = round(g[7] * 0.01, 2)
    if g[8] != 65535:
        rec.f["ext_voltage_v"] = round(g[8] * 0.1, 1)
    return rec


def _operator(rec: Fields, mcc: str, mnc: str, lac: int, cid: int) -> None:
    rec.f["operator"] = operator_code(int(mcc), int(mnc), 3 if len(mnc) == 3 else 2)
    rec.a.update(mcc=int(mcc), mnc=int(mnc), lac=lac, cell_id=cid)


def cells(text: str) -> Fields | None:
    """``{mcc,mnc,lac,cid}`` lists (BZ00/BP05 from cell-only devices) and an 8-digit status."""
    m = CELLS.fullmatch(text)
    if m is None:
        return None
    found = [c.groups() for c in CELL.finditer(m.group(1))]
    if not found:
        return None
    rec = Fields()
    rec.f["valid"] = False
    mcc, mnc, lac, cid = found[0]
    _operator(rec, mcc, mnc, int(lac), int(cid))
    rec.a["cells"] = [{"mcc": int(c[0]), "mnc": int(c[1]), "lac": int(c[2]), "cell_id": int(c[3])} for c in found]
    rec.a["status"] = m.group(2)  # Traccar reads it as a hex odometer; it is the status word
    return rec


def network(text: str) -> Fields | None:
    """BZ00: the serving cell (hex LAC and cell id)."""
    m = NETWORK.fullmatch(text)
    if m is None:
        return None
    mcc, mnc, lac, cid = m.groups()
    rec = Fields()
    rec.f["valid"] = False
    _operator(rec, mcc, mnc, int(lac, 16), int(cid, 16))
    return rec


def lbs_wifi(text: str, command: str) -> Fields | None:
    """DW5x: serving cell, Wi-Fi access points and the time they were seen."""
    m = LBS_WIFI.fullmatch(text)
    if m is None:
        return None
    g = m.groups()
    rec = Fields()
    apply_command(rec, command, None)
    rec.f["valid"] = False
    _operator(rec, g[0], g[1], int(g[2]), int(g[3]))
    count = int(g[4])
    points = [p for p in g[5].split(",") if p]
    if points and len(points) == count:
        wifi = []
        for point in points:
            mac, rssi, channel = point.split("*")
            wifi.append({"mac": mac.lower(), "rssi": int(rssi), "channel": int(channel)})
        rec.a["wifi"] = wifi
    dd, mo, yy, hh, mi, ss = (int(v) for v in g[6:12])
    rec.set_time_parts(2000 + yy, mo, dd, hh, mi, ss)
    return rec


def command_result(text: str) -> tuple[str, Fields] | None:
    """ZC03: the device's text answer to a command."""
    m = COMMAND_RESULT.fullmatch(text)
    if m is None:
        return None
    g = m.groups()
    dd, mo, yy, hh, mi, ss = (int(v) for v in g[:6])
    rec = Fields()
    rec.set_time_parts(2000 + yy, mo, dd, hh, mi, ss)
    rec.a["result"] = g[6]
    return g[6], rec


def vin(text: str) -> Fields | None:
    """BV00: the vehicle identification number."""
    m = VIN.fullmatch(text)
    if m is None:
        return None
    rec = Fields()
    rec.a["vin"] = m.group(1)
    return rec


_U16 = struct.Struct("<H")


def bms(text: str, command: str) -> Fields | None:
    """BS50 (binary block) / BS51 (``key:hex`` pairs): e-bike battery-management data."""
    payload = text[17:-1]
    rec = Fields()
    a = rec.a
    try:
        if command == "BS50":
            _bms_binary(bytes.fromhex(payload), a)
        else:
            for pair in payload.split(","):
                key, value = pair.split(":")
                _bms_pair(int(key, 16), bytes.fromhex(value), a)
    except (ValueError, struct.error, IndexError):
        return None
    return rec


def _bms_binary(b: bytes, a: dict[str, Any]) -> None:
    off = 3
    count = b[off]
    off += 1
    for i in range(1, 25):
        voltage = _U16.unpack_from(b, off)[0]
        off += 2
        if i <= count:
            a[f"cell{i}_v"] = round(voltage * 0.001, 3)
    a["charging"] = b[off] == 0
    a["bms_current_a"] = round(_U16.unpack_from(b, off + 1)[0] * 0.1, 1)
    a["bms_voltage_v"] = round(_U16.unpack_from(b, off + 3)[0] * 0.01, 2)
    a["battery_pct"] = b[off + 5]
    a["battery_overheat"] = b[off + 6] > 0
    a["charge_protection"] = b[off + 7] > 0
    a["discharge_protection"] = b[off + 8] > 0
    a["cycles"] = _U16.unpack_from(b, off + 11)[0]
    a["fault_alarm"] = b[off + 13]
    off += 14 + 6
    temps = b[off]
    a["power_temp_c"] = b[off + 1] - 40
    a["equilibrium_temp_c"] = b[off + 2] - 40
    for i in range(1, 8):
        value = b[off + 2 + i] - 40
        if i <= temps:
            a[f"battery_temp{i}_c"] = value
    off += 10
    a["calibration_capacity"] = round(_U16.unpack_from(b, off)[0] * 0.01, 2)
    a["discharge_capacity"] = struct.unpack_from("<I", b, off + 2)[0]


def _bms_pair(key: int, b: bytes, a: dict[str, Any]) -> None:
    if key == 0x90:
        a["bms_cumulative_voltage_v"] = round(_U16.unpack_from(b, 0)[0] * 0.1, 1)
        a["bms_gather_voltage_v"] = round(_U16.unpack_from(b, 2)[0] * 0.1, 1)
        a["bms_current_a"] = round((_U16.unpack_from(b, 4)[0] - 30000) * 0.1, 1)
        a["bms_soc_pct"] = round(_U16.unpack_from(b, 6)[0] * 0.1, 1)
    elif key == 0x91:
        a["bms_max_cell_v"] = round(_U16.unpack_from(b, 0)[0] * 0.001, 3)
        a["bms_max_cell"] = b[2]
        a["bms_min_cell_v"] = round(_U16.unpack_from(b, 3)[0] * 0.001, 3)
        a["bms_min_cell"] = b[5]
    elif key == 0x92:
        a["bms_max_temp_c"] = b[0] - 40
        a["bms_max_temp_cell"] = b[1]
        a["bms_min_temp_c"] = b[2] - 40
        a["bms_min_temp_cell"] = b[3]
    elif key == 0x96:
        for i in range(1, len(b)):
            a[f"bms_cell_temp{i}_c"] = b[i] - 40
