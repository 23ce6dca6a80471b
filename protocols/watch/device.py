"""Device side of the watch protocol: the frames a 3G/SeTracker watch sends.

``login`` is the ``LK`` link frame a watch sends on connecting (the server answers ``LK``);
each record becomes a ``UD`` position, or an ``AL`` alarm when it carries an event the status
word can express. Resolution: 1e-6 degree, 0.01 km/h, whole seconds. Unknown numbers are sent as
empty fields and decode back to None; an unknown position is sent as 0,0 (decodes to None).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from protocols.record import Record
from protocols.watch.content import ALARM_BITS, PROTOCOL
from protocols.watch.framing import escape

EVENT_BITS = {name: bit for bit, name in reversed(ALARM_BITS)}
"""Event name -> the first status bit that decodes to it."""


def frame(ident: str, text: str | bytes, maker: str = "3G", index: str | None = None) -> bytes:
    """``[MF*id*[index*]len*content]`` with the content escaped and its length counted unescaped."""
    body = text.encode("latin-1") if isinstance(text, str) else text
    head = f"[{maker}*{ident}*" + (f"{index}*" if index is not None else "") + f"{len(body):04X}*"
    return head.encode() + escape(body) + b"]"


def _num(value: float | int | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def position_text(rec: Record) -> str:
    """The ``UD``/``AL`` content after the type: date, time, fix, ... status, one cell."""
    if rec.fix_time is None:
        raise ValueError("a watch position needs a fix_time")
    tm = time.gmtime(int(rec.fix_time))
    a = rec.attributes
    status = 0
    if rec.event is not None:
        if rec.event not in EVENT_BITS:
            raise ValueError(f"no watch status bit for event {rec.event!r}; known: {sorted(EVENT_BITS)}")
        status |= 1 << EVENT_BITS[rec.event]
    if rec.motion:
        status |= 1 << 4
    lat = rec.lat if rec.lat is not None else 0.0
    lon = rec.lon if rec.lon is not None else 0.0
    fields = [
        time.strftime("%d%m%y", tm), time.strftime("%H%M%S", tm), "A" if rec.valid else "V",
        f"{abs(lat):.6f}", "S" if lat < 0 else "N", f"{abs(lon):.6f}", "W" if lon < 0 else "E",
        _num(rec.speed_kmh, ".2f"), _num(rec.course_deg, ".1f"), _num(rec.altitude_m, ".1f"),
        _num(rec.satellites, "d"), _num(rec.gsm_signal_pct, "d"), _num(a.get("battery_pct"), "d"),
        _num(a.get("steps"), "d"), "0", f"{status:08X}",
    ]
    mcc, mnc = a.get("mcc"), a.get("mnc")
    if mcc and mnc is not None and a.get("lac") is not None and a.get("cell_id") is not None:
        fields += ["1", "0", str(mcc), f"{mnc:02d}", str(a["lac"]), str(a["cell_id"]), str(a.get("cell_signal", ""))]
    else:
        fields += ["0"]
    fields += ["0"]  # no Wi-Fi
    return ",".join(fields)


class DeviceCodec:
    """One simulated watch connection: ``LK`` on connecting, ``UD``/``AL`` per record."""

    protocol = PROTOCOL
    acks_positions = False

    def __init__(self, imei: str, maker: str = "3G") -> None:
        self.imei = imei
        self.maker = maker

    def login(self) -> bytes:
        """The link frame a watch sends first (answered with ``LK``, not a login as such)."""
        return frame(self.imei, "LK", self.maker)

    def encode(self, records: Sequence[Record]) -> bytes:
        """One frame per record: ``AL`` when it carries an event, else ``UD``."""
        return b"".join(
            frame(self.imei, ("AL," if rec.event else "UD,") + position_text(rec), self.maker) for rec in records
        )

    def acks(self, data: bytes) -> int:
        """The server answers link frames and alarms, never plain positions: no position ACKs."""
        return 0
