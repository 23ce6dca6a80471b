"""A simulated tracker's memory of records: waiting, in flight, acknowledged.

Real trackers keep records in flash until the server acknowledges them and send them again after a
reconnect; this class is that memory, independent of the protocol and the transport.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from protocols.record import Record


@dataclass
class OutboxCounters:
    """What one device did, for the fleet summary."""

    generated: int = 0
    sent: int = 0
    acked: int = 0
    resent: int = 0


@dataclass
class Outbox:
    """Records not yet acknowledged, oldest first, and the acknowledged ones (as the server decoded them)."""

    limit: int = 100_000
    pending: deque[Record] = field(default_factory=deque)
    in_flight: list[tuple[Record, ...]] = field(default_factory=list)
    acked: list[Record] = field(default_factory=list)
    counters: OutboxCounters = field(default_factory=OutboxCounters)
    keep_acked: bool = True
    _ever_sent: set[int] = field(default_factory=set)

    def add(self, record: Record) -> None:
        """A new record; the oldest is dropped if the device memory is full (as real devices do)."""
        self.counters.generated += 1
        if len(self.pending) >= self.limit:
            self.pending.popleft()
        self.pending.append(record)

    def take(self, count: int) -> tuple[Record, ...]:
        """Up to ``count`` records to send now; they are in flight until acked or requeued."""
        batch = tuple(self.pending.popleft() for _ in range(min(count, len(self.pending))))
        if batch:
            self.in_flight.append(batch)
            self.counters.sent += len(batch)
            for record in batch:
                key = id(record)
                if key in self._ever_sent:
                    self.counters.resent += 1
                else:
                    self._ever_sent.add(key)
        return batch

    def ack_oldest(self, decoded: tuple[Record, ...] | None = None) -> tuple[Record, ...]:
        """The oldest in-flight batch is acknowledged; ``decoded`` is what the server made of it."""
        if not self.in_flight:
            return ()
        batch = self.in_flight.pop(0)
        self.counters.acked += len(batch)
        for record in batch:
            self._ever_sent.discard(id(record))
        if self.keep_acked:
            self.acked.extend(decoded if decoded is not None else batch)
        return batch

    def ack_batch(self, batch: tuple[Record, ...], decoded: tuple[Record, ...] | None = None) -> None:
        """A specific in-flight batch is acknowledged (datagram transports match ACKs by packet ID)."""
        for index, candidate in enumerate(self.in_flight):
            if candidate is batch:
                del self.in_flight[index]
                self.in_flight.insert(0, batch)
                self.ack_oldest(decoded)
                return

    def requeue(self) -> None:
        """The connection dropped: everything in flight goes back to the front, to be sent again."""
        for batch in reversed(self.in_flight):
            self.pending.extendleft(reversed(batch))
        self.in_flight.clear()

    @property
    def unacked(self) -> int:
        """Records not yet acknowledged."""
        return len(self.pending) + sum(len(batch) for batch in self.in_flight)
