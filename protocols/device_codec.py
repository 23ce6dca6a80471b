"""What a simulated tracker needs from a protocol module, so one generic client drives every protocol.

Each protocol package exposes ``DeviceCodec`` (the device side) next to its ``ServerSession``. The
simulator sends ``login``, then ``encode`` for each batch of records, and feeds whatever the server
answers to ``acks``. Protocols whose servers acknowledge positions (Ruptela, JT808, Meitrack,
GL200 with SACK on) report how many of the sent packets were acknowledged; those that never
acknowledge positions (GPS103, TK103, H02, Watch...) say so with ``acks_positions = False`` and the
simulator counts a packet as delivered once the connection has carried it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from protocols.record import Record


class DeviceCodec(Protocol):
    """Device side of one connection (one instance per connection: it may keep serial numbers)."""

    protocol: str
    acks_positions: bool
    """Whether the server answers each position packet with an acknowledgement."""

    def __init__(self, imei: str) -> None: ...

    def login(self) -> bytes:
        """Bytes sent right after connecting (login/registration), or b"" when the protocol has none."""
        ...

    def encode(self, records: Sequence[Record]) -> bytes:
        """One packet carrying ``records`` (a protocol that carries one record per packet may
        concatenate several packets)."""
        ...

    def acks(self, data: bytes) -> int:
        """Feed bytes from the server; returns how many position packets they acknowledge
        (login answers, heartbeats and partial input count 0)."""
        ...
