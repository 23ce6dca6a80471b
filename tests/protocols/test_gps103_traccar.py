"""GPS103 against the payloads of Traccar's ``Gps103ProtocolDecoderTest``.

Traccar's unit tests hand each sentence to the decoder without the frame decoder, so most lack
the ``;`` the frame decoder cuts on; the terminator is added here (a ``*``-terminated sentence
already has one). Each payload goes to a fresh session: the device is identified by the payload
itself, as it is on a real connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocols.core import Login, Report
from protocols.gps103 import ServerSession
from protocols.record import Record
from tests.conftest import report_rate
from tests.protocols import traccar_vectors as traccar

ALARMS = {"vibration": "vibration", "sos": "sos", "powerCut": "power_cut", "lowBattery": "low_battery"}

MAPPING: dict[str, Callable[[Record], Any]] = {
    "alarm": lambda r: r.event,
    "course": lambda r: r.course_deg,
    "temp1": lambda r: r.attributes.get("temperature_c"),
    "fuel1": lambda r: r.attributes.get("fuel1_pct"),
}

entries = traccar.vectors("gps103", count=81)


def payload(entry: traccar.Entry) -> bytes:
    data = str(entry["payload"]).encode("latin-1")
    return data if data.endswith((b";", b"*")) else data + b";"


def decode(entry: traccar.Entry) -> traccar.Fed:
    return traccar.feed(ServerSession(), payload(entry))


def test_position_rate(entries: list[traccar.Entry]) -> None:
    traccar.measure_positions("gps103", entries, decode, also=traccar.identified).require(0.90, checked=3)


def _described(rec: Record) -> bool:
    """A record that carries only an alarm (its event) is described too."""
    return bool(rec.attributes or rec.event)


def test_attributes(entries: list[traccar.Entry]) -> None:
    traccar.compare_attributes("gps103", entries, decode, MAPPING, want=traccar.alarms_as(ALARMS),
                               match=traccar.approximately, single=True, described=_described).require(16)


def test_null_and_not_null(entries: list[traccar.Entry]) -> None:
    for entry, fed in traccar.no_positions(entries, decode):
        assert all(isinstance(m, (Login, Report)) for m in fed.messages), entry["line"]
    not_null = sum(bool(decode(e).decoded) for e in traccar.with_result(entries, "not_null"))
    report_rate(f"gps103 not_null: {not_null}/5 decoded to a record")
    assert not_null == 5


def test_login_and_heartbeat_vectors(entries: list[traccar.Entry]) -> None:
    lines = traccar.by_line(entries)
    (login,) = decode(lines[157]).messages
    assert login == Login("359586015829802", accept=b"LOAD", reject=None)
    (heartbeat,) = decode(lines[161]).messages
    assert heartbeat == Login("359586015829802", accept=b"ON", reject=None)
    glued = decode(lines[120])  # "<imei>imei:<imei>,tracker,...": ON, then the report
    assert glued.messages[0] == Login("359769031878322", accept=b"ON", reject=None)
    assert len(glued.decoded) == 1
