"""TK103 against the payloads of Traccar's ``Tk103ProtocolDecoderTest`` and ``Tk103FrameDecoderTest``.

Decoder payloads are whole frames fed to a fresh session (the frame identifies the device, as
on a real connection). Frame payloads go to the frame scanner alone; two of them share one
buffer (Traccar's ``shared_buffer``): the second expects the frame after the first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocols.core import Login
from protocols.record import Record
from protocols.tk103 import ServerSession
from protocols.tk103.framing import FrameScanner
from tests.conftest import report_rate
from tests.protocols import traccar_vectors as traccar

MAPPING: dict[str, Callable[[Record], Any]] = {
    "alarm": lambda r: r.event,
    "vin": lambda r: r.attributes.get("vin"),
    "fuel": lambda r: r.attributes.get("fuel"),
    "batteryTemp2": lambda r: r.attributes.get("battery_temp2_c"),
}

entries = traccar.vectors("tk103", count=79)


def decode(entry: traccar.Entry) -> traccar.Fed:
    return traccar.feed(ServerSession(), traccar.payload(entry))


def decoder_entries(entries: list[traccar.Entry]) -> list[traccar.Entry]:
    """The decoder test's payloads (text); the frame decoder test's are hex."""
    return [e for e in entries if e["payload_kind"] == "text"]


def test_position_rate(entries: list[traccar.Entry]) -> None:
    rate = traccar.measure_positions("tk103", decoder_entries(entries), decode, also=traccar.identified)
    rate.require(0.90, checked=2)


def test_attributes(entries: list[traccar.Entry]) -> None:
    traccar.compare_attributes("tk103", decoder_entries(entries), decode, MAPPING, single=True,
                               described=traccar.has_attributes).require(12)


def test_null_and_not_null(entries: list[traccar.Entry]) -> None:
    traccar.no_positions(decoder_entries(entries), decode, errors=False)
    not_null = sum(bool(decode(e).decoded) for e in traccar.with_result(decoder_entries(entries), "not_null"))
    report_rate(f"tk103 not_null: {not_null}/8 decoded to a record")
    assert not_null == 8


def test_handshakes_are_answered(entries: list[traccar.Entry]) -> None:
    answers = {}
    for entry in decoder_entries(entries):
        messages = decode(entry).messages
        if messages and isinstance(messages[0], Login) and messages[0].accept:
            answers[entry["line"]] = messages[0].accept
    assert answers[59] == b"(027044702512AP01HSO)"
    assert answers[84] == b"(087073005534AP01HSO)"
    assert answers[99] == b"(088046338039AP05)"
    assert answers[24] == b"(027045009305AP05)"


def _scan_frame(scanner: FrameScanner) -> bytes | None:
    while True:
        scan = scanner.next()
        if scan is None or isinstance(scan, bytes):
            return scan  # junk runs (ProtocolError) are skipped as Traccar's decoder skips them


def test_frames(entries: list[traccar.Entry]) -> None:
    scanners: dict[str, FrameScanner] = {}
    framed = nulls = 0
    for entry in entries:
        if entry["payload_kind"] != "hex":
            continue
        shared = entry.get("shared_buffer")
        if shared and shared in scanners:
            scanner = scanners[shared]
        else:
            scanner = FrameScanner(traccar.buffered(traccar.payload(entry)), 1 << 16)
            if shared:
                scanners[shared] = scanner
        frame = _scan_frame(scanner)
        if entry["expect"]["result"] == "null":
            assert frame is None, entry["line"]
            nulls += 1
        else:
            assert frame == traccar.expected_frame(entry), entry["line"]
            framed += 1
    report_rate(f"tk103 frames: {framed}/5 exactly as Traccar, {nulls}/3 null as Traccar")
    assert (framed, nulls) == (5, 3)
