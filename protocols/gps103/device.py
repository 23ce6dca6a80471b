"""Device side of GPS103: the sentences a Coban tracker sends, for the simulators.

The encoder writes the tracker's local clock as UTC (time-zone offset 0), 5 decimals of arc
minutes (about 2 cm), speed in knots with 3 decimals, and leaves a field empty where the record
holds None, so the server decodes it back to None. A record without a position becomes a
cell-only ``L`` sentence; its time is then the local minute only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from protocols.gps103.fields import KEYWORDS, KNOT_KMH, PROTOCOL
from protocols.record import Record


def _check_imei(imei: str) -> str:
    if not imei.isascii() or not imei.isdigit() or not 6 <= len(imei) <= 20:
        raise ValueError(f"a GPS103 IMEI is 6-20 digits, got {imei!r}")
    return imei


def login_sentence(imei: str) -> bytes:
    """``##,imei:<imei>,A;``: the first thing a tracker sends; the server answers ``LOAD``."""
    return f"##,imei:{_check_imei(imei)},A;".encode("ascii")


def heartbeat_sentence(imei: str) -> bytes:
    """``<imei>;``: the keep-alive; the server answers ``ON``."""
    return f"{_check_imei(imei)};".encode("ascii")


def _keyword(record: Record) -> str:
    event = record.event
    if event is None:
        return "tracker"
    if event == "temperature" and record.attributes.get("temperature_c") is not None:
        return f"T:{float(record.attributes['temperature_c']):+.1f}"
    keyword = KEYWORDS.get(event, event.replace("_", " "))
    if any(c in keyword for c in ",;*\r\n") or keyword == "vr" or keyword.startswith("OBD"):
        raise ValueError(f"event {event!r} cannot be written as a GPS103 keyword")
    return keyword


def _coord(value: float, width: int, positive: str, negative: str) -> str:
    total = round(abs(value) * 60, 5)
    degrees = int(total // 60)
    minutes = total - degrees * 60
    return f"{degrees:0{width}d}{minutes:08.5f},{positive if value >= 0 else negative}"


def _num(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def encode_sentence(imei: str, record: Record) -> bytes:
    """One ``imei:...;`` sentence for ``record``."""
    _check_imei(imei)
    keyword = _keyword(record)
    local = ""
    if record.fix_time is not None:
        local = time.strftime("%y%m%d%H%M", time.gmtime(int(record.fix_time)))
    a = record.attributes
    info = str(a.get("driver_id") if keyword == "rfid" else a.get("phone") or "")
    if any(c in info for c in ",;*\r\n"):
        info = ""
    head = f"imei:{imei},{keyword},{local},{info},"
    if record.lat is None or record.lon is None:
        lac, cid = a.get("lac"), a.get("cell_id")
        cell = f",,{lac:x},,{cid:x},,," if isinstance(lac, int) and isinstance(cid, int) else ""
        return f"{head}L,{cell};".encode("ascii")
    if record.fix_time is None:
        raise ValueError("a GPS103 position sentence needs a fix_time")
    whole = int(record.fix_time)
    millis = int(round((record.fix_time - whole) * 1000))
    if millis == 1000:
        whole, millis = whole + 1, 0
        local = time.strftime("%y%m%d%H%M", time.gmtime(whole))
        head = f"imei:{imei},{keyword},{local},{info},"
    utc = time.strftime("%H%M%S", time.gmtime(whole)) + f".{millis:03d}"
    fields = [
        "A" if record.valid else "V",
        _coord(record.lat, 2, "N", "S"),
        _coord(record.lon, 3, "E", "W"),
        _num(None if record.speed_kmh is None else record.speed_kmh / KNOT_KMH, ".3f"),
        _num(record.course_deg, ".2f"),
        _num(record.altitude_m, ".1f"),
    ]
    ignition = record.ignition
    if record.event in ("ignition_on", "ignition_off"):
        ignition = None  # the keyword says it
    tail = [
        "" if ignition is None else str(int(ignition)),
        "" if a.get("door") is None else str(int(bool(a["door"]))),
        "" if a.get("fuel1_pct") is None else f"{float(a['fuel1_pct']):.2f}%",
        "" if a.get("fuel2_pct") is None else f"{float(a['fuel2_pct']):.2f}%",
        "" if a.get("temperature_c") is None or keyword.startswith("T:") else f"{int(a['temperature_c']):+d}",
    ]
    while tail and tail[-1] == "":
        tail.pop()
    return f"{head}F,{utc},{','.join(fields + tail)};".encode("ascii")


class DeviceCodec:
    """A GPS103 tracker's side of one connection (see ``protocols.device_codec``)."""

    protocol = PROTOCOL
    acks_positions = False

    def __init__(self, imei: str) -> None:
        self.imei = _check_imei(imei)

    def login(self) -> bytes:
        return login_sentence(self.imei)

    def heartbeat(self) -> bytes:
        return heartbeat_sentence(self.imei)

    def encode(self, records: Sequence[Record]) -> bytes:
        return b"".join(encode_sentence(self.imei, r) for r in records)

    def acks(self, data: bytes) -> int:
        """Always 0: the server answers ``LOAD``/``ON``/SOS only, never a position."""
        return 0
