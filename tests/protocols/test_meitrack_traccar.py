"""Meitrack against the payloads of Traccar's ``MeitrackProtocolDecoderTest`` and frame decoder test.

Each payload is fed to a fresh session, then drained with ``feed(b"")``. Traccar's text payloads
mostly lack the ``\\r\\n`` every Meitrack frame ends with (its decoder test skips the frame
decoder). Where their checksum verifies, the session ends the frame on it; four payloads also
carry a wrong checksum and wait for the terminator. Two rates are measured: the payloads as
captured, and with the terminator restored (what a device sends).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocols.core import Buffer, Login
from protocols.meitrack import ServerSession
from protocols.meitrack.framing import Frame, Framer
from protocols.record import Record
from tests.protocols import traccar_vectors as traccar

MAPPING: dict[str, Callable[[Record], Any]] = {
    # Traccar prefixes the media file with its date folder; the codec keeps the device's name
    "image": lambda r: f"{r.attributes['image'][:4]}-{r.attributes['image'][4:6]}-{r.attributes['image'][6:8]}/"
    + r.attributes["image"],
    "tagTemp": lambda r: r.attributes.get("tag_temp_c"),
    "tagName": lambda r: r.attributes.get("tag_name"),
    "hours": lambda r: r.attributes.get("engine_hours_s", 0) * 1000,
    "battery2Level": lambda r: r.attributes.get("battery2_pct"),
    "batteryLevel": lambda r: r.attributes.get("battery_pct"),
    "lock": lambda r: r.attributes.get("lock"),
    "result": lambda r: r.attributes.get("result"),
    "power": lambda r: r.ext_voltage_v,
    "input": lambda r: r.attributes.get("input"),
}

entries = traccar.vectors("meitrack", count=52)


def decode(entry: traccar.Entry) -> traccar.Fed:
    """The payload as captured."""
    return traccar.feed(ServerSession(), traccar.payload(entry))


def decode_terminated(entry: traccar.Entry) -> traccar.Fed:
    """The payload with the ``\\r\\n`` a device ends every frame with."""
    data = traccar.payload(entry)
    return traccar.feed(ServerSession(), data if data.endswith(b"\r\n") else data + b"\r\n")


def test_position_rate(entries: list[traccar.Entry]) -> None:
    captured = traccar.measure_positions("meitrack", entries, decode, missing="waiting for the terminator",
                                         also=traccar.all_in_range)
    captured.require(0.90, checked=1)  # line 121 waits for its terminator as captured
    restored = traccar.measure_positions("meitrack (CRLF restored)", entries, decode_terminated, what="",
                                         also=traccar.all_in_range)
    restored.require(1.0, checked=2)


def test_attributes(entries: list[traccar.Entry]) -> None:
    traccar.compare_attributes("meitrack", entries, decode_terminated, MAPPING,
                               match=traccar.approximately).require(10)


def test_no_records_where_traccar_has_none(entries: list[traccar.Entry]) -> None:
    assert len(traccar.no_positions(entries, decode)) == 3


def test_not_null(entries: list[traccar.Entry]) -> None:
    for entry in traccar.with_result(entries, "not_null"):
        assert decode(entry).decoded, entry["line"]


def test_answers(entries: list[traccar.Entry]) -> None:
    """CCC packets and clock requests are answered as Traccar answers them; AAA and CCE are not."""
    lines = traccar.by_line(entries)
    sent = {}
    for line in (173, 177, 180, 18, 72):
        messages = decode(lines[line]).messages
        assert isinstance(messages[0], Login) and messages[0].accept is None, line
        sent[line] = traccar.answers(messages)
    assert sent == {
        173: [b"@@X27,369800014090021,CCC,1*E4\r\n"],
        177: [b"@@G28,369800013460674,CCC,18*1A\r\n"],
        180: [b"@@z27,861451040910625,AAC,1*0B\r\n"],
        18: [None],
        72: [None],
    }


def _first_frame(buf: Buffer) -> object:
    found = Framer(1 << 16).next(buf)
    return found.raw if isinstance(found, Frame) and found.checksum_ok else found


def test_frames(entries: list[traccar.Entry]) -> None:
    assert traccar.cut_frames(entries, _first_frame) == 1
