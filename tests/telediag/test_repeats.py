"""Repeated errors from one device: one log line a minute with a count, and every error still stored."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.logger import formatEvent, globalLogPublisher

from protocols.core import ProtocolError
from telediag.pipeline import Pipeline
from telediag.repeats import RepeatSummary


def test_the_first_event_of_a_window_is_logged_and_the_rest_counted() -> None:
    summary = RepeatSummary(window_s=60)
    assert summary.note("a", 0.0) == 0
    assert [summary.note("a", t) for t in (1.0, 30.0, 59.0)] == [None, None, None]
    assert summary.note("b", 5.0) == 0  # another device is not held back by the first
    assert summary.note("a", 60.0) == 3
    assert summary.note("a", 200.0) == 0


class Notes:
    """Collects what the pipeline hands the store (the committer's ``note``)."""

    def __init__(self) -> None:
        self.changes: list[Any] = []

    def note(self, change: Any) -> None:
        self.changes.append(change)


def test_a_device_sending_garbage_every_few_seconds_gets_a_line_a_minute() -> None:
    clock, notes = Clock(), Notes()
    pipeline = Pipeline(clock, notes, set())  # type: ignore[arg-type]
    lines: list[str] = []
    observer = lambda event: lines.append(formatEvent(event)) if "protocol error" in formatEvent(event) else None  # noqa: E731
    globalLogPublisher.addObserver(observer)
    try:
        for _ in range(30):  # every 5 s for 150 s
            pipeline.protocol_error("356307042441013", "teltonika", "10.0.0.1:5000", ProtocolError("bad CRC"))
            clock.advance(5)
    finally:
        globalLogPublisher.removeObserver(observer)
    assert len(lines) == 3, lines
    assert "11 more from this device in the last 60 s" in lines[1]
    assert len(notes.changes) == 30  # every error is stored all the same
    assert pipeline.stats.errors["teltonika"] == 30
