"""What the service must make of some bytes, worked out by the pure codec in-process.

The TCP adapter runs a codec session and then applies the connection rules (login first, one device
per connection, close on a fatal error). :func:`stream_outcome` does the same without a socket, so
codec tests can require that nothing is consumed without a trace (``silent``), and the hostile suite
can send the same bytes to the real server and compare its counters with what the codec says: every
record the codec decodes must reach the store, every error must be counted, nothing else.
:func:`damaged` makes the inputs: valid frames damaged as links and broken firmware damage them.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from protocols import registry
from protocols.core import Login, ProtocolError

PADDING = b"\r\n\t\x00 "
"""Bytes between frames that framers skip as line ends and padding: not input that was lost."""
KEEP_ALIVES = {"teltonika": b"\xff"}
"""Bytes a protocol sends only to keep the connection open: nothing to store, nothing to answer."""
MAX_ROUNDS = 256
"""The adapter's resynchronisation limit per received chunk (``telediag.ingest.tcp``)."""


@dataclass(frozen=True)
class Outcome:
    """Records handed to the store and frames counted as errors."""

    records: int = 0
    errors: int = 0
    answered: int = 0
    """Messages without records that carried an answer (a heartbeat echo, a time request)."""
    silent: int = 0
    """Messages with neither records nor an answer, or input that vanished without any outcome."""
    buffered: int = 0
    """Bytes kept as an incomplete frame when the input ended."""


def stream_outcome(protocol: str, chunks: tuple[bytes, ...], max_frame: int = 64 * 1024) -> Outcome:
    """The records and errors one connection that sends ``chunks`` must produce."""
    session = registry.get(protocol).new_session(max_frame=max_frame)
    imei: str | None = None
    records = errors = answered = silent = 0
    for data in chunks:
        for _ in range(MAX_ROUNDS):
            failed = False
            try:
                messages = session.feed(data)
            except ProtocolError as error:
                errors += 1
                if error.close:
                    return Outcome(records, errors)
                messages, failed = [], True
            data = b""
            for message in messages:
                if isinstance(message, Login):
                    if imei is not None and message.imei != imei:
                        return Outcome(records, errors + 1)  # a second device on one connection
                    imei = message.imei
                    continue
                if imei is None:
                    return Outcome(records, errors + 1)  # data before the device said who it is
                records += len(message.records)
                if not message.records:
                    if message.ack:
                        answered += 1
                    else:
                        silent += 1
            if not failed and not getattr(session, "pending", False):
                break
        else:
            return Outcome(records, errors + 1)  # too many malformed frames in one read
    buffered = getattr(session, "buffered", 0)
    sent = b"".join(chunks[1:] if len(chunks) > 1 else chunks)
    if (not (records or errors or answered or silent or buffered) and sent.strip(PADDING)
            and sent != KEEP_ALIVES.get(protocol)):
        silent += 1  # bytes consumed with no outcome at all
    return Outcome(records, errors, answered, silent, buffered)


def datagram_outcome(protocol: str, data: bytes) -> Outcome:
    """The records and errors one datagram must produce."""
    decode = registry.get(protocol).datagram_decoder
    assert decode is not None
    try:
        messages = decode(data)
    except ProtocolError:
        return Outcome(0, 1)
    return Outcome(sum(len(m.records) for m in messages if not isinstance(m, Login)
                       and any(r.imei for r in m.records)), 0)


@st.composite
def damaged(draw: st.DrawFn, frame: bytes) -> bytes:
    """A valid frame damaged as links and broken firmware damage them, or plain noise."""
    kind = draw(st.sampled_from(["noise", "flips", "truncated", "inserted", "doubled"]))
    if kind == "noise":
        return draw(st.binary(min_size=1, max_size=300))
    data = bytearray(frame)
    if kind == "flips":
        for _ in range(draw(st.integers(1, 6))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif kind == "truncated":
        data = data[: draw(st.integers(1, len(data)))] + draw(st.binary(max_size=40))
    elif kind == "inserted":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=40))
    else:
        data = data + draw(st.binary(max_size=20)) + bytes(frame)
    return bytes(data)
