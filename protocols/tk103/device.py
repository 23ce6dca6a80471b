"""Device side of TK103: the classic frames a tracker sends, for the simulators.

``BP05`` logs in (the 15-digit IMEI field is the id with ``000`` in front, as real trackers
whose id is the IMEI's tail do), ``BR00`` carries a position and ``BO01`` an alarm the protocol
has a digit for. Resolution: 1/10000 arc minute (about 0.2 m), 0.1 km/h, 0.01 degree of course,
whole seconds, whole metres of mileage. The status block (ignition, mileage) is written only
when the record knows the ignition or the mileage; an unknown ignition is then sent as off.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from protocols.record import Record
from protocols.tk103.fields import BO01_ALARMS, PROTOCOL

ALARM_DIGITS = {name: digit for digit, name in BO01_ALARMS.items()}


def _check_id(device_id: str) -> str:
    """12 letters or digits (the classic id), or 11-15 digits (trackers that send their IMEI)."""
    twelve = len(device_id) == 12 and device_id.isalnum()
    digits = 11 <= len(device_id) <= 15 and device_id.isdigit()
    if not device_id.isascii() or not (twelve or digits):
        raise ValueError(f"a TK103 device id is 12 letters or digits or an 11-15 digit IMEI, got {device_id!r}")
    return device_id


def login_frame(device_id: str) -> bytes:
    """``(<id>BP05<imei>)``: the login without a position; the server answers ``AP05``."""
    imei = device_id.rjust(15, "0") if device_id.isdigit() else ""
    return f"({_check_id(device_id)}BP05{imei})".encode("ascii")


def handshake_frame(device_id: str) -> bytes:
    """``(<id>BP00<id>HSO)``: the periodic handshake; the server answers ``AP01HSO``."""
    return f"({_check_id(device_id)}BP00{device_id}HSO)".encode("ascii")


def _coord(value: float, width: int, positive: str, negative: str) -> str:
    total = round(abs(value) * 60, 4)
    degrees = int(total // 60)
    minutes = total - degrees * 60
    return f"{degrees:0{width}d}{minutes:07.4f}{positive if value >= 0 else negative}"


def encode_position(device_id: str, record: Record) -> bytes:
    """``BR00`` (or ``BO01`` when the record's event has an alarm digit)."""
    _check_id(device_id)
    if record.fix_time is None:
        raise ValueError("a TK103 position frame needs a fix_time")
    tm = time.gmtime(int(record.fix_time))
    if not 2000 <= tm.tm_year <= 2099:
        raise ValueError(f"year {tm.tm_year} does not fit TK103's YY field")
    digit = ALARM_DIGITS.get(record.event or "")
    command = f"BO01{digit}" if digit is not None else "BR00"
    lat = record.lat if record.lat is not None else 0.0
    lon = record.lon if record.lon is not None else 0.0
    valid = "A" if record.valid and record.lat is not None else "V"
    speed = min(max(record.speed_kmh or 0.0, 0.0), 999.9)
    course = (record.course_deg or 0.0) % 360
    body = (
        time.strftime("%y%m%d", tm) + valid + _coord(lat, 2, "N", "S") + _coord(lon, 3, "E", "W")
        + f"{speed:05.1f}" + time.strftime("%H%M%S", tm) + f"{course:06.2f}"
    )
    if body.endswith("360.00"):
        body = body[:-6] + "000.00"
    if record.ignition is not None or record.odometer_m is not None:
        a = record.attributes
        charge = "0" if a.get("charge", True) else "1"
        ignition = "1" if record.ignition else "0"
        fuel = int(a.get("fuel", 0)) & 0xFFF
        odometer = int(round(record.odometer_m or 0.0)) & 0xFFFFFFFF
        body += f"{charge}{ignition}000{fuel:03X}L{odometer:08X}"
    return f"({device_id}{command}{body})".encode("ascii")


class DeviceCodec:
    """A TK103 tracker's side of one connection (see ``protocols.device_codec``).

    ``imei`` is the tracker's device id: 12 characters on classic trackers, or the IMEI (the
    server then uses the IMEI as the id, as it does for the comma-delimited firmware).
    """

    protocol = PROTOCOL
    acks_positions = False

    def __init__(self, imei: str) -> None:
        self.imei = _check_id(imei)

    def login(self) -> bytes:
        return login_frame(self.imei)

    def handshake(self) -> bytes:
        return handshake_frame(self.imei)

    def encode(self, records: Sequence[Record]) -> bytes:
        return b"".join(encode_position(self.imei, r) for r in records)

    def acks(self, data: bytes) -> int:
        """Always 0: the server answers logins, handshakes and alarms, never a position."""
        return 0
