"""When a server command may be written on one device connection: the rules, without Twisted.

A device that has sent a frame waits for our answer to it, and many read the next bytes from us
as that answer. Teltonika is the sharp case: its record ACK is 4 bytes and a Codec 12 command
starts with 4 zero bytes, so a command written before the ACK reads as "0 records accepted" and
the device sends the packet again. So a command is written only when the device awaits nothing:

* no reply is queued behind a commit (every frame received that gets an answer has had it
  written, or it was dropped with the connection; a frame the protocol does not answer, such as
  an H02 position or a command's own answer, leaves the device waiting for nothing);
* on a half-duplex protocol, no frame is half received (the device is mid-packet and will read
  what comes next as the answer to it);
* no earlier command is still waiting for its answer: one command at a time per connection. The
  others wait in order, up to ``queue_limit``; past it a command is refused at once
  (:class:`CommandQueueFull`).

Which command an answer belongs to: where the protocol echoes a reference the server chose (GT06's
server flag, the Queclink serial number, the JT808 platform serial, Meitrack's data identifier,
the H02 command time), the adapter tells :meth:`sent` the reference it wrote the command with, and
an answer carrying a reference answers only the command written with it. One that matches no
waiting command (the late answer to a command already reported unanswered, or a second answer to
one already answered) answers nothing: the adapter keeps it as the record it is and counts it as
unmatched, and :meth:`earlier` names the command it was for when that is still known. An answer
without a reference (Teltonika Codec 12, a Queclink ``+NACK``), or to a command written without
one, answers the outstanding command: order is all such a protocol gives.

Two clocks bound a command: ``max_wait_s`` from submission while it cannot be written (then it
fails with :class:`CommandNotSent`, never written, so safe to ask again), and its own
``timeout_s`` from the moment it is written (then it is reported as unanswered).

The adapter feeds what happens in: :meth:`device_awaits` (the replies due and whether a frame is
half received, read from its own reply queue and codec session right before it asks: that queue
is the truth, and the per-packet path does no gate work while no command waits) and
:meth:`answer_received` (only for a command answer, never for other packets); it writes what
:meth:`writable` hands out and tells :meth:`sent` the reference it wrote it with, calls
:meth:`expire` at :meth:`next_deadline`, and :meth:`close` when the connection is gone. Every method
that needs the time takes it as an argument; nothing here reads a clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
"""The adapter's own handle on a command (its text, its waiter); the gate only carries it."""

RECENT = 8
"""Commands no longer waiting whose references are kept, to name what a late answer was for."""


class CommandError(Exception):
    """A server command that did not get an answer; the subclass says how far it got."""


class CommandQueueFull(CommandError):
    """Refused at once: the connection already holds as many waiting commands as it may."""


class CommandNotSent(CommandError):
    """The device stayed busy for the whole wait bound; the command was never written."""


class CommandDisconnected(CommandError, ConnectionError):
    """The connection closed first. ``sent`` says whether the command had been written."""

    def __init__(self, message: str, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


@dataclass(slots=True)
class Expired(Generic[T]):
    """A command whose time ran out: ``sent`` False means it waited too long to be written."""

    item: T
    sent: bool


@dataclass(slots=True)
class _Entry(Generic[T]):
    item: T
    timeout_s: float
    deadline: float
    """Before writing: the end of the wait bound; after: the end of the answer timeout."""
    reference: str | None = None
    """What the device's answer echoes of the command as written (None: nothing)."""


class CommandGate(Generic[T]):
    """Per-connection state machine that orders server commands around the device's replies."""

    def __init__(self, *, queue_limit: int, max_wait_s: float, half_duplex: bool = False) -> None:
        if queue_limit < 1:
            raise ValueError("a command queue holds at least one command")
        self.queue_limit = queue_limit
        self.max_wait_s = max_wait_s
        self.half_duplex = half_duplex
        self._queue: deque[_Entry[T]] = deque()
        self._outstanding: _Entry[T] | None = None
        self._replies = 0
        """Replies the device waits for that are not written yet (as last told)."""
        self._partial = False
        self._done: deque[_Entry[T]] = deque(maxlen=RECENT)
        """Commands written with a reference that no longer wait (answered, timed out), newest last."""

    # -- what the adapter asks ------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """No command queued or waiting for an answer: nothing to write, nothing to time."""
        return self._outstanding is None and not self._queue

    @property
    def queued(self) -> int:
        """Commands waiting to be written."""
        return len(self._queue)

    @property
    def outstanding(self) -> T | None:
        """The command written and not yet answered, if any."""
        return self._outstanding.item if self._outstanding is not None else None

    @property
    def device_waiting(self) -> bool:
        """The device awaits bytes from us (a reply behind a commit, or the end of its own frame)."""
        return self._replies > 0 or (self.half_duplex and self._partial)

    def next_deadline(self) -> float | None:
        """When :meth:`expire` has something to do next, or None."""
        deadlines = [entry.deadline for entry in self._queue]  # at most queue_limit of them
        if self._outstanding is not None:
            deadlines.append(self._outstanding.deadline)
        return min(deadlines) if deadlines else None

    # -- commands -------------------------------------------------------------------------------

    def submit(self, item: T, timeout_s: float, now: float) -> None:
        """Queue a command; :class:`CommandQueueFull` when ``queue_limit`` are already waiting."""
        if len(self._queue) >= self.queue_limit:
            raise CommandQueueFull(
                f"{len(self._queue)} commands already wait on this connection (the limit is {self.queue_limit})"
            )
        self._queue.append(_Entry(item, timeout_s, now + self.max_wait_s))

    def writable(self, now: float) -> T | None:
        """The command to write now, if the device awaits nothing and none is outstanding.

        The command handed out is outstanding from ``now``: its answer timeout starts here.
        """
        if self._outstanding is not None or not self._queue or self.device_waiting:
            return None
        entry = self._queue.popleft()
        entry.deadline = now + entry.timeout_s
        self._outstanding = entry
        return entry.item

    def withdraw(self, item: T) -> None:
        """Forget the outstanding command without an answer (it could not be written after all)."""
        if self._outstanding is not None and self._outstanding.item is item:
            self._outstanding = None

    def sent(self, item: T, reference: str | None) -> None:
        """The outstanding command ``item`` was written with ``reference``, which the device's
        answer echoes (None: the protocol echoes nothing; its answer is matched by order)."""
        entry = self._outstanding
        if entry is not None and entry.item is item:
            entry.reference = reference

    def answer_received(self, reference: str | None = None) -> T | None:
        """The device answered a command: the one it answers, now done, or None.

        An answer carrying a ``reference`` answers the outstanding command only if that was written
        with the same one; without a reference (or to a command written without one) it answers the
        outstanding command. None: no waiting command is this answer's (an unmatched answer).
        """
        entry = self._outstanding
        if entry is None:
            return None
        if reference is not None and entry.reference is not None and reference != entry.reference:
            return None
        self._outstanding = None
        self._forget(entry)
        return entry.item

    def earlier(self, reference: str | None) -> T | None:
        """The command no longer waiting that was written with ``reference``, while it is among the
        last :data:`RECENT` (to say what an unmatched answer was for), else None."""
        if reference is None:
            return None
        for entry in reversed(self._done):
            if entry.reference == reference:
                return entry.item
        return None

    def _forget(self, entry: _Entry[T]) -> None:
        """A written command stops waiting; its reference is kept a while for :meth:`earlier`."""
        if entry.reference is not None:
            self._done.append(entry)

    def expire(self, now: float) -> list[Expired[T]]:
        """Commands whose time is up at ``now``, removed: unanswered ones and ones never written."""
        out: list[Expired[T]] = []
        if self._outstanding is not None and self._outstanding.deadline <= now:
            out.append(Expired(self._outstanding.item, sent=True))
            self._forget(self._outstanding)
            self._outstanding = None
        if any(entry.deadline <= now for entry in self._queue):
            kept: deque[_Entry[T]] = deque()
            for entry in self._queue:
                if entry.deadline <= now:
                    out.append(Expired(entry.item, sent=False))
                else:
                    kept.append(entry)
            self._queue = kept
        return out

    def close(self) -> list[Expired[T]]:
        """The connection is gone: every command, the outstanding one first (``sent`` True)."""
        out: list[Expired[T]] = []
        if self._outstanding is not None:
            out.append(Expired(self._outstanding.item, sent=True))
            self._outstanding = None
        out.extend(Expired(entry.item, sent=False) for entry in self._queue)
        self._queue.clear()
        return out

    # -- what the device does -------------------------------------------------------------------

    def device_awaits(self, replies: int, partial_frame: bool) -> None:
        """What the device waits for now: ``replies`` answers to its frames not yet written (held
        behind commits), and whether bytes of an incomplete frame are held (which only a
        half-duplex protocol waits on)."""
        self._replies = replies
        self._partial = partial_frame
