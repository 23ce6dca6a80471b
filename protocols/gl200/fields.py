"""Shared vocabulary of the Queclink decoders: the record being built, value parsers, model names,
event names and the motion/ignition state byte.

Parsers here never raise on bad text: a field that is empty or not what it should be reads as None,
so one odd field costs that value, not the message.
"""

from __future__ import annotations

import re

from protocols.record import RecordFields, operator_code

PROTOCOL = "gl200"

MODELS: dict[str, str] = {
    "02": "GL200", "04": "GV200", "06": "GV300", "08": "GMT100", "09": "GV50P", "0F": "GV55",
    "10": "GV55 LITE", "11": "GL500", "1A": "GL300", "1F": "GV500", "21": "GL200", "25": "GV300",
    "27": "GV300W", "28": "GL300VC", "2C": "GL300W", "2D": "GV500VC", "2F": "GV55", "4F": "GV56",
    "30": "GL300", "31": "GV65", "35": "GV200", "36": "GV500", "3F": "GMT100", "40": "GL500",
    "41": "GV75W", "42": "GT501", "44": "GL530", "45": "GB100", "50": "GV55W", "52": "GL50",
    "55": "GL50B", "5E": "GV500MAP", "6E": "GV310LAU", "74": "GV350CEU", "BD": "CV200",
    "C2": "GV600M", "C3": "GL320M", "DC": "GV600MG", "DE": "GL500M", "DF": "CV100LG",
    "F1": "GV350M", "F8": "GV800W", "FC": "GV600W", "802004": "GV58LAU", "802005": "GV355CEU",
    "80201E": "GV30CEU",
}
"""Protocol-version prefix -> model (the first 2 characters, or 6 of a 10-character version);
Traccar's table, which is what decides a few model-specific layouts."""

EVENTS: dict[str, str] = {
    "SOS": "sos", "SPD": "overspeed", "TOW": "tow", "IDL": "idle", "IDN": "idle",
    "PNA": "power_on", "PFA": "power_off", "EPN": "power_restored", "MPN": "power_restored",
    "EPF": "power_lost", "MPF": "power_lost", "BPL": "low_battery", "STT": "movement",
    "SWG": "geofence", "GEO": "geofence", "GES": "geofence", "TMP": "temperature",
    "TEM": "temperature", "JDR": "jamming", "JDS": "jamming", "GPJ": "jamming", "CRA": "crash",
    "IGN": "ignition_on", "IGF": "ignition_off", "VGN": "ignition_on", "VGF": "ignition_off",
}
"""Report type -> normalised event name (report types not listed are periodic or informational)."""

HARSH = {0: "hard_braking", 3: "hard_braking", 1: "hard_acceleration", 4: "hard_acceleration",
         2: "hard_cornering"}
"""GTHBM report type (low nibble) -> event."""

MOTION_STATES: dict[int, tuple[bool | None, bool | None]] = {
    0x11: (False, False), 0x12: (False, True), 0x16: (False, True), 0x1A: (False, True),
    0x21: (True, False), 0x22: (True, True), 0x41: (None, False), 0x42: (None, True),
}
"""Motion status byte -> (ignition, motion). 16 is a tow, 1A a "fake tow"; 4x means no ignition
signal is wired, so ignition stays unknown rather than off."""

_TIME14 = re.compile(r"\d{14}\Z")
_INT = re.compile(r"[+-]?\d+\Z")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)\Z")
_HEX = re.compile(r"[0-9A-Fa-f]+\Z")


class Fields(RecordFields):
    """The record being built from one frame (see ``RecordFields``)."""

    __slots__ = ()
    protocol = PROTOCOL


def to_int(text: str) -> int | None:
    """A decimal integer field, or None."""
    return int(text) if text and _INT.match(text) else None


def to_float(text: str) -> float | None:
    """A decimal number field, or None (``nan``/``Inf`` included)."""
    return float(text) if text and _FLOAT.match(text) else None


def to_hex(text: str) -> int | None:
    """A hexadecimal field, or None."""
    return int(text, 16) if text and _HEX.match(text) else None


def is_hex(text: str, *lengths: int) -> bool:
    """True when ``text`` is hexadecimal (and, if given, of one of ``lengths``)."""
    return bool(text) and bool(_HEX.match(text)) and (not lengths or len(text) in lengths)


def set_time14(rec: Fields, text: str) -> None:
    """``YYYYMMDDHHMMSS`` (UTC) as the fix time; empty stays unknown, an impossible one is kept as
    sent (``RecordFields.set_time_parts``)."""
    if _TIME14.match(text):
        rec.set_time_parts(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]),
                           int(text[10:12]), int(text[12:14]))
    elif text:
        rec.impossible_time(text)
    else:
        rec.f["fix_time"] = None


def model_of(version: str | None) -> str:
    """The model a protocol version names ("" when unknown)."""
    if not version:
        return ""
    prefix = version[:6] if len(version) > 6 else version[:2]
    return MODELS.get(prefix.upper(), "")


def set_cell(rec: Fields, mcc: int | None, mnc: int | None, lac: int | None, cid: int | None) -> None:
    """Serving cell into the attributes and the operator code (MCC 0 means no cell)."""
    if mcc is None or mnc is None or not 0 < mcc <= 999 or not 0 <= mnc <= 999:
        return
    a = rec.a
    a["mcc"], a["mnc"] = mcc, mnc
    if lac is not None:
        a["lac"] = lac
    if cid is not None:
        a["cell_id"] = cid
    rec.f["operator"] = operator_code(mcc, mnc)


def apply_motion_state(rec: Fields, state: int) -> None:
    """Ignition and motion from the motion status byte; the raw byte is kept too."""
    rec.a["motion_state"] = f"{state:02X}"
    known = MOTION_STATES.get(state)
    if known is None:
        return
    ignition, motion = known
    if ignition is not None:
        rec.f["ignition"] = ignition
    if motion is not None:
        rec.f["motion"] = motion
    if state == 0x16:
        rec.a["towing"] = True


def apply_device_status(rec: Fields, text: str) -> None:
    """``<Device Status>`` read from the right: output byte, input byte, motion byte, and on the
    10-character form two more EIO100 bytes in front."""
    if len(text) == 10:
        rec.a["eio_status"] = text[:4]
        text = text[4:]
    value = int(text, 16)
    apply_motion_state(rec, (value >> 16) & 0xFF)
    inputs, outputs = (value >> 8) & 0xFF, value & 0xFF
    a = rec.a
    a["inputs"], a["outputs"] = inputs, outputs
    a["in1"], a["in2"] = bool(inputs & 0x02), bool(inputs & 0x04)
    a["out1"], a["out2"] = bool(outputs & 0x01), bool(outputs & 0x02)


def csq_pct(rssi: int | None) -> int | None:
    """GSM CSQ (0-31, 99 unknown) as 0-100 %."""
    if rssi is None or not 0 <= rssi <= 31:
        return None
    return round(rssi * 100 / 31)


def bcd_number(value: int) -> int:
    """A 2-byte field written as BCD (``0x0268`` -> 268); kept as is if it is not BCD."""
    text = f"{value:x}"
    return int(text) if text.isdigit() else value
