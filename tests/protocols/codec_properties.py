"""The properties every stream codec must have, written once for the property tests of each protocol.

A server session takes bytes as a device or a link hands them over and gives messages, or raises
``ProtocolError``. Whatever it is sent, it must:

- raise nothing else, and only the errors its protocol declares (the replies it may send with one);
- give the good messages before a bad frame and raise the error it held on the next ``feed``
  (``protocols.core.FeedLoop``), whether the caller drains the error at once or feeds on;
- drop what it buffered when an error asks to close the connection;
- decode a stream to the same messages whole, byte by byte and cut in two anywhere, and keep a
  partial frame until its rest arrives.

Each ``test_*_properties`` module brings what is its protocol's own (sample frames, strategies,
encoders, the replies its errors carry). The ``*_test`` functions here make the generic tests from
them: assigned to a ``test_*`` name of that module, pytest collects them there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from typing import NamedTuple, Protocol

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.core import CommandResponse, Login, Message, ProtocolError, Report
from protocols.record import Record

MESSAGE_TYPES = (Login, Report, CommandResponse)
"""What a session may give: anything else is a bug."""


class Session(Protocol):
    """The server side of one connection, as the properties drive it."""

    @property
    def pending(self) -> bool: ...

    @property
    def buffered(self) -> int: ...

    def feed(self, data: bytes) -> list[Message]: ...


class AckCounter(Protocol):
    """A device side that counts the packets the server's answers acknowledge."""

    def acks(self, data: bytes) -> int: ...


NewSession = Callable[[], Session]
Replies = Callable[[bytes | None], bool]
"""Which reply an error may carry: the refusals the protocol sends its devices (None: no answer)."""
Check = Callable[[Message], None]
"""What a protocol also requires of every message it gives (asserts)."""
Arrivals = Callable[[bytes], list[list[bytes]]]
"""Ways a stream may arrive: lists of the pieces of each read."""
Datagram = Callable[[bytes], Sequence[Message]]


def examples(max_examples: int) -> settings:
    """A property's budget: ``max_examples`` inputs and no deadline, so a loaded machine fails nothing."""
    return settings(max_examples=max_examples, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def no_reply(reply: bytes | None) -> bool:
    """Errors of protocols that answer nothing to bad input."""
    return reply is None


def any_reply(reply: bytes | None) -> bool:
    return True


# --- inputs -----------------------------------------------------------------------------------


def cut_points(max_size: int) -> st.SearchStrategy[list[int]]:
    """Where reads end, anywhere in the data (taken modulo its length by :func:`split`)."""
    return st.lists(st.integers(min_value=0), max_size=max_size)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` as reads ending at ``cuts``."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in pairwise(points)]


def bytewise(data: bytes) -> list[list[bytes]]:
    """``data`` a byte at a time."""
    return [[data[i : i + 1] for i in range(len(data))]]


def two_pieces(data: bytes, step: int = 1) -> list[list[bytes]]:
    """``data`` in two reads, cut at every ``step``-th offset."""
    return [[data[:i], data[i:]] for i in range(0, len(data) + 1, step)]


EDITS = ("flip", "insert", "delete")


def edit_lists(max_size: int) -> st.SearchStrategy[list[tuple[str, int, int]]]:
    """Damage as links and firmware do it: bytes changed, inserted or lost, anywhere."""
    return st.lists(st.tuples(st.sampled_from(EDITS), st.integers(min_value=0), st.integers(0, 255)),
                    min_size=1, max_size=max_size)


def mutate(data: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    """``data`` with ``edits`` applied: positions are taken modulo the length at that point."""
    out = bytearray(data)
    for op, pos, value in edits:
        if op == "insert":
            out.insert(pos % (len(out) + 1), value)
        elif not out:
            continue
        elif op == "flip":
            out[pos % len(out)] ^= value or 1
        else:
            del out[pos % len(out)]
    return bytes(out)


# --- feeding ----------------------------------------------------------------------------------


class Fed(NamedTuple):
    """What a session gave for some reads: its messages and the errors it raised, in order."""

    messages: list[Message]
    errors: list[ProtocolError]


def feed_all(session: Session, pieces: Iterable[bytes], *, replies: Replies = no_reply, check: Check | None = None,
             drain: bool = True, past_close: bool = False) -> Fed:
    """Feed every piece, then two empty reads, checking each outcome against the generic rules.

    ``drain`` feeds ``b""`` after every error and while one is held, so the next piece starts clean;
    without it the next piece goes in behind a held error, the other way the feed loop's rule is used.
    Feeding stops at an error that asks to close unless ``past_close``.
    """
    fed = Fed([], [])
    held = False
    for piece in [*pieces, b"", b""]:
        chunk = piece
        while True:
            try:
                messages = session.feed(chunk)
            except ProtocolError as error:
                assert isinstance(error.close, bool) and len(error.excerpt) <= 64, repr(error)
                assert replies(error.reply), repr(error)
                fed.errors.append(error)
                if error.close and not (held and chunk):  # bytes fed behind a held error are received first
                    assert session.buffered == 0, f"{error!r} asks to close and bytes stay buffered"
                held = False
                if error.close and not past_close:
                    return fed
                if not drain:
                    break
                chunk = b""
                continue
            assert not held, "the error held back was not raised by the next feed"
            assert all(isinstance(m, MESSAGE_TYPES) for m in messages), messages
            if check is not None:
                for message in messages:
                    check(message)
            fed.messages.extend(messages)
            held = session.pending
            if not (drain and held):
                break
            chunk = b""
    return fed


def survives(new_session: NewSession, pieces: list[bytes], *, replies: Replies = no_reply,
             check: Check | None = None) -> None:
    """Whatever ``pieces`` hold, a session gives messages or declared errors only, drained or fed on,
    and even fed on after an error that asks to close."""
    for drain in (True, False):
        feed_all(new_session(), pieces, replies=replies, check=check, drain=drain, past_close=True)


def decode_clean(session: Session, pieces: Iterable[bytes]) -> list[Message]:
    """The messages of a good stream: no error on the way, nothing held at the end."""
    messages, errors = feed_all(session, pieces, replies=any_reply)
    assert not errors, errors
    return messages


def decoded_however_split(new_session: NewSession, stream: bytes,
                          ways: Sequence[Arrivals] = (bytewise, two_pieces)) -> list[Message]:
    """What a good ``stream`` decodes to whole, checked to be the same every way it may arrive."""
    whole = decode_clean(new_session(), [stream])
    for way in ways:
        for pieces in way(stream):
            assert decode_clean(new_session(), pieces) == whole, f"first read {len(pieces[0])} of {len(pieces)}"
    return whole


def partial_frame_waits(session: Session, before: bytes, frame: bytes, cut: int) -> tuple[list[Message], list[Message]]:
    """The messages of ``before`` sent with the first ``cut`` bytes of ``frame``, then those of its rest:
    the partial frame waits in the buffer, and nothing stays once it is complete."""
    first = session.feed(before + frame[:cut])
    assert not session.pending and session.buffered == cut
    rest = session.feed(frame[cut:])
    assert not session.pending and session.buffered == 0
    return first, rest


def decodes_or_refuses(decoders: Iterable[Datagram], data: bytes) -> None:
    """Stateless decoders (datagrams, captures) give messages or ``ProtocolError``, nothing else."""
    for decode in decoders:
        try:
            messages = decode(data)
        except ProtocolError:
            continue
        assert all(isinstance(m, MESSAGE_TYPES) for m in messages), messages


# --- round trips ------------------------------------------------------------------------------


def positions(off_zero: float | None = None) -> st.SearchStrategy[tuple[float | None, float | None]]:
    """No position, or one within ±89.9° and ±179.9°; ``off_zero`` keeps one coordinate farther than
    that from 0 where a raw (0, 0) means "no fix"."""
    known = st.tuples(st.floats(-89.9, 89.9), st.floats(-179.9, 179.9))
    if off_zero is not None:
        bound = off_zero
        known = known.filter(lambda p: max(map(abs, p)) > bound)
    return st.one_of(st.tuples(st.none(), st.none()), known)


def assert_position_near(got: Record, sent: Record, tolerance: float) -> None:
    """The position decoded is the one encoded within the protocol's resolution; none stays none."""
    if sent.lat is None:
        assert got.lat is None and got.lon is None
    else:
        assert got.lat == pytest.approx(sent.lat, abs=tolerance) and got.lon == pytest.approx(sent.lon, abs=tolerance)


def assert_same_fields(got: Record, sent: Record, names: Iterable[str]) -> None:
    """The fields the protocol carries exactly come back unchanged."""
    for name in names:
        assert getattr(got, name) == getattr(sent, name), name


def acks_in_pieces(codec: AckCounter, answers: bytes, cuts: list[int]) -> int:
    """How many packets the server's ``answers`` acknowledge when the device reads them cut at ``cuts``."""
    return sum(codec.acks(piece) for piece in split(answers, cuts))


# --- the generic tests ------------------------------------------------------------------------


def arrival_test(new_session: NewSession, stream: bytes, way: Arrivals) -> Callable[[], None]:
    """A test: ``stream`` decodes the same whole and arriving ``way``."""

    def test() -> None:
        decoded_however_split(new_session, stream, (way,))

    return test


def arbitrary_bytes_test(new_session: NewSession, *, max_size: int, budget: settings, replies: Replies = no_reply,
                         check: Check | None = None, datagram: Datagram | None = None) -> Callable[..., None]:
    """A property: any bytes in any reads give messages or declared errors only (as a datagram too)."""

    @budget
    @given(data=st.binary(max_size=max_size), cuts=cut_points(6))
    def test(data: bytes, cuts: list[int]) -> None:
        survives(new_session, split(data, cuts), replies=replies, check=check)
        if datagram is not None:
            decodes_or_refuses([datagram], data)

    return test


def mutated_frames_test(new_session: NewSession, frames: Sequence[bytes], *, then: bytes = b"", max_edits: int,
                        max_cuts: int, budget: settings, replies: Replies = no_reply,
                        check: Check | None = None) -> Callable[..., None]:
    """A property: one of ``frames`` followed by ``then``, damaged and cut anywhere, gives messages
    or declared errors only."""

    @budget
    @given(which=st.sampled_from(frames), edits=edit_lists(max_edits), cuts=cut_points(max_cuts))
    def test(which: bytes, edits: list[tuple[str, int, int]], cuts: list[int]) -> None:
        survives(new_session, split(mutate(which + then, edits), cuts), replies=replies, check=check)

    return test
