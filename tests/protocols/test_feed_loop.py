"""The one feed loop and its error rule (``protocols.core.FeedLoop``), on a toy line protocol and on
every registered stream codec: what was decoded before a bad frame is returned, the error comes next."""

from __future__ import annotations

import pytest

from protocols import registry
from protocols.core import DEFAULT_MAX_FRAME, BufferedFeed, Login, ProtocolError
from tests.protocols.test_no_silent_drops import STREAM, frames


class Lines(BufferedFeed[bytes, str]):
    """``text\\n`` lines: ``!`` is bad content, ``#`` bad bytes, ``X`` a stream beyond repair."""

    def __init__(self) -> None:
        super().__init__(1024)

    def _next_frame(self) -> bytes | None:
        end = self._buf.find(b"\n")
        if end < 0:
            return None
        line = self._buf.read(end + 1) or b""
        self._buf.commit()
        if line == b"#\n":
            raise ProtocolError("bad bytes", excerpt=line)
        if line == b"X\n":
            raise ProtocolError("beyond repair", close=True, excerpt=line)
        return line

    def _decode(self, frame: bytes, out: list[str]) -> None:
        if frame.startswith(b"!"):
            int(frame)  # ValueError: content that cannot be read
        out.append(frame.decode().strip())
        if frame.startswith(b"?"):
            _ = frame[9]  # IndexError, after the append


def test_good_lines_come_back_and_the_error_waits_for_the_next_call() -> None:
    feed = Lines()
    assert feed.feed(b"a\nb\n#\nc\n") == ["a", "b"]
    assert feed.pending
    with pytest.raises(ProtocolError, match="bad bytes"):
        feed.feed(b"d\n")  # new input is kept behind the held error
    assert not feed.pending
    assert feed.feed(b"") == ["c", "d"]


def test_content_errors_become_protocol_errors_and_what_was_appended_stays() -> None:
    with pytest.raises(ProtocolError, match="malformed frame") as caught:
        Lines().feed(b"!x\n")
    assert caught.value.excerpt == b"!x\n" and not caught.value.close
    feed = Lines()
    assert feed.feed(b"?x\n") == ["?x"]  # appended before the decoder failed: kept, the error held
    with pytest.raises(ProtocolError, match="malformed frame"):
        feed.feed(b"")


def test_an_error_that_asks_to_close_drops_the_buffer_but_not_the_good_lines() -> None:
    feed = Lines()
    assert feed.feed(b"a\nX\nb\npartial") == ["a"]
    assert feed.buffered == 0
    with pytest.raises(ProtocolError) as caught:
        feed.feed(b"")
    assert caught.value.close


@pytest.mark.parametrize("protocol", STREAM)
def test_every_stream_codec_returns_good_frames_before_the_bad_one(protocol: str) -> None:
    login, frame = frames(protocol)
    session = registry.get(protocol).new_session(max_frame=DEFAULT_MAX_FRAME)
    if login:
        session.feed(login)
    garbage = b"NOT HTTP AT ALL\r\n\r\n" if protocol == "osmand" else b"\x00" * 40 + b"\xfe" * 40 + b";*)]#$\r\n"
    good = session.feed(frame + garbage)
    assert [m for m in good if not isinstance(m, Login)], protocol
    with pytest.raises(ProtocolError):
        for _ in range(8):  # some framers report a run of garbage once, others per byte they skip
            session.feed(b"")
