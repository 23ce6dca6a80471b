"""Traccar's decoder-test payloads (``traccar_vectors.jsonl``) as every codec's conformance test uses them.

A ``test_<protocol>_traccar.py`` keeps only what is its protocol's own: how a payload reaches a
session (a login first, a terminator Traccar's tests leave out, a checksum re-sealed), where the
record keeps each Traccar attribute, and the values worked out by hand. Loading the vectors,
feeding a payload, comparing a record with the expected time/lat/lon and attributes, and the rate a
test reports are here, so every protocol is held to the same rules and a failure names its vector
line the same way.

What "Traccar decodes no position from this payload" means here: Traccar returns null for a login,
a heartbeat, a command answer, and for layouts it does not decode. telediag answers the first ones,
and keeps what it cannot decode as a record without a fix (its type and raw content in
``message_type``/``raw_message``) instead of dropping it: so a null payload may give records, but
never one with a position, a fix time or a valid fix.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import pytest

from protocols.core import Buffer, CommandResponse, Login, Message, ProtocolError, Report
from protocols.record import Record, parse_iso_utc
from tests.conftest import report_rate, traccar_vectors

Entry = dict[str, Any]
"""One line of ``traccar_vectors.jsonl``: the payload, Traccar's test method and what it expects."""

POSITION = ("position", "positions")
"""The results of Traccar's ``verifyPosition`` and ``verifyPositions``."""

OF_TRACCAR_POSITIONS = " of the payloads Traccar decodes to positions"


def vectors(protocol: str, count: int | None = None, *, at_least: int = 1) -> Any:
    """The module fixture ``entries``: the protocol's vectors, ``count`` of them (or ``at_least``).

    It stands on ``vectors_dir``, so it skips when the vectors are absent, and under ``CI=true`` the
    run has already failed for it (``tests/conftest.py``). The count guards against a vectors file
    that lost or gained payloads, which would move every rate without any code changing.
    """

    @pytest.fixture(scope="module", name="entries")
    def entries(vectors_dir: Path) -> list[Entry]:
        found = list(traccar_vectors(vectors_dir, protocol))
        if count is not None:
            assert len(found) == count, f"expected the {count} {protocol} entries, found {len(found)}"
        else:
            assert len(found) >= at_least, f"expected at least {at_least} {protocol} entries, found {len(found)}"
        return found

    return entries


def with_result(entries: Iterable[Entry], *results: str) -> list[Entry]:
    """The entries whose expected result (``position``, ``null``, ``frame``...) is one of ``results``."""
    return [e for e in entries if e["expect"]["result"] in results]


def by_line(entries: Iterable[Entry]) -> dict[int, Entry]:
    """The entries by their line in Traccar's test source, for the tests that pick a few."""
    return {e["line"]: e for e in entries}


def payload(entry: Entry) -> bytes:
    """The payload's bytes: hex, or text one byte a character (Latin-1) as Traccar's tests build it."""
    if entry["payload_kind"] == "hex":
        return bytes.fromhex(entry["payload"])
    return str(entry["payload"]).encode("latin-1")


def model_override(entry: Entry) -> str | None:
    """The device model the Traccar test sets (``setModelOverride``), which some layouts depend on."""
    model: str | None = (entry["decoder_setup"] or {}).get("setModelOverride")
    return model


def expected_frame(entry: Entry) -> bytes:
    """The frame Traccar's frame decoder cuts from the payload."""
    return bytes.fromhex(entry["expect"]["frame"])


def buffered(data: bytes) -> Buffer:
    """A framing buffer holding ``data``."""
    buf = Buffer()
    buf.feed(data)
    return buf


class Session(Protocol):
    """A codec's server session: bytes in, messages out."""

    def feed(self, data: bytes) -> list[Message]: ...


class Fed(NamedTuple):
    """What a session made of one payload."""

    messages: list[Message]
    errors: list[ProtocolError]
    left: int = 0
    """Bytes the session still holds after the drain call (an unfinished frame)."""
    strict: bool = True
    """Fed as captured; False when the payload was re-sealed first (:func:`strict_or_resealed`)."""

    @property
    def decoded(self) -> list[Record]:
        """Decoded records; one kept raw (a layout not decoded) does not count as decoding the payload."""
        return [r for r in every_record(self.messages) if "raw_message" not in r.attributes]

    def why_not(self, missing: str | None = None) -> str:
        """Why the payload gave no record: its errors, else ``missing`` (by default: whether the
        session gave any message or is still waiting for the rest of a frame)."""
        return str([str(e) for e in self.errors] or missing or ("no record" if self.messages else "incomplete"))


def feed(session: Session, data: bytes) -> Fed:
    """``data``, then a drain call (``feed(b"")``), each ProtocolError collected instead of raised."""
    messages: list[Message] = []
    errors: list[ProtocolError] = []
    for chunk in (data, b""):
        try:
            messages.extend(session.feed(chunk))
        except ProtocolError as exc:
            errors.append(exc)
    return Fed(messages, errors, getattr(session, "buffered", 0))


def every_record(messages: Iterable[Message]) -> list[Record]:
    """The records of ``messages``, raw ones included."""
    return [r for m in messages if isinstance(m, (Report, CommandResponse)) for r in m.records]


def answers(messages: Iterable[Message]) -> list[bytes | None]:
    """What the server sends back for each report (None: nothing)."""
    return [m.ack for m in messages if isinstance(m, Report)]


def assert_no_position(messages: Iterable[Message], where: object) -> None:
    """No record of ``messages`` is a position; ``where`` names the payload in the failure."""
    for rec in every_record(messages):
        assert (rec.lat, rec.lon, rec.fix_time) == (None, None, None) and not rec.valid, (where, rec)


def no_positions(entries: Iterable[Entry], decode: Callable[[Entry], Fed], *,
                 errors: bool = True) -> list[tuple[Entry, Fed]]:
    """Every payload Traccar returns null for, decoded: none gives a position, nor (unless ``errors``)
    a ProtocolError. The payloads come back with what they gave, for the protocol's own checks."""
    found = []
    for entry in with_result(entries, "null"):
        fed = decode(entry)
        assert_no_position(fed.messages, entry["line"])
        assert errors or not fed.errors, (entry["line"], fed.errors)
        found.append((entry, fed))
    return found


def in_range(entry: Entry, rec: Record) -> list[str]:
    """A coordinate out of range, if the record has one."""
    if rec.lat is not None and not (-90 <= rec.lat <= 90 and rec.lon is not None and -180 <= rec.lon <= 180):
        return [f"line {entry['line']}: coordinates out of range {rec.lat}, {rec.lon}"]
    return []


def all_in_range(entry: Entry, fed: Fed) -> list[str]:
    """Coordinates out of range in any decoded record of the payload."""
    return [problem for rec in fed.decoded for problem in in_range(entry, rec)]


def check_position(entry: Entry, rec: Record, exp: Mapping[str, Any] | None = None) -> list[str]:
    """The record against the asserted time/lat/lon/valid (lat/lon to the vector's stated rounding,
    1e-5 degrees unless it says), and its coordinates in range. ``exp``: values other than the entry's."""
    exp = entry["expect"] if exp is None else exp
    line = entry["line"]
    problems = in_range(entry, rec)
    if "lat" in exp:
        tol = exp.get("tolerance_deg", 1e-5)
        if rec.lat is None or rec.lon is None or abs(rec.lat - exp["lat"]) > tol or abs(rec.lon - exp["lon"]) > tol:
            problems.append(f"line {line}: lat/lon {rec.lat}, {rec.lon} != {exp['lat']}, {exp['lon']}")
    if "time" in exp and rec.fix_time != parse_iso_utc(str(exp["time"]).replace(" ", "T")):
        problems.append(f"line {line}: time {rec.fix_time} != {exp['time']}")
    if "valid" in exp and rec.valid is not exp["valid"]:
        problems.append(f"line {line}: valid {rec.valid} != {exp['valid']}")
    return problems


def identified(entry: Entry, fed: Fed) -> list[str]:
    """The payload's first message is the login of the device its record belongs to."""
    first = fed.messages[0]
    if isinstance(first, Login) and first.imei == fed.decoded[0].imei:
        return []
    return [f"line {entry['line']}: {first} before the record of {fed.decoded[0].imei}"]


@dataclass
class PositionRate:
    """How many of the payloads Traccar decodes to positions decode here, and what was wrong."""

    protocol: str
    """Names the rate in the report (the protocol, and how its payloads were fed if not as captured)."""
    what: str = OF_TRACCAR_POSITIONS
    """What the rate is of, after its figure."""
    strict_what: str | None = None
    """For protocols whose payloads are re-sealed when only their checksum failed: what the strict rate
    (payloads decoded as captured) is of."""
    total: int = 0
    decoded: int = 0
    strict: int = 0
    with_fix: int = 0
    checked: int = 0
    """Decoded payloads whose asserted lat/lon were compared."""
    failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def count(self, entry: Entry, fed: Fed, missing: str | None = None) -> bool:
        """Counts one payload: whether it gave a record (if not, why not is kept)."""
        self.total += 1
        recs = fed.decoded
        if not recs:
            self.failures.append(f"{entry['line']}: {fed.why_not(missing)}")
            return False
        self.decoded += 1
        self.strict += fed.strict
        self.with_fix += any(r.lat is not None for r in recs)
        return True

    def check(self, entry: Entry, rec: Record) -> None:
        """The first record against the asserted time/lat/lon (:func:`check_position`)."""
        self.problems += check_position(entry, rec)
        self.checked += "lat" in entry["expect"]

    def report(self) -> None:
        """The rates in the run's summary, and the payloads that failed."""
        report_rate(f"{self.protocol}: {self.decoded}/{self.total} = {self.decoded / self.total:.1%}{self.what}")
        if self.strict_what is not None:
            report_rate(f"{self.protocol} strict: {self.strict}/{self.total} = {self.strict / self.total:.1%}"
                        f"{self.strict_what}")
        print(f"{self.protocol} not decoded:", "; ".join(self.failures) or "none",
              f"({self.with_fix} with coordinates, exact lat/lon checked on {self.checked})")

    def require(self, at_least: float, *, checked: int | None = None, strict_at_least: float = 0.0) -> None:
        """Reported; then no problem in what was decoded, the exact checks there are meant to be, the rates."""
        self.report()
        assert not self.problems, self.problems
        assert checked is None or self.checked == checked, (self.checked, checked)
        assert self.decoded / self.total >= at_least, (self.decoded, self.total)
        assert self.strict / self.total >= strict_at_least, (self.strict, self.total)


def measure_positions(protocol: str, entries: Iterable[Entry], decode: Callable[[Entry], Fed], *,
                      what: str = OF_TRACCAR_POSITIONS, strict_what: str | None = None, missing: str | None = None,
                      also: Callable[[Entry, Fed], list[str]] | None = None) -> PositionRate:
    """Every payload Traccar decodes to positions, decoded; the first record checked against the
    asserted time/lat/lon, and with ``also`` whatever the protocol adds."""
    rate = PositionRate(protocol, what, strict_what)
    for entry in with_result(entries, *POSITION):
        fed = decode(entry)
        if rate.count(entry, fed, missing):
            rate.check(entry, fed.decoded[0])
            rate.problems += also(entry, fed) if also is not None else []
    return rate


def strict_or_resealed(entry: Entry, raw: bytes, decode: Callable[[bytes], Fed],
                       reseal: Callable[[bytes], bytes | None], fault: str) -> Fed:
    """The payload as captured, or re-sealed (``strict`` False) when that alone kept it from a record.

    Traccar checks no checksum and its tests hand-edit frames without fixing theirs. A payload that
    re-sealing changes must have been refused with a ProtocolError naming ``fault`` that keeps the
    connection: a bad checksum costs the frame, not the connection.
    """
    fed = decode(raw)
    if fed.decoded:
        return fed
    sealed = reseal(raw)
    if sealed is None or sealed == raw:
        return fed._replace(strict=False)
    assert fed.errors and fault in str(fed.errors[0]), (entry["line"], fed.errors)
    assert not fed.errors[0].close, (entry["line"], f"a bad {fault} costs the frame, not the connection")
    return decode(sealed)._replace(strict=False)


def value(entry: Entry) -> Any:
    """The attribute value Traccar asserts."""
    return entry["expect"]["value"]


def alarms_as(names: Mapping[str, str]) -> Callable[[Entry], Any]:
    """The asserted value, a Traccar alarm name turned into the codec's (other names kept as they are)."""

    def want(entry: Entry) -> Any:
        asserted = value(entry)
        return names.get(asserted, asserted) if entry["expect"]["attribute"] == "alarm" else asserted

    return want


def close(got: Any, want: Any) -> bool:
    """Equal, numbers to 1e-6."""
    if isinstance(got, (int, float)) and isinstance(want, (int, float)) and not isinstance(got, bool):
        return abs(got - want) < 1e-6
    return bool(got == want)


def approximately(got: Any, want: Any) -> bool:
    """Equal, numbers to pytest's default relative tolerance."""
    return bool(got == pytest.approx(want))


def one_of(match: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """For a mapping that gives candidates (a field Traccar fills from one of several): any matches."""
    return lambda candidates, want: any(match(got, want) for got in candidates)


def has_attributes(rec: Record) -> bool:
    """What Traccar's ``verifyAttributes`` asks of a record: some attributes."""
    return bool(rec.attributes)


@dataclass
class Attributes:
    """The attribute values a protocol's records were compared with."""

    protocol: str
    checked: int = 0
    mismatches: list[tuple[Any, ...]] = field(default_factory=list)
    """Each names its vector line, then what was expected and what the record gave."""

    def require(self, count: int | None = None, *, at_least: int = 0) -> None:
        """None differed, and ``count`` (or ``at_least``) were compared."""
        print(f"{self.protocol} attributes checked: {self.checked}")
        assert not self.mismatches, self.mismatches
        assert (self.checked == count) if count is not None else (self.checked >= at_least), self.checked


def compare_attributes(
    protocol: str,
    entries: Iterable[Entry],
    decode: Callable[[Entry], Fed],
    mapping: Mapping[str, Callable[[Record], Any]],
    *,
    want: Callable[[Entry], Any] = value,
    match: Callable[[Any, Any], bool] = operator.eq,
    pick: int = 0,
    single: bool = False,
    described: Callable[[Record], bool] | None = None,
    skip_unmapped: bool = False,
    skip_undecoded: bool = False,
) -> Attributes:
    """Each ``verifyAttribute`` value against what ``mapping`` reads from the payload's decoded record
    (the ``pick``-th; with ``single``, the only one), and with ``described`` each ``verifyAttributes``
    record as described.

    An attribute without a mapping, or a payload without a record, is a mismatch unless skipped.
    """
    result = Attributes(protocol)
    for entry in entries:
        exp, line = entry["expect"], entry["line"]
        if entry["method"] == "verifyAttribute":
            if exp["attribute"] not in mapping:
                if not skip_unmapped:
                    result.mismatches.append((line, exp["attribute"], "no mapping"))
                continue
        elif entry["method"] != "verifyAttributes" or described is None:
            continue
        recs = decode(entry).decoded
        if not recs or (single and len(recs) != 1):
            if not (skip_undecoded and not recs):
                result.mismatches.append((line, f"{len(recs)} records"))
            continue
        result.checked += 1
        rec = recs[pick]
        if entry["method"] == "verifyAttributes":
            if described is not None and not described(rec):
                result.mismatches.append((line, "not described", rec))
            continue
        got, expected = mapping[exp["attribute"]](rec), want(entry)
        if not match(got, expected):
            result.mismatches.append((line, exp["attribute"], expected, got))
    return result


def cut_frames(entries: Iterable[Entry], cut: Callable[[Buffer], object],
               data: Callable[[Entry], bytes] = payload) -> int:
    """Each frame-decoder payload: ``cut`` takes the first frame's bytes (or gives what it found
    instead) from a buffer holding it, and they are the frame Traccar cuts. How many."""
    framed = 0
    for entry in with_result(entries, "frame"):
        got = cut(buffered(data(entry)))
        assert got == expected_frame(entry), (entry["line"], got)
        framed += 1
    return framed
