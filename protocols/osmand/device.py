"""Device side of OsmAnd: the HTTP requests Traccar Client sends, and a parser for the answers.

One request per record, in one of three styles: ``query`` (``GET /?id=...&lat=...``, the classic
OsmAnd protocol), ``form`` (``POST`` with a form body) or ``json`` (``POST`` with the JSON body of
the current Traccar Client). Numbers are written with ``repr`` so they decode back exactly, except
speed, which the protocol carries in knots (query) or metres per second (JSON).

A record without a position goes as a cell-only request when it names its serving cell
(``mcc``/``mnc``/``lac``/``cell_id`` attributes); with neither, the server answers 400.

``acks`` counts packets (one ``encode`` call) whose every request was answered 200; a packet with
a request answered otherwise is dropped unacknowledged, as Traccar Client keeps such a record.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import orjson

from protocols.core import ProtocolError
from protocols.osmand.fields import KNOT_KMH, MPS_KMH, PROTOCOL, device_id
from protocols.record import Record, iso_utc

STYLES = ("query", "form", "json")
MAX_RESPONSE_HEAD = 16 * 1024


def _timestamp(seconds: float) -> str:
    """Whole seconds, or milliseconds when the time has a fraction or is past 2038 (the server
    reads a number below 2**31-1 as seconds, above as milliseconds)."""
    if seconds == int(seconds) and seconds < 2**31 - 1:
        return str(int(seconds))
    return str(int(round(seconds * 1000)))


def query_params(imei: str, record: Record) -> list[tuple[str, str]]:
    """The parameters of one record, in the order Traccar Client writes them."""
    params: list[tuple[str, str]] = [("id", imei)]
    if record.fix_time is not None:
        params.append(("timestamp", _timestamp(record.fix_time)))
    if record.lat is not None and record.lon is not None:
        params += [("lat", repr(record.lat)), ("lon", repr(record.lon))]
    a = record.attributes
    cells = a.get("cells")
    if not cells and all(isinstance(a.get(k), int) for k in ("mcc", "mnc", "lac", "cell_id")):
        cells = [{"mcc": a["mcc"], "mnc": a["mnc"], "lac": a["lac"], "cell_id": a["cell_id"]}]
    for cell in cells or ():
        values = [cell["mcc"], cell["mnc"], cell["lac"], cell["cell_id"]] + ([cell["rssi"]] if "rssi" in cell else [])
        params.append(("cell", ",".join(str(int(v)) for v in values)))
    for point in a.get("wifi") or ():
        params.append(("wifi", f"{point['mac'].replace(':', '-')},{int(point['rssi'])}"))
    if record.valid is False:
        params.append(("valid", "false"))
    optional: list[tuple[str, Any]] = [
        ("speed", None if record.speed_kmh is None else record.speed_kmh / KNOT_KMH),
        ("bearing", record.course_deg),
        ("altitude", record.altitude_m),
        ("accuracy", a.get("accuracy_m")),
        ("hdop", record.hdop),
        ("sat", record.satellites),
        ("batt", a.get("battery_pct")),
        ("charge", a.get("charging")),
        ("ignition", record.ignition),
        ("motion", record.motion),
        ("odometer", record.odometer_m),
        ("power", record.ext_voltage_v),
        ("battery", record.battery_voltage_v),
        ("alarm", record.event),
    ]
    for key, value in optional:
        if value is None:
            continue
        if isinstance(value, bool):
            params.append((key, "true" if value else "false"))
        elif isinstance(value, float):
            params.append((key, repr(value)))
        else:
            params.append((key, str(value)))
    return params


def json_body(imei: str, record: Record) -> bytes:
    """Traccar Client's JSON layout for one record (it needs a position)."""
    if record.lat is None or record.lon is None:
        raise ValueError("the JSON layout needs a position")
    coords: dict[str, Any] = {"latitude": record.lat, "longitude": record.lon}
    coords["speed"] = -1 if record.speed_kmh is None else record.speed_kmh / MPS_KMH
    coords["heading"] = -1 if record.course_deg is None else record.course_deg
    a = record.attributes
    if a.get("accuracy_m") is not None:
        coords["accuracy"] = a["accuracy_m"]
    if record.altitude_m is not None:
        coords["altitude"] = record.altitude_m
    location: dict[str, Any] = {"coords": coords}
    if record.fix_time is not None:
        location["timestamp"] = iso_utc(record.fix_time)
    if record.event is not None:
        location["event"] = record.event
    if record.motion is not None:
        location["is_moving"] = record.motion
    if record.odometer_m is not None:
        location["odometer"] = record.odometer_m
    if a.get("battery_pct") is not None or a.get("charging") is not None:
        pct = a.get("battery_pct")
        location["battery"] = {"level": -1 if pct is None else pct / 100, "is_charging": bool(a.get("charging"))}
    return orjson.dumps({"location": location, "device_id": imei})


def encode_request(imei: str, record: Record, style: str = "query", host: str = "localhost") -> bytes:
    """One HTTP/1.1 request carrying ``record``."""
    device_id(imei)
    head = f"Host: {host}\r\nUser-Agent: telediag-sim\r\n"
    if style == "query":
        return f"GET /?{urlencode(query_params(imei, record))} HTTP/1.1\r\n{head}\r\n".encode("ascii")
    if style == "form":
        body = urlencode(query_params(imei, record)).encode("ascii")
        content_type = "application/x-www-form-urlencoded"
    elif style == "json" and (record.lat is None or record.lon is None):
        return encode_request(imei, record, "query", host)  # the JSON layout has no cell-only form
    elif style == "json":
        body = json_body(imei, record)
        content_type = "application/json"
    else:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    return (
        f"POST / HTTP/1.1\r\n{head}Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("ascii") + body


class ResponseParser:
    """Status codes of the complete HTTP responses in a byte stream (bodies skipped)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[int]:
        self._buf += data
        statuses: list[int] = []
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_RESPONSE_HEAD:
                    raise ProtocolError("HTTP response head too long", close=True, excerpt=bytes(self._buf))
                return statuses
            lines = bytes(self._buf[:end]).split(b"\r\n")
            parts = lines[0].split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise ProtocolError("not an HTTP response", close=True, excerpt=bytes(self._buf))
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    if not value.strip().isdigit():
                        raise ProtocolError("bad Content-Length", close=True, excerpt=line)
                    length = int(value)
            if len(self._buf) < end + 4 + length:
                return statuses
            del self._buf[: end + 4 + length]
            status = int(parts[1])
            if status >= 200:  # 1xx are interim
                statuses.append(status)


class DeviceCodec:
    """Traccar Client's side of one connection (see ``protocols.device_codec``).

    ``imei`` is the device identifier the client is configured with (any printable text).
    """

    protocol = PROTOCOL
    acks_positions = True

    def __init__(self, imei: str, *, style: str = "query", host: str = "localhost") -> None:
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")
        self.imei = device_id(imei)
        self.style = style
        self.host = host
        self._responses = ResponseParser()
        self._packets: deque[list[int]] = deque()
        """Per packet sent: [requests still unanswered, requests answered other than 200]."""

    def login(self) -> bytes:
        return b""

    def encode(self, records: Sequence[Record]) -> bytes:
        requests = [encode_request(self.imei, r, self.style, self.host) for r in records]
        if requests:
            self._packets.append([len(requests), 0])
        return b"".join(requests)

    def acks(self, data: bytes) -> int:
        acknowledged = 0
        for status in self._responses.feed(data):
            if not self._packets:
                acknowledged += status == 200
                continue
            packet = self._packets[0]
            packet[0] -= 1
            if status != 200:
                packet[1] += 1
            if packet[0] == 0:
                self._packets.popleft()
                acknowledged += packet[1] == 0
        return acknowledged
