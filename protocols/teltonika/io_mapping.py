"""What Teltonika IO ids mean: AVL records to normalised records and back.

The mapping follows the FMB AVL ID list for codecs 8/8E/16 and Traccar's GH3000 table for codec 7
(where e.g. IO 21 is VDOP, not the GSM signal). Every IO element also stays raw in ``attributes`` as
``"io<ID>"``, so nothing the device sent is lost when a mapping is wrong for some model.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

from protocols.record import Record
from protocols.teltonika.avl import CODEC_7, AvlRecord, FixedRecord

PROTOCOL = "teltonika"

EVENT_NAMES: dict[int, str] = {
    1: "din1",
    2: "din2",
    3: "din3",
    155: "geofence",
    156: "geofence",
    157: "geofence",
    158: "geofence",
    159: "geofence",
    175: "auto_geofence",
    236: "alarm",
    239: "ignition",
    240: "movement",
    242: "man_down",
    246: "towing",
    247: "crash",
    248: "immobilizer",
    249: "jamming",
    250: "trip",
    251: "idling",
    252: "power_unplugged",
    253: "green_driving",
    255: "overspeeding",
    318: "gnss_jamming",
}
"""Event IO id -> event name; ids not listed become ``"io<ID>"``, id 0 means no event."""

EVENT_IDS: dict[str, int] = {}
for _io_id, _name in EVENT_NAMES.items():
    EVENT_IDS.setdefault(_name, _io_id)

DATA_MODE_ROAMING: dict[int, bool | None] = {0: False, 1: False, 2: True, 3: True, 4: None, 5: None}
"""IO 80 data mode: home/roaming/unknown network, each while stopped or moving."""

class _IoKeys(dict[int, str]):
    """``"io<ID>"`` strings made once per id (at most 65536): the per-record path needs many."""

    def __missing__(self, io_id: int) -> str:
        key = self[io_id] = f"io{io_id}"
        return key


_IO_KEYS = _IoKeys()
io_key = _IO_KEYS.__getitem__
"""``io_key(66) == "io66"``."""


def parse_io_key(key: str) -> int | None:
    """The id of an ``"io<ID>"`` attribute name, or None for any other name."""
    if len(key) > 2 and key.startswith("io"):
        digits = key[2:]
        if digits.isascii() and digits.isdigit():
            io_id = int(digits)
            if io_id <= 0xFFFF:
                return io_id
    return None


def event_name(event_io: int | None) -> str | None:
    """The normalised event of an event IO id (None for 0: a periodic record)."""
    if not event_io:
        return None
    return EVENT_NAMES.get(event_io) or io_key(event_io)


def _int(value: int | str | None) -> int | None:
    return value if type(value) is int else None


KNOWN_IDS = (69, 80, 181, 182, 21, 66, 67, 16, 239, 240, 241)
"""IO ids that fill a record field or a named attribute, in the order :func:`_record` unpacks them:
GNSS status, data mode, PDOP, HDOP, GSM signal, external and battery voltage, odometer, ignition,
movement, operator."""

PLAN_CACHE_LIMIT = 4096
"""Distinct IO id sets remembered; past this the cache starts again (a peer sending random ids)."""


class _IoPlan:
    """What a record needs from one set of IO ids, worked out once per set (a device repeats it)."""

    __slots__ = ("keys", "known")

    def __init__(self, ids: tuple[int, ...]) -> None:
        self.keys = tuple(map(io_key, ids))
        """The ``"io<ID>"`` attribute names in wire order."""
        last = {io_id: at for at, io_id in enumerate(ids)}  # a repeated id: its last value, as a dict
        missing = len(ids)  # :meth:`known` reads from the values with one None appended
        getter = itemgetter(*(last.get(io_id, missing) for io_id in KNOWN_IDS))
        self.known: Callable[[tuple[Any, ...]], tuple[Any, ...]] = getter
        """``known(values + (None,))``: the values of :data:`KNOWN_IDS`, None where absent."""


_PLANS: dict[tuple[int, ...], _IoPlan] = {}


def _plan(ids: tuple[int, ...]) -> _IoPlan:
    plan = _PLANS.get(ids)
    if plan is None:
        if len(_PLANS) >= PLAN_CACHE_LIMIT:
            _PLANS.clear()
        plan = _PLANS[ids] = _IoPlan(ids)
    return plan


def avl_to_record(avl: AvlRecord, imei: str | None, codec: int) -> Record:
    """The normalised record of one decoded AVL record."""
    if codec == CODEC_7:
        return _gh3000_to_record(avl, imei)
    io = avl.io
    get = io.get
    return _record(
        imei, avl.timestamp_ms, avl.priority, avl.lon, avl.lat, avl.altitude, avl.angle,
        avl.satellites, avl.speed, avl.event_io, avl.generation_type,
        tuple(map(io_key, io)), tuple(io.values()), tuple(_int(get(io_id)) for io_id in KNOWN_IDS),
    )


def fixed_to_record(fixed: FixedRecord, imei: str | None) -> Record:
    """The normalised record of one record read by :func:`~protocols.teltonika.avl.decode_fixed`.

    The same as :func:`avl_to_record` gives for the same bytes, with the per-id work (attribute
    names, which ids fill which field) taken from the id set's cached plan.
    """
    ts, priority, lon, lat, altitude, angle, satellites, speed, event_io, generation, ids, values = fixed
    plan = _PLANS.get(ids) or _plan(ids)
    return _record(
        imei, ts, priority, lon, lat, altitude, angle, satellites, speed, event_io, generation,
        plan.keys, values, plan.known(values + (None,)),
    )


def _record(
    imei: str | None,
    timestamp_ms: int,
    priority: int,
    lon: float | None,
    lat: float | None,
    altitude: int | None,
    angle: float | None,
    satellites: int | None,
    speed: int | None,
    event_io: int | None,
    generation_type: int | None,
    keys: tuple[str, ...],
    values: tuple[int | str, ...],
    known: tuple[int | None, ...],
) -> Record:
    """Codecs 8/8E/16: every IO element raw as ``"io<ID>"``, the :data:`KNOWN_IDS` mapped to fields."""
    gnss_status, data_mode, pdop, hdop, gsm, ext_mv, battery_mv, odometer, ignition, motion, operator = known
    attributes: dict[str, Any] = {"priority": priority, "event_io": event_io}
    if generation_type is not None:
        attributes["generation_type"] = generation_type
    attributes.update(zip(keys, values, strict=True))

    sats = satellites or 0
    if gnss_status is not None:
        attributes["gnss_status"] = gnss_status
    valid = sats > 0 and (gnss_status is None or gnss_status == 1)
    if lat == 0 and lon == 0 and sats == 0:
        lat = lon = None

    roaming = None
    if data_mode is not None:
        attributes["data_mode"] = data_mode
        roaming = DATA_MODE_ROAMING.get(data_mode)
    if pdop is not None:
        attributes["pdop"] = pdop / 10
    return Record(
        imei,
        PROTOCOL,
        timestamp_ms / 1000.0,
        valid,
        lat,
        lon,
        float(altitude) if altitude is not None else None,
        float(speed) if speed is not None else None,
        float(angle) if angle is not None else None,
        satellites,
        hdop / 10 if hdop is not None else None,
        bool(ignition) if ignition is not None else None,
        bool(motion) if motion is not None else None,
        ext_mv / 1000 if ext_mv is not None else None,
        battery_mv / 1000 if battery_mv is not None else None,
        gsm * 20 if gsm is not None and gsm <= 5 else None,
        operator or None,
        roaming,
        float(odometer) if odometer is not None else None,
        event_name(event_io),
        attributes,
    )


def _gh3000_to_record(avl: AvlRecord, imei: str | None) -> Record:
    """Codec 7: optional GPS element, GH3000 IO ids (20 HDOP, 21 VDOP, 22 PDOP, 244 roaming)."""
    io = avl.io
    attributes: dict[str, Any] = {"priority": avl.priority}
    attributes.update(zip(map(io_key, io), io.values(), strict=True))
    extra = avl.extra or {}
    operator = extra.get("operator")
    for name in ("lac", "cell_id", "gsm_signal"):
        if name in extra:
            attributes[name] = extra[name]
    get = io.get
    if (level := _int(get(1))) is not None:
        attributes["battery_level"] = level
    if (vdop := _int(get(21))) is not None:
        attributes["vdop"] = vdop / 10
    if (pdop := _int(get(22))) is not None:
        attributes["pdop"] = pdop / 10
    hdop = _int(get(20))
    battery_mv = _int(get(67))
    motion = _int(get(240))
    roaming = _int(get(244))
    if avl.lat is None:
        valid = None
    else:
        valid = avl.satellites > 0 if avl.satellites is not None else True
    return Record(
        imei=imei,
        protocol=PROTOCOL,
        fix_time=avl.timestamp_ms / 1000.0,
        valid=valid,
        lat=avl.lat,
        lon=avl.lon,
        altitude_m=float(avl.altitude) if avl.altitude is not None else None,
        speed_kmh=float(avl.speed) if avl.speed is not None else None,
        course_deg=avl.angle,
        satellites=avl.satellites,
        hdop=hdop / 10 if hdop is not None else None,
        motion=bool(motion) if motion is not None else None,
        battery_voltage_v=battery_mv / 1000 if battery_mv is not None else None,
        operator=operator or None,
        roaming=roaming == 1 if roaming is not None else None,
        attributes=attributes,
    )


def record_to_avl(record: Record) -> AvlRecord:
    """The AVL record a device would send for ``record`` (codec 8/8E/16 ids).

    Raw ``"io<ID>"`` attributes are sent as they are; the normalised fields, when known, override the
    raw element they map to, so ``decode(encode(r))`` gives back ``r``'s normalised values. A valid
    fix needs at least one satellite; an invalid one with satellites is sent with GNSS status 2.
    """
    if record.fix_time is None:
        raise ValueError("a Teltonika AVL record needs a fix_time")
    attrs = record.attributes or {}
    io: dict[int, int | str] = {}
    for key, value in attrs.items():
        io_id = parse_io_key(key)
        if io_id is not None and isinstance(value, (int, str)):
            io[io_id] = int(value) if isinstance(value, bool) else value
    for name, io_id in (("gnss_status", 69), ("data_mode", 80)):
        value = attrs.get(name)
        if type(value) is int:
            io[io_id] = value
    pdop = attrs.get("pdop")
    if isinstance(pdop, (int, float)) and not isinstance(pdop, bool):
        io[181] = round(pdop * 10)

    if record.ignition is not None:
        io[239] = int(record.ignition)
    if record.motion is not None:
        io[240] = int(record.motion)
    if record.gsm_signal_pct is not None:
        io[21] = max(0, min(5, round(record.gsm_signal_pct / 20)))
    if record.ext_voltage_v is not None:
        io[66] = max(0, round(record.ext_voltage_v * 1000))
    if record.battery_voltage_v is not None:
        io[67] = max(0, round(record.battery_voltage_v * 1000))
    if record.odometer_m is not None:
        io[16] = max(0, round(record.odometer_m))
    if record.hdop is not None:
        io[182] = max(0, round(record.hdop * 10))
    if record.operator is not None:
        io[241] = record.operator
    if record.roaming is not None:
        mode = _int(io.get(80))
        if mode is None or DATA_MODE_ROAMING.get(mode) is not record.roaming:
            io[80] = (2 if record.roaming else 0) + (1 if record.motion else 0)

    satellites = record.satellites or 0
    gnss_status = _int(io.get(69))
    if record.valid is False and satellites > 0 and gnss_status in (None, 1):
        io[69] = 2  # GNSS on, no fix
    elif record.valid and gnss_status is not None and gnss_status != 1:
        io[69] = 1

    event_io = attrs.get("event_io")
    if type(event_io) is not int:
        event_io = 0
        if record.event:
            event_io = EVENT_IDS.get(record.event) or parse_io_key(record.event) or 0
    priority = attrs.get("priority")
    generation_type = attrs.get("generation_type")
    return AvlRecord(
        timestamp_ms=round(record.fix_time * 1000),
        priority=priority if type(priority) is int else 0,
        lon=record.lon,
        lat=record.lat,
        altitude=round(record.altitude_m) if record.altitude_m is not None else 0,
        angle=record.course_deg,
        satellites=satellites,
        speed=round(record.speed_kmh) if record.speed_kmh is not None else 0,
        event_io=event_io,
        generation_type=generation_type if type(generation_type) is int else None,
        io=io,
    )
