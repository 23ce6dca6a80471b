"""Decoding one @Track ASCII sentence into records and the server's answer.

:mod:`protocols.gl200.sentence` splits the sentence and finds its position blocks;
:mod:`protocols.gl200.text_types` reads the message-type specific fields around them.
"""

from __future__ import annotations

from protocols.gl200 import text_types
from protocols.gl200.fields import EVENTS, Fields
from protocols.gl200.sentence import (
    NO_BLOCK_TYPES,
    NUMBERED_TYPES,
    Outcome,
    Sentence,
    empty_block,
    find_blocks,
    parse_block,
    split_sentence,
)


def decode_sentence(body: bytes, sack: bool) -> Outcome:
    """Records and the answer for one sentence (without its ``$``)."""
    s = split_sentence(body)
    if s.kind == "NACK":
        return Outcome("command_rejected", s.imei, (), None, ",".join(s.v))
    if s.kind == "ACK":
        if s.type == "HBD":
            ack = f"+SACK:GTHBD,{s.v[1]},{s.v[-1]}$".encode() if s.count == s.v[-1] else None
            return Outcome("heartbeat", s.imei, (), ack)
        rec = text_types.command_ack(s)
        _stamp(s, [rec])
        serial = rec.a.get("serial")
        reference = serial.upper() if isinstance(serial, str) else None
        return Outcome("command_ack", s.imei, (rec,), _sack(s, sack), ",".join(s.v), reference)
    blocks = [] if s.type in NO_BLOCK_TYPES or s.base == 2 and s.type == "INF" else find_blocks(s)
    if not blocks and s.type in NUMBERED_TYPES:
        blocks = empty_block(s)
    records: list[Fields] = []
    tail = None
    for a, fixed in blocks:
        rec, tail = parse_block(s, a, fixed)
        records.append(rec)
    last = records[-1] if records else Fields()
    first_block = blocks[0][0] - 4 if blocks else None
    text_types.read_message(s, last, first_block, tail)
    event = EVENTS.get(s.type)
    if event is not None and "event" not in last.f:
        last.f["event"] = event
    if not records:  # no block and nothing else read: the sentence is kept raw rather than dropped
        records.append(last if last.f or last.a else last.keep_raw(s.type, body.decode("latin-1")))
    _stamp(s, records)
    return Outcome(s.type.lower(), s.imei, tuple(records), _sack(s, sack))


def _sack(s: Sentence, sack: bool) -> bytes | None:
    """``+SACK:<count>$`` when answering is on and the sentence ends with a 4-hex count."""
    if sack and s.count is not None and s.count == s.v[-1]:
        return f"+SACK:{s.count}$".encode()
    return None


def _stamp(s: Sentence, records: list[Fields]) -> None:
    """What every record of the sentence carries: its type, and on the last one the trailer."""
    for rec in records:
        rec.a["report"] = s.type
    if not records:
        return
    a = records[-1].a
    if s.kind == "BUFF":
        a["buffered"] = True
    if s.version:
        a["protocol_version"] = s.version
    if s.send_time:
        a["send_time"] = s.send_time
    if s.count is not None:
        a["count"] = s.count
