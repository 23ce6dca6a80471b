"""The fields around the position blocks of each @Track message type.

``read_message`` is called with the record the message-level values belong to (the last block's,
or a fresh one when the message has no block), the index where the first block starts and the
index just after the last block's cell. Layouts follow Queclink's protocol documents and, where
firmware differs, what Traccar's ``Gl200TextProtocolDecoder`` reads; anything not understood is
left out rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from protocols.gl200.fields import (
    HARSH,
    Fields,
    apply_device_status,
    apply_motion_state,
    csq_pct,
    is_hex,
    set_cell,
    to_float,
    to_hex,
    to_int,
)
from protocols.gl200.sentence import Sentence

_ODO = re.compile(r"\d{1,7}\.\d\Z")
_HOURS = re.compile(r"(\d{1,6}):(\d\d):(\d\d)\Z")
_VIN = re.compile(r"(?=.*[A-Z])(?=.*\d)[A-HJ-NPR-Z0-9]{17}\Z")
_STATUS_BYTES = frozenset(("11", "12", "16", "1A", "21", "22", "41", "42"))

Reader = Callable[[Sentence, Fields, "int | None", "int | None"], None]


def _is_status(text: str) -> bool:
    return is_hex(text, 6, 10) and text[-6:-4].upper() in _STATUS_BYTES


def _hours(rec: Fields, text: str) -> bool:
    match = _HOURS.match(text)
    if match is None:
        return False
    h, m, s = (int(g) for g in match.groups())
    rec.a["engine_hours_s"] = h * 3600 + m * 60 + s
    return True


def _odometer(rec: Fields, text: str) -> bool:
    if not _ODO.match(text):
        return False
    rec.f["odometer_m"] = round(float(text) * 1000.0, 1)
    return True


def _battery_pct(rec: Fields, text: str) -> bool:
    value = to_int(text)
    if value is None or not 0 <= value <= 100:
        return False
    rec.a["battery_pct"] = value
    return True


def _analog(rec: Fields, n: int, text: str) -> None:
    """``<Analog Input>``: millivolts, or ``F<n>`` for a fuel sensor on that input."""
    if text.startswith("F") and to_int(text[1:]) is not None:
        rec.a[f"fuel{n}"] = int(text[1:])
    elif (value := to_int(text)) is not None:
        rec.a[f"adc{n}_v"] = value / 1000.0


def _head(s: Sentence, rec: Fields) -> int:
    """Device name (and a VIN before it on OBD models); returns the index after the name."""
    v, i = s.v, s.base
    if i < s.end and _VIN.match(v[i]) and i + 1 < s.end:
        rec.a["vin"] = v[i]
        i += 1
    if i < s.end and v[i] and s.version is not None:  # the GT300 dialect has no name field
        rec.a["device_name"] = v[i]
    return i + 1


# --- the tail: what follows the last position block -----------------------------------------


def _append_mask(s: Sentence, rec: Fields, i: int) -> int:
    """``<Position Append Mask>`` (newer firmware): satellites, trigger type, jamming state."""
    v, mask = s.v, int(s.v[i], 16)
    j = i + 1
    values = {}
    for bit, key in ((0x01, "satellites"), (0x02, "gnss_trigger"), (0x10, "gnss_jamming")):
        if mask & bit:
            value = to_int(v[j]) if j < s.end else None
            if value is None or not 0 <= value <= 99:
                return i + 1  # not a mask after all: a reserved field
            values[key] = value
            j += 1
    if "satellites" in values:
        rec.f["satellites"] = values.pop("satellites")
    rec.a.update(values)
    return j


def read_tail(s: Sentence, rec: Fields, t0: int | None, eri_mask: int | None = None) -> None:
    """Mileage, hour meter, analog inputs, battery, device status, then peripheral blocks."""
    if t0 is None or t0 >= s.end:
        return
    v, end, model = s.v, s.end, s.model
    if model.startswith("GL5") and end - t0 >= 5:
        # <rssi>,<ber>,<battery mV>,<battery %>,<mode>,<motion>,<temperature>
        _battery_pct(rec, v[t0 + 3])
        if (rssi := to_int(v[t0])) is not None:
            rec.a["rssi"] = rssi
            rec.f["gsm_signal_pct"] = csq_pct(rssi)
        if t0 + 6 < end and (temp := to_float(v[t0 + 6])) is not None:
            rec.a["temperature_c"] = temp
        return
    if model == "GL320M":
        _battery_pct(rec, v[t0])
        if eri_mask is not None and eri_mask & 0x80 and t0 + 1 < end and to_int(v[t0 + 1]) is not None:
            rec.a["external_battery_pct"] = to_int(v[t0 + 1])
        return
    i = t0
    if _odometer(rec, v[i]):
        i += 1
    elif is_hex(v[i], 2) and not model.startswith(("GL", "GT", "CV")):
        i = _append_mask(s, rec, i)
    else:
        i += 1
    last, odometer_at = i - 1, None
    for k in range(i, min(i + 3, end)):
        if "odometer_m" not in rec.f and _odometer(rec, v[k]):
            last = odometer_at = k
        elif _hours(rec, v[k]):
            last = k
    if model == "GV200":
        if odometer_at is not None:  # <mileage>,<hour meter>: the hour meter slot even when empty
            last = max(last, odometer_at + 1)
        _gv200(s, rec, last + 1, eri_mask)
        return
    status = next((k for k in range(i, end) if _is_status(v[k])), None)
    if status is None:
        k = end - 1
        asset_tracker = model == "" or model.startswith(("GL", "GT"))
        if k > last and len(v[k]) <= 3 and "battery_pct" not in rec.a and asset_tracker:
            _battery_pct(rec, v[k])
        return
    apply_device_status(rec, v[status])
    adc_end = status
    if status - 1 > last and _battery_pct(rec, v[status - 1]):
        adc_end = status - 1
    for n, k in enumerate(range(last + 1, adc_end), 1):
        if v[k]:
            _analog(rec, n, v[k])
    after = status + 1
    if s.type == "ERI":
        _eri_blocks(s, rec, after + 1, eri_mask or 0)
    elif s.type == "FRI" and model.startswith("GV500") and after + 2 < end:
        if (rpm := to_int(v[after])) is not None:
            rec.a["rpm"] = rpm
        if (fuel := to_int(v[after + 2])) is not None:
            rec.a["fuel"] = fuel


def _gv200(s: Sentence, rec: Fields, i: int, eri_mask: int | None) -> None:
    """GV200: three analog inputs, then input and output bytes and the UART type, no status."""
    v = s.v
    for n in (1, 2, 3):
        if i < s.end and v[i]:
            _analog(rec, n, v[i])
        i += 1
    if i + 1 < s.end:
        if (inputs := to_hex(v[i])) is not None:
            rec.a["inputs"] = inputs
        if (outputs := to_hex(v[i + 1])) is not None:
            rec.a["outputs"] = outputs
    if s.type == "ERI":
        _eri_blocks(s, rec, i + 3, eri_mask or 0)


def _eri_blocks(s: Sentence, rec: Fields, i: int, mask: int) -> None:
    """The peripheral blocks a GTERI appends in mask-bit order (fuel, 1-wire, fuel sensors)."""
    v, end, a = s.v, s.end, rec.a
    gv350m = s.model == "GV350M"
    try:
        if mask & 0x01 and not gv350m:
            if (fuel := to_hex(v[i])) is not None:
                a["fuel"] = fuel
            i += 1
        if mask & (1 << 29):
            data_mask = to_hex(v[i + 2]) or 0
            i += 3
            if data_mask & 1:
                if (fuel := to_hex(v[i])) is not None:
                    a["fuel"] = fuel
                i += 1
            i += 1 if data_mask & 2 else 0
        if mask & 0x02:
            count = to_int(v[i]) or 0
            i += 1
            for n in range(1, count + 1):
                kind, data = v[i + 1], v[i + 2]
                i += 3
                if kind == "1" and (raw := to_hex(data)) is not None:
                    a[f"temp{n}_c"] = (raw - 0x10000 if raw & 0x8000 else raw) * 0.0625
        if mask & 0x04:
            return
        if (mask & 0x18 or (mask & 0x01 and gv350m)) and i < end:
            count = to_int(v[i]) or 0
            i += 1
            for _ in range(min(count, end - i)):  # each block takes a field: a huge count is cut short
                i += 2 if gv350m else 1
                if gv350m and mask & 0x01:
                    if (fuel := to_hex(v[i])) is not None:
                        a["fuel"] = fuel
                    i += 1
                if mask & 0x08:
                    if (level := to_float(v[i])) is not None:
                        a["fuel"] = level
                    i += 1
                i += (1 if mask & 0x10 else 0) + (1 if mask & 0x400 else 0)
    except IndexError:
        return
    if i < end and any(v[i:end]):
        a["eri_data"] = ",".join(v[i:end])


# --- readers per message type ----------------------------------------------------------------


def _report_type(s: Sentence, rec: Fields, first: int | None) -> int | None:
    """``<Report ID/Type>`` of the generic layout (name, reserved, report type, number)."""
    k = s.base + 2
    if first is not None and k >= first:
        return None
    return to_hex(s.v[k]) if k < s.end and is_hex(s.v[k], 1, 2) else None


def _generic(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """FRI, ERI and the shared location layout (SOS, SPD, GEO, RTL, DIS, IGL, HBM, ...)."""
    v = s.v
    i = _head(s, rec)
    eri_mask = None
    if s.type == "ERI" and i < s.end and is_hex(v[i]):
        eri_mask = int(v[i], 16)
        rec.a["eri_mask"] = v[i]
        i += 1
    if (first is None or i < first) and i < s.end:
        power = to_int(v[i])
        # vehicle units report 0 mV when unplugged; asset trackers put a reserved 0 here
        low = -1 if s.model.startswith(("GV", "GMT", "CV")) else 10
        if power is not None and low < power <= 40000:
            rec.f["ext_voltage_v"] = power / 1000.0
    rt = _report_type(s, rec, first) if eri_mask is None and "vin" not in rec.a else None
    if rt is not None:
        if s.type == "DIS":
            rec.a[f"in{rt >> 4}"] = rt & 0x0F == 1
        elif s.type in ("IGL", "VGL"):
            rec.f["ignition"] = rt & 0x0F == 0
        elif s.type == "HBM" and (rt & 0x0F) in HARSH:
            rec.f["event"] = HARSH[rt & 0x0F]
        elif s.type == "NMR":
            rec.f["motion"] = rt == 1
    if s.type in ("STR", "CTN") and s.model in ("GL500", "GL530") and s.base + 5 < s.end:
        _battery_pct(rec, v[s.base + 5])
    read_tail(s, rec, tail, eri_mask)


def _ignition(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """IGN/IGF/VGN/VGF: the duration of the previous state, the block, hour meter and mileage."""
    _head(s, rec)
    rec.f["ignition"] = "GN" in s.type
    if first is not None and first - 1 > s.base and (duration := to_int(s.v[first - 1])) is not None:
        rec.a["duration_s"] = duration
    read_tail(s, rec, tail)


def _state(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """STT: the new motion state."""
    _head(s, rec)
    if (state := to_hex(s.v[s.base + 1])) is not None and is_hex(s.v[s.base + 1], 2):
        apply_motion_state(rec, state)
    read_tail(s, rec, tail)


def _low_battery(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """BPL: backup battery voltage."""
    _head(s, rec)
    if (volts := to_float(s.v[s.base + 1])) is not None:
        rec.f["battery_voltage_v"] = volts
    read_tail(s, rec, tail)


def _switch(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """LSW/TSW: light sensor or tamper switch state, as input 1 or 2."""
    _head(s, rec)
    rec.a["in1" if s.type == "LSW" else "in2"] = s.v[s.base + 2] == "1"
    read_tail(s, rec, tail)


def _driver(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """IDA: RFID of the identified driver."""
    _head(s, rec)
    if s.v[s.base + 2]:
        rec.a["driver_id"] = s.v[s.base + 2]
    read_tail(s, rec, tail)


def _fatigue(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """DAR: driver assistance warning; type 1 is fatigue."""
    _head(s, rec)
    warning, degree = to_int(s.v[s.base + 1]), to_int(s.v[s.base + 2])
    if warning == 1:
        rec.f["event"] = "fatigue_driving"
        rec.a["fatigue_degree"] = degree
    elif warning is not None:
        rec.a["warning_type"] = warning
    read_tail(s, rec, tail)


def _data(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """DAT: transparent serial data (the position follows it)."""
    _head(s, rec)
    if s.base + 4 < s.end:
        rec.a["data"] = s.v[s.base + 4]
    read_tail(s, rec, tail)


def _hex_data(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """DTT: hex-encoded serial data; a fuel sensor's ``COMB`` line gives the fuel level."""
    _head(s, rec)
    raw = s.v[s.end - 1] if s.end - 1 > s.base else ""
    if not is_hex(raw) or len(raw) % 2:
        return
    text = bytes.fromhex(raw).decode("latin-1")
    parts = text.split(",")
    if "COMB" in text and len(parts) > 2 and (level := to_float(parts[2])) is not None:
        rec.a["fuel"] = level
    else:
        rec.a["data"] = text


def _accessory(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """BAA/BID: Bluetooth accessory alarm or beacon, with the optional fields its mask lists."""
    v = s.v
    _head(s, rec)
    k = s.base + (5 if s.type == "BAA" else 3)
    if first is None or k >= first or not is_hex(v[k], 4):
        return
    mask, i = int(v[k], 16), k + 1
    names = ("accessory_name", "accessory_mac", "accessory_status", "accessory_voltage_v",
             "accessory_temp_c", "accessory_humidity")
    bits = range(6) if s.type == "BAA" else (1, 3)
    for bit in bits:
        if mask >> bit & 1 and i < first:
            value = v[i]
            if bit == 3 and (mv := to_int(value)) is not None:
                rec.a[names[bit]] = mv / 1000.0
            elif bit in (2, 4, 5) and (n := to_int(value)) is not None:
                rec.a[names[bit]] = n
            elif bit in (0, 1):
                rec.a[names[bit]] = value
            i += 1
    read_tail(s, rec, tail)


def _plain(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """PNA/PFA and other messages whose meaning is their type."""
    _head(s, rec)
    read_tail(s, rec, tail)


def _version(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """VER: device type, firmware and hardware versions."""
    v, k = s.v, s.base
    _head(s, rec)
    for key, n in (("device_type", 1), ("firmware", 2), ("hardware", 3)):
        if k + n < s.end and v[k + n]:
            rec.a[key] = v[k + n]


def _info(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """INF: state, ICCID, signal, supply voltages, battery and charging."""
    from protocols.gl200.text_can import read_info

    read_info(s, rec)


def _can(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    from protocols.gl200.text_can import read_can

    read_can(s, rec)


def _cells(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """GSM: up to seven cells (MCC, MNC, LAC, cell, level, reserved), the serving cell last."""
    _cell_list(s, rec, s.base + 1, 6, s.end)


def _lbs(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """LBS: battery level, then seven (MCC, MNC, LAC, cell, level) groups each with a reserved field."""
    _head(s, rec)
    _battery_pct(rec, s.v[s.base + 3])
    _cell_list(s, rec, s.base + 9, 6, s.end)


def _cell_list(s: Sentence, rec: Fields, i: int, step: int, end: int) -> None:
    v, cells = s.v, []
    while i + 4 < end:
        mcc, mnc, lac, cid = to_int(v[i]), to_int(v[i + 1]), to_hex(v[i + 2]), to_hex(v[i + 3])
        if mcc is not None and mnc is not None and lac is not None and cid is not None:
            cells.append({"mcc": mcc, "mnc": mnc, "lac": lac, "cell_id": cid, "rx_level": to_int(v[i + 4])})
        i += step
    if cells:
        rec.a["cells"] = cells
        serving = cells[-1]
        set_cell(rec, serving["mcc"], serving["mnc"], serving["lac"], serving["cell_id"])


def _wifi_only(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """WIF: Wi-Fi access points instead of a fix, then the battery level."""
    v = s.v
    _head(s, rec)
    count, i, points = to_int(v[s.base + 1]) or 0, s.base + 2, []
    for _ in range(count):
        if i + 1 >= s.end or not is_hex(v[i], 12):
            break
        points.append({"mac": v[i].lower(), "rssi": to_int(v[i + 1])})
        i += 5
    if points:
        rec.a["wifi"] = points
    _battery_pct(rec, v[s.end - 1])


READERS: dict[str, Reader] = {
    "IGN": _ignition, "IGF": _ignition, "VGN": _ignition, "VGF": _ignition,
    "STT": _state, "BPL": _low_battery, "LSW": _switch, "TSW": _switch, "IDA": _driver,
    "DAR": _fatigue, "DAT": _data, "DTT": _hex_data, "BAA": _accessory, "BID": _accessory,
    "PNA": _plain, "PFA": _plain, "OBD": _plain, "VER": _version, "INF": _info, "CAN": _can, "GSM": _cells,
    "LBS": _lbs, "WIF": _wifi_only,
}


def read_message(s: Sentence, rec: Fields, first: int | None, tail: int | None) -> None:
    """Message-level values into ``rec`` (the last block's record, or a fresh one)."""
    if s.base == 2 and s.type == "INF":
        return  # GT300 dialect status message: another layout, not decoded
    try:
        READERS.get(s.type, _generic)(s, rec, first, tail)
    except (IndexError, ValueError):
        rec.a["unparsed"] = True


def command_ack(s: Sentence) -> Fields:
    """``+ACK:GTxxx``: which command the device confirms, its serial number and extra fields."""
    rec = Fields()
    rec.a["result"] = "GT" + s.type
    k = s.end - 1
    if k > s.base and is_hex(s.v[k], 4):
        rec.a["serial"] = s.v[k]
    else:
        k += 1
    if s.v[s.base]:
        rec.a["device_name"] = s.v[s.base]
    extra = s.v[s.base + 1 : k]
    if any(extra):
        rec.a["ack_data"] = ",".join(extra)
    return rec
