"""@Track ASCII sentences: header, identity, position blocks and the fields around them.

A sentence is ``+RESP:GTxxx,<version>,<IMEI>,<device name>,...,<send time>,<count>`` (the GT300
dialect puts the IMEI first and has no version). Its layout depends on the message type, the model
and the firmware, so it is read from both ends, as Queclink's own notes advise:

* the position blocks are found by their shape, not their index: ``<accuracy>,<speed>,<course>,
  <altitude>,<lon>,<lat>,<UTC time>,<MCC>,<MNC>,<LAC>,<cell>`` with 6-decimal coordinates and a
  14-digit time (a block without a fix has those three empty and is found by its cell instead);
* the trailer (send time, count number) is read from the end;
* what lies before the first block (head) and after the last (tail) is read per message family in
  :mod:`protocols.gl200.text_types`.

GNSS accuracy 0 means the fix failed and the block repeats the last known position: such a record
keeps the coordinates with ``valid`` False. Message-level values (event, battery, odometer, device
status) go on the last record of a multi-position report, as the device means them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from protocols.core import ProtocolError
from protocols.gl200.fields import Fields, is_hex, model_of, set_cell, set_time14, to_float, to_hex, to_int

_HEADER = re.compile(r"\+(RESP|BUFF|ACK|NACK):(?:GT)?([0-9A-Za-z_]{2,12})\Z")
_IMEI = re.compile(r"\d{15}\Z|[0-9A-Fa-f]{14}\Z")
_VERSION = re.compile(r"[0-9A-Fa-f]{6}\Z|[0-9A-Fa-f]{10}\Z|\Z")
_COORD = re.compile(r"-?\d{1,3}\.\d{6}\Z")
_TIME = re.compile(r"\d{14}\Z")
_NUMERIC = re.compile(r"-?\d+(\.\d+)?\Z")
_MCC = re.compile(r"\d{3,4}\Z")
_MNC = re.compile(r"\d{1,4}\Z")
_CELL = re.compile(r"[0-9A-Fa-f]{1,8}\Z")
_MAC = re.compile(r"[0-9A-Fa-f]{12}\Z")

NO_BLOCK_TYPES = frozenset(("GSM", "LBS", "WIF", "INF", "VER", "PNA", "PFA", "DTT", "PDP"))
"""Messages that carry no position block (their cell lists would look like one)."""

NUMBERED_TYPES = frozenset(
    ("FRI", "ERI", "GEO", "RTL", "DOG", "SOS", "SPD", "TOW", "DIS", "IOB", "HBM", "IGL")
)
"""Messages of the generic layout: ``<name>,<reserved>,<report type>,<number>,<blocks>...``."""


class Outcome(NamedTuple):
    """What one frame decoded to: records for ``imei``, the answer, and a command answer's text and
    the serial number it echoes (``reference``)."""

    kind: str
    imei: str | None
    records: tuple[Fields, ...]
    ack: bytes | None
    text: str | None = None
    reference: str | None = None


@dataclass(slots=True)
class Sentence:
    """One split sentence and what its header and trailer say."""

    kind: str
    """RESP, BUFF, ACK or NACK."""
    type: str
    """Message type without ``GT``: FRI, ERI, IGN, HBD..."""
    v: list[str]
    version: str | None
    imei: str
    base: int
    """Index of the device-name field (3; 2 on the GT300 dialect)."""
    end: int
    """Index of the first trailer field (send time or count): head, blocks and tail lie before it."""
    count: str | None
    send_time: str | None
    model: str


def split_sentence(body: bytes) -> Sentence:
    """Header, identity and trailer of a sentence; ProtocolError if it is no Queclink sentence."""
    text = body.decode("latin-1").strip().rstrip("$")
    v = text.split(",")
    match = _HEADER.match(v[0])
    if match is None:
        raise ProtocolError("unknown text message header", close=False, excerpt=body)
    kind, mtype = match.group(1), match.group(2).upper()
    version: str | None = None
    if kind == "NACK":
        imei, base = (v[1] if len(v) > 1 else ""), 2
    elif len(v) > 2 and _IMEI.match(v[2]) and _VERSION.match(v[1]):
        version, imei, base = v[1], v[2], 3
    elif len(v) > 1 and _IMEI.match(v[1]):
        imei, base = v[1], 2  # GT300 dialect: no version, IMEI first
    else:
        raise ProtocolError(f"GT{mtype} message without a device identity", close=False, excerpt=body)
    if not _IMEI.match(imei):
        raise ProtocolError(f"GT{mtype} message without a device identity", close=False, excerpt=body)
    end = len(v)
    count = None
    if end > base and is_hex(v[end - 1], 4):
        count = v[end - 1]
        end -= 1
    elif end > base + 1 and is_hex(v[end - 2], 4) and is_hex(v[end - 1], 10):
        count = v[end - 2]  # GT300 dialect: count, then the full version last
        end -= 2
    send_time = None
    if end > base and _TIME.match(v[end - 1]):
        send_time = v[end - 1]
        end -= 1
    return Sentence(kind, mtype, v, version, imei.upper(), base, end, count, send_time, model_of(version))


def find_blocks(s: Sentence) -> list[tuple[int, bool]]:
    """Indices of the longitude field of every position block, and whether it has a fix."""
    v, end = s.v, s.end
    found: list[tuple[int, bool]] = []
    i = s.base + 4
    while i + 2 < end:
        if _COORD.match(v[i]) and _COORD.match(v[i + 1]) and (v[i + 2] == "" or _TIME.match(v[i + 2])):
            found.append((i, True))
            i += 7
            continue
        if (
            v[i] == v[i + 1] == v[i + 2] == ""
            and i + 6 < end
            and _MCC.match(v[i + 3]) and _MNC.match(v[i + 4])
            and _CELL.match(v[i + 5]) and _CELL.match(v[i + 6])
            and all(v[k] == "" or _NUMERIC.match(v[k]) for k in range(i - 4, i))
        ):
            found.append((i, False))
            i += 7
            continue
        i += 1
    return found


def empty_block(s: Sentence) -> list[tuple[int, bool]]:
    """A report whose single block is all empty (no fix, no cell), found by its ``<Number>``."""
    v = s.v
    n = s.base + 3 + (s.type == "ERI")
    if n + 8 >= s.end or v[n] != "1":
        return []
    numbers = all(v[k] == "" or _NUMERIC.match(v[k]) for k in range(n + 1, n + 5))
    if numbers and v[n + 5] == v[n + 6] == v[n + 7] == "":
        return [(n + 5, False)]
    return []


def parse_block(s: Sentence, a: int, fixed: bool) -> tuple[Fields, int]:
    """One position block around longitude index ``a``; returns it and the index after its cell."""
    v = s.v
    rec = Fields()
    f, attrs = rec.f, rec.a
    hdop = to_float(v[a - 4])
    if hdop is not None:
        if hdop > 0:
            f["hdop"] = hdop
        else:
            attrs["gnss_accuracy"] = 0
    if fixed:
        # out-of-range coordinates are kept: the pipeline's plausibility check moves them to raw_*
        f["lon"], f["lat"] = float(v[a]), float(v[a + 1])
        set_time14(rec, v[a + 2])
        f["valid"] = hdop is None or hdop > 0
        for key, text in (("speed_kmh", v[a - 3]), ("course_deg", v[a - 2]), ("altitude_m", v[a - 1])):
            value = to_float(text)
            if value is not None:
                f[key] = value
    else:
        f["valid"] = False
    i = a + 3
    if i + 1 < s.end and _MAC.match(v[i + 1]) and to_int(v[i]) is not None:
        i = _wifi(s, rec, i)
    if i + 3 < s.end:
        set_cell(rec, to_int(v[i]), to_int(v[i + 1]), to_hex(v[i + 2]), to_hex(v[i + 3]))
    return rec, i + 4


def _wifi(s: Sentence, rec: Fields, i: int) -> int:
    """``<count>,{<MAC>,<RSSI>,,,}*``: access points heard with the fix."""
    v = s.v
    count = to_int(v[i]) or 0
    points = []
    i += 1
    for _ in range(count):
        if i + 1 >= s.end or not _MAC.match(v[i]):
            break
        points.append({"mac": v[i].lower(), "rssi": to_int(v[i + 1])})
        i += 5
    rec.a["wifi"] = points
    return i
