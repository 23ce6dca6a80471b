"""Absurd and hostile device input, as bytes on the wire: what an attacker or a confused tracker sends.

Each :class:`Payload` names the device it speaks for, the transport, the bytes, and what must come of
it: ``invalid`` (stored, with these fields moved to ``raw_*`` attributes and ``valid = false``), or
``stored_or_error`` (a record or an ingest error; never nothing).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from protocols.gt06.device import encode_location, encode_login
from protocols.gt06.framing import build_frame
from protocols.h02.device import encode_v1
from protocols.record import Record
from protocols.teltonika.avl import encode_records
from protocols.teltonika.commands import tcp_frame
from protocols.teltonika.device import encode_imei, encode_udp
from protocols.teltonika.io_mapping import record_to_avl

NOW = time.time()


@dataclass(frozen=True)
class Payload:
    """One hostile input and what the service must make of it."""

    name: str
    protocol: str
    transport: str
    imei: str
    chunks: tuple[bytes, ...]
    """Sent one after the other on one connection (a login first, where the protocol has one)."""
    invalid: tuple[str, ...] = ()
    """Fields that must be stored as ``raw_<field>`` with ``valid = false``; empty: a record or an error."""


def fix(imei: str, protocol: str, **values: object) -> Record:
    base: dict[str, object] = dict(imei=imei, protocol=protocol, fix_time=NOW - 60, valid=True, lat=52.2297,
                                   lon=21.0122, speed_kmh=42.0, course_deg=90.0, satellites=9, ignition=True)
    base.update(values)
    return Record(**base)  # type: ignore[arg-type]


def teltonika_tcp(imei: str, record: Record, timestamp_ms: int | None = None) -> bytes:
    """An AVL packet (codec 8E); ``timestamp_ms`` overrides the time field with any 8-byte value."""
    avl = record_to_avl(record)
    if timestamp_ms is not None:
        avl = replace(avl, timestamp_ms=timestamp_ms)
    return tcp_frame(encode_records([avl], 0x8E))


def gt06_location(imei: str, record: Record, month: int | None = None) -> bytes:
    """A 0x22 location frame; ``month`` overrides the date's month byte (13: no such month)."""
    frame = encode_location(record, serial=2)
    if month is None:
        return frame
    content = bytearray(frame[4:-6])
    content[1] = month
    return build_frame(0x22, bytes(content), 2)


def h02(text: str) -> bytes:
    return text.encode()


def osmand(query: str) -> bytes:
    return f"GET /?{query} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()


def _imei(n: int) -> str:
    """A 15-digit IMEI with a valid check digit, distinct per payload."""
    body = f"35630704{n:06d}"
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return body + str((10 - total % 10) % 10)


def catalogue(poisoned: str) -> list[Payload]:
    """Every absurd value the attack run found stored as valid or dropped silently, and a few more."""
    payloads: list[Payload] = []
    n = iter(range(100, 1000))

    def teltonika(name: str, invalid: Sequence[str], imei: str | None = None, ms: int | None = None,
                  **values: object) -> None:
        imei = imei or _imei(next(n))
        frame = teltonika_tcp(imei, fix(imei, "teltonika", **values), ms)
        payloads.append(Payload(name, "teltonika", "tcp", imei, (encode_imei(imei), frame), tuple(invalid)))

    teltonika("teltonika timestamp 0xFFFFFFFFFFFFFFFF ms", ["fix_time"], imei=poisoned, ms=0xFFFFFFFFFFFFFFFF)
    teltonika("teltonika lat 200 lon 214", ["lat", "lon"], lat=200.0, lon=214.0)
    teltonika("teltonika lat -214.7", ["lat"], lat=-214.7)
    teltonika("teltonika year 1970", ["fix_time"], fix_time=1000.0)
    teltonika("teltonika year 2100", ["fix_time"], fix_time=4_102_444_800.0)
    teltonika("teltonika speed 65535", ["speed_kmh"], speed_kmh=65535.0)

    imei = _imei(next(n))
    datagram = encode_udp(imei, 1, 1, [fix(imei, "teltonika", lat=200.0)])
    payloads.append(Payload("teltonika udp lat 200", "teltonika", "udp", imei, (datagram,), ("lat",)))

    for name, invalid, values, month in (
        ("gt06 lat 999 lon 999", ("lat", "lon"), {"lat": 999.0, "lon": 999.0}, None),
        ("gt06 month 13", ("fix_time",), {}, 13),
    ):
        imei = _imei(next(n))
        payloads.append(Payload(name, "gt06", "tcp", imei,
                                (encode_login(imei, 1), gt06_location(imei, fix(imei, "gt06", **values), month)),
                                invalid))

    def h02_sentence(name: str, text: str, invalid: Sequence[str] = ()) -> None:
        imei = _imei(next(n))
        payloads.append(Payload(name, "h02", "tcp", imei, (h02(text.replace("IMEI", imei)),), tuple(invalid)))

    stamp = time.gmtime(NOW - 60)
    stamp_clock, stamp_date = time.strftime("%H%M%S", stamp), time.strftime("%d%m%y", stamp)
    h02_sentence("h02 9999.9999,N",
                 f"*HQ,IMEI,V1,{stamp_clock},A,9999.9999,N,02100.0000,E,000.00,000,{stamp_date},FFFFFBFF#", ("lat",))
    h02_sentence("h02 negative speed",
                 f"*HQ,IMEI,V1,{stamp_clock},A,5213.7820,N,02100.7320,E,-10.00,000,{stamp_date},FFFFFBFF#")
    h02_sentence("h02 V1 without fields", "*HQ,IMEI,V1#")
    h02_sentence("h02 NaN coordinates", f"*HQ,IMEI,V1,{stamp_clock},A,nan,N,inf,E,000.00,000,{stamp_date},FFFFFBFF#")
    imei = _imei(next(n))
    normal = encode_v1(imei, fix(imei, "h02"))
    payloads.append(Payload("h02 valid sentence (control)", "h02", "tcp", imei, (normal,)))

    def osmand_request(name: str, query: str, invalid: Sequence[str] = ()) -> None:
        imei = _imei(next(n))
        payloads.append(Payload(name, "osmand", "tcp", imei, (osmand(query.replace("IMEI", imei)),), tuple(invalid)))

    osmand_request("osmand timestamp=1e30", "id=IMEI&timestamp=1e30&lat=52.2&lon=21.0", ("fix_time",))
    osmand_request("osmand timestamp=-1", "id=IMEI&timestamp=-1&lat=52.2&lon=21.0", ("fix_time",))
    osmand_request("osmand lat=nan lon=inf", f"id=IMEI&timestamp={int(NOW) - 60}&lat=nan&lon=inf")
    osmand_request("osmand lat=1e308", f"id=IMEI&timestamp={int(NOW) - 60}&lat=1e308&lon=21", ("lat",))
    osmand_request("osmand speed=1e9", f"id=IMEI&timestamp={int(NOW) - 60}&lat=52.2&lon=21&speed=1e9")
    return payloads



def every_protocol(start: int = 900) -> list[Payload]:
    """A latitude of 91.5 through each protocol's own device encoder: no protocol may store it as a fix."""
    import importlib

    from protocols import registry

    payloads = []
    for offset, name in enumerate(sorted(registry.names())):
        module = importlib.import_module(f"protocols.{name}")
        codec_type = getattr(module, "DeviceCodec", None)
        if codec_type is None:
            continue
        imei = _imei(start + offset)
        codec = codec_type(imei)
        frame = codec.encode([fix(imei, name, lat=91.5, lon=21.0)])
        payloads.append(Payload(f"{name} lat 91.5", name, "tcp", imei, (codec.login(), frame), ("lat",)))
    return payloads
