"""H02 against the payloads of Traccar's ``H02ProtocolDecoderTest`` and ``H02FrameDecoderTest``.

Each payload is fed to a fresh session that has first seen a heartbeat of a known device
(Traccar's decoder tests run with a device already identified, which the id-less
``*HQ,,V1,...`` sentence relies on), then drained with ``feed(b"")``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocols.core import Buffer, Report
from protocols.h02 import ServerSession
from protocols.h02.framing import Frame, Framer
from protocols.record import Record
from tests.protocols import traccar_vectors as traccar

KNOWN_DEVICE = b"*HQ,1111111111,V0#"

MAPPING: dict[str, Callable[[Record], Any]] = {
    "batteryLevel": lambda r: r.attributes.get("battery_pct"),
    "status": lambda r: r.attributes.get("status"),
    "result": lambda r: r.attributes.get("result"),
}

entries = traccar.vectors("h02", count=99)


def decode(entry: traccar.Entry) -> traccar.Fed:
    """Heartbeat of a known device, the payload, a drain call; every error collected."""
    session = ServerSession()
    session.feed(KNOWN_DEVICE)
    return traccar.feed(session, traccar.payload(entry))


def test_position_rate(entries: list[traccar.Entry]) -> None:
    traccar.measure_positions("h02", entries, decode).require(0.90, checked=5)


def test_attributes(entries: list[traccar.Entry]) -> None:
    traccar.compare_attributes("h02", entries, decode, MAPPING, described=traccar.has_attributes).require(20)


def test_no_position_where_traccar_has_none(entries: list[traccar.Entry]) -> None:
    """Traccar returns null; here such a sentence is a ProtocolError, a record without a fix (a ``V1``
    with empty coordinates), or a vendor type kept raw, never a position and never nothing."""
    nulls = traccar.no_positions(entries, decode)
    for entry, fed in nulls:
        answered = any(isinstance(m, Report) and m.ack for m in fed.messages)
        assert traccar.every_record(fed.messages) or fed.errors or answered, entry["line"]
    assert len(nulls) == 7


def test_not_null_payloads_give_a_message(entries: list[traccar.Entry]) -> None:
    for entry in traccar.with_result(entries, "not_null"):
        fed = decode(entry)
        assert [m for m in fed.messages if isinstance(m, Report)] and not fed.errors, entry["line"]


def _first_frame(buf: Buffer) -> object:
    found = Framer(1 << 16).next(buf)
    return found.raw if isinstance(found, Frame) else found


def test_frames(entries: list[traccar.Entry]) -> None:
    """The frame decoder test (message length 0: detect it): the first frame cut from the bytes."""
    assert all(e["decoder_args"] == ["0"] for e in traccar.with_result(entries, "frame"))
    framed = traccar.cut_frames(entries, _first_frame)
    print(f"h02 frames: {framed} exactly as Traccar")
    assert framed == 10
