"""Helpers shared by the JT808 item decoders: where voltages, signal, cells and Wi-Fi go in the
record, and small factories for items that only set one value."""

from __future__ import annotations

from collections.abc import Callable

from protocols.jt808.fields import Fields, ascii_text, csq_percent
from protocols.jt808.reader import Reader
from protocols.record import operator_code

ItemDecoder = Callable[[Fields, Reader, int, "str | None"], None]
"""(record, cursor over the item's value, item id, device model)."""


def power(rec: Fields, volts: float) -> None:
    """External (vehicle) supply voltage: what power-cut diagnostics watch."""
    rec.f["ext_voltage_v"] = volts


def battery(rec: Fields, volts: float) -> None:
    """The tracker's own backup battery voltage."""
    rec.f["battery_voltage_v"] = volts


def signal(rec: Fields, csq: int) -> None:
    """GSM signal: raw CSQ kept, 0-100 % in the record."""
    rec.a["rssi"] = csq
    rec.f["gsm_signal_pct"] = csq_percent(csq)


def add_cell(rec: Fields, mcc: int, mnc: int, lac: int, cid: int, rssi: int | None = None) -> None:
    """Collect a serving/neighbour cell; the first one also gives the record's operator."""
    cells = rec.a.setdefault("cell_towers", [])
    cells.append([mcc, mnc, lac, cid] + ([rssi] if rssi is not None else []))
    if len(cells) == 1 and mcc:
        rec.f["operator"] = operator_code(mcc, mnc)


def add_wifi(rec: Fields, mac: str, rssi: int) -> None:
    """Collect a Wi-Fi access point as ``[mac, rssi]``."""
    rec.a.setdefault("wifi", []).append([mac, rssi])


def mac(data: bytes) -> str:
    """Six bytes as ``aa:bb:cc:dd:ee:ff``."""
    return ":".join(f"{b:02x}" for b in data)


def decode_obd_rt(rec: Fields, text: str) -> None:
    """``$OBD-RT,power,rpm,speed,throttle,load,coolant,instant,average,trip,odometer,tripFuel,fuel``."""
    names = (
        "ext_voltage_v", "rpm", "obd_speed_kmh", "throttle_pct", "engine_load_pct", "coolant_temp_c",
        "fuel_consumption", "fuel_consumption", "trip_odometer", "obd_odometer", "trip_fuel_used",
        "fuel_used",
    )
    values = text.strip().split(",")[1:]
    for name, value in zip(names, values, strict=False):  # a device sends as many values as its firmware knows
        if not value:
            continue
        number = float(value)
        if name == "ext_voltage_v":
            power(rec, number)
        elif name == "coolant_temp_c":
            rec.a[name] = int(number)
        else:
            rec.a[name] = number


def custom_double(r: Reader) -> float:
    """A signed whole byte and a 1/255 fraction byte (BLE sensor tags)."""
    whole = r.s8()
    frac = r.u8()
    sign = -1 if whole < 0 else 1
    return sign * (abs(whole) + frac / 255.0)


def set_attr(name: str, read: Callable[[Reader], object]) -> ItemDecoder:
    """An item that only sets attribute ``name``."""

    def decode(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
        rec.a[name] = read(r)

    return decode


def set_field(name: str, read: Callable[[Reader], object]) -> ItemDecoder:
    """An item that only sets record field ``name``."""

    def decode(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
        rec.f[name] = read(r)

    return decode


def alarm_if(bit_test: Callable[[int], bool], name: str) -> ItemDecoder:
    """A 32-bit item that raises alarm ``name`` when ``bit_test`` holds."""

    def decode(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
        if bit_test(r.u32()):
            rec.alarm(name)

    return decode


def text_attr(name: str) -> ItemDecoder:
    """A text item, padding trimmed, as attribute ``name``."""

    def decode(rec: Fields, r: Reader, _id: int, _model: str | None) -> None:
        if r.left:
            rec.a[name] = ascii_text(r.rest())

    return decode


def raw_value(data: bytes) -> int | str:
    """An undecoded item: an integer when it is 1, 2 or 4 bytes, else its hex."""
    if len(data) in (1, 2, 4):
        return int.from_bytes(data, "big")
    return data.hex()
