"""@Track HEX frames (``+RSP``/``+EVT``/``+INF``/``+HBD``/``+ACK``...) and Protocol Pro frames.

HEX reports are laid out by their 4-byte report mask (``AT+GTHRM``): a field is on the wire only
when its mask bit is set, so the decoder walks the mask instead of assuming Traccar's default
``00FC1FBF``. The frame's length then proves the walk: an event's type-specific insert (ignition
duration, firmware update code...) is whatever the length leaves between the motion/satellite
bytes and the position, and a report that does not add up is an error, not a guess.

Protocol Pro reports are records of ``(data id, length, data)`` items; data id 0x52 (full
location) becomes the fix, every other item is kept raw as ``data_<id>`` hex.
"""

from __future__ import annotations

import struct

from protocols.core import ProtocolError
from protocols.gl200.fields import Fields, apply_motion_state, bcd_number, set_cell
from protocols.gl200.sentence import Outcome

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_S16 = struct.Struct(">h")
_S32 = struct.Struct(">i")

RSP_TYPES = {1: "TOW", 3: "LBC", 4: "EPS", 5: "DIS", 6: "IOB", 7: "FRI", 8: "GEO", 9: "SPD", 10: "SOS",
             11: "RTL", 12: "DOG", 15: "HBM", 16: "IGL", 17: "IDA", 18: "ERI", 100: "FRI_COMPRESSED"}
EVT_TYPES = {6: "BPL", 9: "STT", 13: "IGN", 14: "IGF", 15: "UPD", 17: "IDF", 21: "GSS", 23: "CRA",
             25: "DOS", 26: "GES", 31: "GPJ", 45: "VGN", 46: "VGF", 50: "VGN", 51: "VGF"}
BINARY_EVENTS = {"TOW": "tow", "GEO": "geofence", "SPD": "overspeed", "SOS": "sos", "BPL": "low_battery",
                 "STT": "movement", "IGN": "ignition_on", "IGF": "ignition_off", "VGN": "ignition_on",
                 "VGF": "ignition_off", "CRA": "crash", "GES": "geofence", "GPJ": "jamming"}
COMPRESSED = 100


def _bit(mask: int, n: int) -> bool:
    return bool(mask >> n & 1)


def _set_time7(rec: Fields, b: bytes, i: int) -> None:
    """Year (2 bytes), month, day, hour, minute, second, as the fix time (``set_time_parts``)."""
    year = _U16.unpack_from(b, i)[0]
    rec.set_time_parts(year, b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6])


def _time7_text(b: bytes, i: int) -> str:
    year = _U16.unpack_from(b, i)[0]
    return f"{year:04d}" + "".join(f"{x:02d}" for x in b[i + 2 : i + 7])


def unique_id(uid: bytes) -> tuple[str | None, str | None]:
    """(IMEI, device name) from the 8-byte unique-id field.

    The IMEI is written two digits per byte as integers (``0x56 0x32`` -> ``8650``...), the last
    byte holding the fifteenth digit; the same bytes may instead be an ASCII name padded with NULs.
    """
    if all(32 <= c < 127 or c == 0 for c in uid) and uid[0] != 0 and any(65 <= c <= 122 for c in uid):
        return None, uid.rstrip(b"\0").decode("ascii")
    if all(c <= 99 for c in uid[:7]) and uid[7] <= 9:
        return "".join(f"{c:02d}" for c in uid[:7]) + str(uid[7]), None
    return None, None


class _Reader:
    """A cursor over one frame that never reads past ``end``."""

    def __init__(self, raw: bytes, pos: int, end: int) -> None:
        self.raw, self.pos, self.end = raw, pos, end

    def take(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise IndexError(f"field runs past the end of the frame at byte {self.pos}")
        chunk = self.raw[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        value: int = _U16.unpack(self.take(2))[0]
        return value


def _position_size(mask: int) -> int:
    return 1 + 3 * _bit(mask, 0) + 2 * _bit(mask, 1) + 2 * _bit(mask, 2) + 15 + 9 * _bit(mask, 3)


def _after_size(mask: int) -> int:
    sizes = ((20, 3), (21, 5), (22, 3), (23, 6), (24, 4))  # mileages, hour meters, RFID
    return sum(size for bit, size in sizes if _bit(mask, bit))


def _position(r: _Reader, mask: int) -> Fields:
    rec = Fields()
    f = rec.f
    accuracy = r.u8()
    if _bit(mask, 0):
        whole, frac = r.u16(), r.u8()
        f["speed_kmh"] = whole + (frac / 10.0 if frac < 10 else frac / 100.0)
    if _bit(mask, 1):
        f["course_deg"] = float(r.u16())
    if _bit(mask, 2):
        f["altitude_m"] = float(_S16.unpack(r.take(2))[0])
    lon = _S32.unpack(r.take(4))[0] / 1e6
    lat = _S32.unpack(r.take(4))[0] / 1e6
    raw_time = r.take(7)
    _set_time7(rec, raw_time, 0)
    f["lat"], f["lon"] = round(lat, 6), round(lon, 6)  # out of range: judged by the pipeline
    f["valid"] = accuracy > 0
    if accuracy > 0:
        f["hdop"] = float(accuracy)
    else:
        rec.a["gnss_accuracy"] = 0
    if _bit(mask, 3):
        cell = r.take(9)
        mcc, mnc, lac, cid = struct.unpack_from(">HHHH", cell)
        set_cell(rec, bcd_number(mcc), bcd_number(mnc), lac, cid)
    return rec


def _after(r: _Reader, mask: int, rec: Fields) -> None:
    """Mileage and hour meters after the positions."""
    a = rec.a
    if _bit(mask, 20):
        b = r.take(3)
        a["trip_km"] = _U16.unpack_from(b)[0] + b[2] / 10.0
    if _bit(mask, 21):
        b = r.take(5)
        rec.f["odometer_m"] = round((_U32.unpack_from(b)[0] + b[4] / 10.0) * 1000.0, 1)
    if _bit(mask, 22):
        b = r.take(3)
        a["trip_hours_s"] = b[0] * 3600 + b[1] * 60 + b[2]
    if _bit(mask, 23):
        b = r.take(6)
        a["engine_hours_s"] = _U32.unpack_from(b)[0] * 3600 + b[4] * 60 + b[5]
    if _bit(mask, 24):
        a["rfid"] = r.take(4).hex().upper()


def _report(raw: bytes) -> Outcome:
    """``+RSP``/``+BSP`` (location) and ``+EVT``/``+BVT`` (event) reports."""
    header, mtype = raw[:4], raw[4]
    event_frame = header in (b"+EVT", b"+BVT")
    mask = _U32.unpack_from(raw, 5)[0]
    if not _bit(mask, 7):
        raise ProtocolError("HEX report without a length field in its mask", close=False, excerpt=raw)
    total = len(raw)
    trailer = 7 * _bit(mask, 4) + 2 * _bit(mask, 5)
    end = total - 4 - trailer
    r = _Reader(raw, 11, end)
    head = Fields()
    h = head.a
    if _bit(mask, 8):
        h["device_type"] = f"{r.u8():02X}"
    if _bit(mask, 9):
        h["protocol_version"] = f"{r.u16():04X}"
    if _bit(mask, 10):
        h["firmware"] = f"{r.u16():04X}"
    uid = r.take(8)
    imei, name = (None, uid.rstrip(b"\0").decode("latin-1")) if _bit(mask, 6) else unique_id(uid)
    if name:
        h["device_name"] = name
    if _bit(mask, 11):
        h["battery_pct"] = r.u8()
    if _bit(mask, 12):
        head.f["ext_voltage_v"] = r.u16() / 1000.0
    if _bit(mask, 14):
        h["adc1_v"] = r.u16() / 1000.0
    eio_in = r.u8() if _bit(mask, 26) else None
    if _bit(mask, 17):
        h["inputs"] = r.u8()
    eio_out = r.u8() if _bit(mask, 26) else None
    if _bit(mask, 17):
        h["outputs"] = r.u8()
    if eio_in is not None:
        h["eio_status"] = f"{eio_in:02X}{eio_out:02X}"
    if _bit(mask, 18):
        apply_motion_state(head, r.u8())
    if _bit(mask, 19):
        value = r.u8()
        head.f["satellites"] = value & 0x0F
        h["antenna"] = value >> 4
    family = "EVT" if event_frame else "RSP"
    name_of = (EVT_TYPES if event_frame else RSP_TYPES).get(mtype, f"{family}{mtype}")
    if not event_frame and mtype == COMPRESSED:
        records = _compressed(r)
    else:
        if event_frame:
            after = _after_size(mask | (0x300000 if mtype in (13, 14) else 0))
            insert = end - r.pos - 1 - _position_size(mask) - after
            if insert < 0:
                raise ProtocolError(f"HEX event {mtype} longer than its length", close=False, excerpt=raw)
            data = r.take(insert)
            if mtype in (13, 14, 45, 46) and insert >= 4:
                h["duration_s"] = _U32.unpack_from(data, insert - 4)[0]
            elif data:
                h["event_data"] = data.hex().upper()
        else:
            h["report_id_type"] = f"{r.u8():02X}"
            if mtype == 3:  # LBC: phone number length, then BCD digits up to an F nibble
                r.u8()
                while (b := r.u8()) & 0x0F != 0x0F and b & 0xF0 != 0xF0:
                    pass
        count = r.u8()
        records = [_position(r, mask) for _ in range(count)]
        if mtype in (13, 14) and event_frame:
            mask |= 0x300000
        last = records[-1] if records else head
        _after(r, mask, last)
        if _bit(mask, 25):
            h["can_data"] = raw[r.pos:end].hex().upper()
            r.pos = end
        if r.pos != end:
            raise ProtocolError(f"HEX report {name_of} does not fill its length", close=False, excerpt=raw)
    last = records[-1] if records else head
    if last is not head:
        last.a.update(h)
        for key, value in head.f.items():
            last.f.setdefault(key, value)
    if _bit(mask, 4):
        last.a["send_time"] = _time7_text(raw, end)
    if _bit(mask, 5):
        last.a["count"] = f"{_U16.unpack_from(raw, total - 6)[0]:04X}"
    event = BINARY_EVENTS.get(name_of)
    if event:
        last.f["event"] = event
    if name_of in ("IGN", "VGN"):
        last.f["ignition"] = True
    elif name_of in ("IGF", "VGF"):
        last.f["ignition"] = False
    if header[1:2] == b"B":
        last.a["buffered"] = True
    if not records:
        records = [head]
    for rec in records:
        rec.a["report"] = name_of
    return Outcome(name_of.lower(), imei, tuple(records), None)


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) & 1 else value


def _compressed(r: _Reader) -> list[Fields]:
    """Type 100: absolute points (tag 1) and 1-second deltas (tag 2), as Traccar reads them."""
    count = r.u16()
    speed = heading = lat = lon = 0
    t = 0
    out = []
    for _ in range(count):
        if t > 0:
            t += 1
        tag = r.raw[r.pos] >> 6 if r.pos < r.end else 0
        if tag == 1:
            bits = int.from_bytes(r.take(3), "big")
            speed, heading = bits >> 9 & 0xFFF, bits & 0x1FF
            lon = _S32.unpack(r.take(4))[0]
            lat = _S32.unpack(r.take(4))[0]
            if t == 0:
                t = _U32.unpack(r.take(4))[0]
        elif tag == 2:
            bits = int.from_bytes(r.take(5), "big")
            speed += _signed(bits >> 30 & 0x7F, 7)
            heading += _signed(bits >> 23 & 0x7F, 7)
            lon += _signed(bits >> 11 & 0xFFF, 12)
            lat += _signed(bits & 0x7FF, 11)
        else:
            r.take(1)
            continue
        rec = Fields()
        rec.f.update(fix_time=float(t), valid=True, speed_kmh=speed / 10.0, course_deg=float(heading),
                     lat=round(lat / 1e6, 6), lon=round(lon / 1e6, 6))
        out.append(rec)
    return out


def decode_hex(raw: bytes) -> Outcome:
    """One checked HEX frame (CRC and tail already verified by the framer)."""
    header = raw[:4]
    if header in (b"+RSP", b"+BSP", b"+EVT", b"+BVT"):
        return _report(raw)
    if header == b"+ACK":
        imei, name = unique_id(raw[12:20])
        serial = _U16.unpack_from(raw, 21)[0]
        text = f"+ACK type {raw[4]} serial {serial:04X}"
        rec = Fields()  # kept as a record, as the ASCII +ACK is
        rec.a.update(result=text, serial=f"{serial:04X}")
        if name:
            rec.a["device_name"] = name
        return Outcome("command_ack", imei, (rec,), None, text, f"{serial:04X}")
    if header == b"+HBD":
        imei = unique_id(raw[11:19])[0] if len(raw) >= 32 else None
        return Outcome("heartbeat", imei, (), None)
    if header in (b"+INF", b"+BNF"):
        rec = Fields()
        imei, name = unique_id(raw[9:17])
        if name:
            rec.a["device_name"] = name
        rec.a.update(report="INF", info_type=raw[4], firmware=f"{_U16.unpack_from(raw, 20)[0]:04X}",
                     send_time=_time7_text(raw, len(raw) - 13),
                     count=f"{_U16.unpack_from(raw, len(raw) - 6)[0]:04X}")
        if header == b"+BNF":
            rec.a["buffered"] = True
        return Outcome("info", imei, (rec,), None)
    if header == b"+LGN" and len(raw) >= 34:
        return Outcome("login", unique_id(raw[15:23])[0], (), None)
    kind = header[1:].decode("latin-1")  # a HEX message no layout here knows: kept raw
    return Outcome(kind.lower(), None, (Fields().keep_raw(kind, raw),), None)


# --- Protocol Pro ----------------------------------------------------------------------------


def _varint(raw: bytes, i: int) -> tuple[int, int]:
    """Protocol Pro's 1-or-2-byte number: high bit set means a second byte follows."""
    b = raw[i]
    if b & 0x80:
        return (b & 0x7F) << 8 | raw[i + 1], 2
    return b, 1


def _pro_location(rec: Fields, data: bytes) -> None:
    """Data id 0x52: fix byte, lon, lat, UTC, speed, HDOP, azimuth, altitude (int24 dm), satellites."""
    f = rec.f
    state = data[0]
    lon = _S32.unpack_from(data, 1)[0] / 1e6
    lat = _S32.unpack_from(data, 5)[0] / 1e6
    f["fix_time"] = float(_U32.unpack_from(data, 9)[0])
    f["speed_kmh"] = _U16.unpack_from(data, 13)[0] / 10.0
    hdop = data[15]
    f["course_deg"] = float(_U16.unpack_from(data, 16)[0])
    f["altitude_m"] = _signed(int.from_bytes(data[18:21], "big"), 24) / 10.0
    f["satellites"] = data[21]
    fixed = (state >> 2 & 0x03) == 0b10
    f["lat"], f["lon"] = round(lat, 6), round(lon, 6)  # out of range: judged by the pipeline
    f["valid"] = fixed
    if hdop not in (0, 0xFF):
        f["hdop"] = hdop / 10.0
    rec.a["fix_state"] = state


def decode_pro(raw: bytes, sack: bool) -> Outcome:
    """One checked Protocol Pro frame (length, CRC-8 and ``$`` already verified by the framer)."""
    count = f"{_U16.unpack_from(raw, len(raw) - 4)[0]:04X}"
    ack = f"+SACK:{count}$".encode() if sack else None
    if raw[1] == 0x10:
        return Outcome("heartbeat", raw[3:11].hex()[1:], (), ack)
    i = 5 + (2 if raw[4] & 0x80 else 0)
    imei = raw[i : i + 8].hex()[1:]
    device_type = f"{_U16.unpack_from(raw, i + 8)[0]:04X}"
    i += 13
    i += 1 + raw[i]
    end = len(raw) - 4
    records = []
    while i < end:
        length, _ = _varint(raw, i)
        rec_end = i + length
        if length < 9 or rec_end > end:
            raise ProtocolError("Protocol Pro record does not fit its frame", close=False, excerpt=raw)
        n = _varint(raw, i)[1]
        generated, number = _U32.unpack_from(raw, i + n)[0], _U16.unpack_from(raw, i + n + 4)[0]
        rec = Fields()
        rec.a.update(report="PRO", device_type=device_type, generated_time=float(generated),
                     record_id=raw[i + n + 6], event_code=raw[i + n + 7], record_count=f"{number:04X}")
        j = i + n + 8
        while j < rec_end:
            data_id, k = _varint(raw, j)
            size, m = _varint(raw, j + k)
            j += k + m
            data = raw[j : j + size]
            if j + size > rec_end:
                raise ProtocolError("Protocol Pro data item runs past its record", close=False, excerpt=raw)
            if data_id == 0x52 and size >= 22:
                _pro_location(rec, data)
            elif size:
                rec.a[f"data_{data_id:02x}"] = data.hex().upper()
            j += size
        records.append(rec)
        i = rec_end
    if records:
        records[-1].a["count"] = count
        if raw[0] == 0x2D:
            records[-1].a["buffered"] = True
    return Outcome("pro_report", imei, tuple(records), ack)
