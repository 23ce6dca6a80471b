"""Device side of GT06: the frames a tracker sends, and a parser for the server's answers.

The simulators build on these. Encoding is the inverse of the server's decoding within the
protocol's resolution: 1/1,800,000 degree, whole km/h and degrees, whole seconds, 0-4 GSM levels.
A value the record leaves unknown (None) is sent as an out-of-scale byte (0xFF) where the frame
has a slot for it, so it decodes back to unknown rather than to 0.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

from protocols.core import DEFAULT_MAX_FRAME, BufferedFeed
from protocols.gt06.fields import ALARMS, COORD_SCALE
from protocols.gt06.framing import Frame, build_frame, take_frame
from protocols.record import Record

_GPS = struct.Struct(">6BBIIBH")
_CELL = struct.Struct(">HBH")
_U32 = struct.Struct(">I")

UNKNOWN = 0xFF
"""Byte sent for an unknown level: outside every scale, so it decodes back to None."""

ALARM_CODES: dict[str, int] = {}
for _code, _name in sorted(ALARMS.items()):
    ALARM_CODES.setdefault(_name, _code)
"""Event name -> the first alarm code that decodes to it."""

_STATUS_BITS = {"vibration": 1, "power_cut": 2, "low_battery": 3, "sos": 4, "geofence": 6}


@dataclass(frozen=True, slots=True)
class Ack:
    """One answer from the server: the protocol number and serial it acknowledges."""

    type_id: int
    serial: int
    content: bytes = b""
    """What the frame carries besides type and serial (a 0x80 command's text, a time reply)."""


def encode_login(imei: str, serial: int) -> bytes:
    """Login 0x01: the IMEI as an 8-byte BCD terminal ID with a leading zero."""
    digits = imei.rjust(16, "0")
    if len(digits) != 16 or not digits.isdigit():
        raise ValueError(f"IMEI must be up to 16 digits, got {imei!r}")
    return build_frame(0x01, bytes.fromhex(digits), serial)


def _gps_block(record: Record, with_ignition: bool) -> bytes:
    if record.fix_time is None:
        raise ValueError("a GPS frame needs a fix_time")
    tm = time.gmtime(int(record.fix_time))
    if not 2000 <= tm.tm_year <= 2255:
        raise ValueError(f"year {tm.tm_year} does not fit GT06's YY field")
    sats = record.satellites or 0
    info = 0xC0 | min(max(sats, 0), 15)
    lat = record.lat or 0.0
    lon = record.lon or 0.0
    flags = int(round(record.course_deg or 0.0)) % 360
    if record.valid:
        flags |= 0x1000
    if lat >= 0:
        flags |= 0x0400
    if lon < 0:
        flags |= 0x0800
    if with_ignition and record.ignition is not None:
        flags |= 0x4000 | (0x8000 if record.ignition else 0)
    speed = min(max(int(round(record.speed_kmh or 0.0)), 0), 255)
    return _GPS.pack(
        tm.tm_year - 2000, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, info,
        int(round(abs(lat) * COORD_SCALE)), int(round(abs(lon) * COORD_SCALE)), speed, flags,
    )


def _cell(record: Record) -> bytes:
    """MCC, MNC, LAC, 3-byte cell ID from the attributes, else from the operator code."""
    a = record.attributes
    mcc = a.get("mcc")
    mnc = a.get("mnc")
    if mcc is None and record.operator is not None:
        op = record.operator
        mcc, mnc = (op // 1000, op % 1000) if op >= 100000 else (op // 100, op % 100)
    mcc = mcc or 0
    mnc = mnc or 0
    lac = a.get("lac") or 0
    cid = a.get("cell_id") or 0
    if mnc > 0xFF:
        head = struct.pack(">HHH", mcc | 0x8000, mnc, lac)
    else:
        head = _CELL.pack(mcc, mnc, lac)
    return head + (cid & 0xFFFFFF).to_bytes(3, "big")


def encode_location(record: Record, serial: int, type_id: int = 0x22) -> bytes:
    """GPS + LBS location: 0x12 (ignition in the course word) or 0x22 (ACC byte).

    0x22 always carries the ACC/upload/re-upload tail when it also carries an odometer, so an
    unknown ignition is sent as "off" there; without odometer an unknown ignition drops the tail.
    """
    if type_id not in (0x12, 0x22):
        raise ValueError(f"encode_location writes 0x12 or 0x22, not 0x{type_id:02x}")
    content = _gps_block(record, with_ignition=type_id == 0x12) + _cell(record)
    if type_id == 0x22 and (record.ignition is not None or record.odometer_m is not None):
        upload = int(record.attributes.get("upload_mode", 0)) & 0xFF
        content += bytes((1 if record.ignition else 0, upload, 0))
    if record.odometer_m is not None:
        content += _U32.pack(int(round(record.odometer_m)) & 0xFFFFFFFF)
    return build_frame(type_id, content, serial)


def _terminal_info(record: Record, event: str | None) -> int:
    a = record.attributes
    if "terminal_info" in a and event is None and record.ignition is None:
        return int(a["terminal_info"]) & 0xFF
    info = 0
    if a.get("armed"):
        info |= 0x01
    if record.ignition:
        info |= 0x02
    if a.get("charging"):
        info |= 0x04
    info |= _STATUS_BITS.get(event or "", 0) << 3
    if a.get("gps_tracking", True):
        info |= 0x40
    if a.get("oil_electricity_disconnected"):
        info |= 0x80
    return info


def _levels(record: Record) -> bytes:
    a = record.attributes
    level = a.get("voltage_level")
    voltage = level if isinstance(level, int) and 0 <= level <= 6 else UNKNOWN
    pct = record.gsm_signal_pct
    gsm = UNKNOWN if pct is None else min(max(int(pct) // 25, 0), 4)
    return bytes((voltage, gsm))


def _alarm_code(name: str | None) -> int:
    if name is None:
        return 0
    try:
        return ALARM_CODES[name]
    except KeyError:
        raise ValueError(f"no GT06 alarm code for {name!r}; known: {sorted(ALARM_CODES)}") from None


def encode_status(record: Record, serial: int) -> bytes:
    """Heartbeat/status 0x13: terminal info, voltage level, GSM level, alarm, language."""
    event = record.event
    content = bytes((_terminal_info(record, event),)) + _levels(record)
    content += bytes((_alarm_code(event), int(record.attributes.get("language", 0x02)) & 0xFF))
    return build_frame(0x13, content, serial)


def encode_alarm(record: Record, serial: int, alarm: str, type_id: int = 0x16) -> bytes:
    """GPS + LBS + status alarm 0x16 or 0x26, with ``alarm`` as the alarm byte."""
    if type_id not in (0x16, 0x26):
        raise ValueError(f"encode_alarm writes 0x16 or 0x26, not 0x{type_id:02x}")
    cell = _cell(record)
    content = _gps_block(record, with_ignition=False) + bytes((len(cell) + 1,)) + cell
    content += bytes((_terminal_info(record, alarm),)) + _levels(record)
    content += bytes((_alarm_code(alarm), int(record.attributes.get("language", 0x02)) & 0xFF))
    return build_frame(type_id, content, serial)


class DeviceReceiver(BufferedFeed[Frame, Ack]):
    """Parses what a GT06 server sends back (ACKs, time and address replies); keeps partial input.

    As on the server side, answers parsed before a bad frame are returned first and the error is
    raised by the next call.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame)

    def _next_frame(self) -> Frame | None:
        return take_frame(self._buf, self.max_frame)

    def _decode(self, frame: Frame, out: list[Ack]) -> None:
        out.append(Ack(frame.type_id, frame.serial if frame.serial is not None else 0, frame.content))
