"""Watch against the payloads of Traccar's ``WatchProtocolDecoderTest`` and ``WatchFrameDecoderTest``.

Each payload is fed to a fresh session, then drained with ``feed(b"")``. The one decoder payload
built by concatenation (voice ``TK`` with reserved bytes) is the frame after Traccar's frame
decoder has unescaped it; it is fed escaped, as a watch sends it. Many payloads carry a wrong
length field (hand-edited captures); the framing's text fallback copes with them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocols.core import Buffer, Login
from protocols.record import Record
from protocols.watch import ServerSession, frame
from protocols.watch.framing import Frame, Framer, Header, parse_header
from tests.protocols import traccar_vectors as traccar

MAPPING: dict[str, Callable[[Record], Any]] = {
    "alarm": lambda r: r.event,
    "bloodOxygen": lambda r: r.attributes.get("blood_oxygen_pct"),
    "temp1": lambda r: r.attributes.get("temperature_c"),
    # Traccar stores the voice file through its media manager; the codec keeps its size
    "audio": lambda r: "mock.amr" if r.attributes.get("audio_bytes", 0) > 1 else None,
}

entries = traccar.vectors("watch", count=57)


def payload(entry: traccar.Entry) -> bytes:
    """Hex, text, or the concatenated (unescaped) voice frame, escaped again for the decoder."""
    if entry["payload_kind"] in ("hex", "concat"):
        data = bytes.fromhex(entry["payload"])
    else:
        data = str(entry["payload"]).encode("latin-1")
    if entry["payload_kind"] == "concat" and entry["method"] != "verifyFrame":
        header = parse_header(data)
        assert isinstance(header, Header)
        data = frame(header.ident, data[header.start : -1], header.maker, header.index)
    return data


def decode(entry: traccar.Entry) -> traccar.Fed:
    return traccar.feed(ServerSession(), payload(entry))


def test_position_rate(entries: list[traccar.Entry]) -> None:
    traccar.measure_positions("watch", entries, decode).require(0.90, checked=2)


def test_attributes(entries: list[traccar.Entry]) -> None:
    traccar.compare_attributes("watch", entries, decode, MAPPING, described=traccar.has_attributes).require(12)


def test_no_records_where_traccar_has_none(entries: list[traccar.Entry]) -> None:
    assert len(traccar.no_positions(entries, decode)) == 4


def test_answers(entries: list[traccar.Entry]) -> None:
    """Link frames and alarms are answered in the frame's maker (and index); positions are not."""
    lines = traccar.by_line(entries)
    sent = {}
    for line in (134, 137, 128, 31, 41, 58):
        messages = decode(lines[line]).messages
        assert isinstance(messages[0], Login), line
        sent[line] = traccar.answers(messages)
    assert sent == {
        134: [b"[SG*8800000015*0002*LK]"],
        137: [b"[3G*4700186508*0002*LK]"],
        128: [b"[3G*8800000015*0003*TKQ]"],
        31: [b"[SG*9059011020*0002*AL]"],
        41: [b"[ZJ*689466020014198*0003*0002*AL]"],
        58: [None],
    }


def _first_frame(buf: Buffer) -> object:
    found = Framer(1 << 16).next(buf)
    return found.unescaped if isinstance(found, Frame) else found


def test_frames(entries: list[traccar.Entry]) -> None:
    """The frame decoder test: the first frame cut from the bytes, unescaped as Traccar gives it."""
    framed = traccar.cut_frames(entries, _first_frame, payload)
    print(f"watch frames: {framed} exactly as Traccar")
    assert framed == 7
