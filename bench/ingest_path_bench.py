"""The per-packet work of ingest in one process: framing, decoding, plausibility, pipeline and adapter.

No sockets, no store and no threads: the TCP adapter is fed the load client's Teltonika packets
through a string transport, and a stub committer fires each packet's commit at once. What remains is
the Python work telediag does on the reactor thread for every packet, measured in thread CPU time,
so it is steadier than the end-to-end figures of ``ingest_bench.py`` on a shared machine.

    .venv/bin/python bench/ingest_path_bench.py [--packets 20000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import load_client  # noqa: E402

from protocols import teltonika  # noqa: E402
from protocols.registry import get as codec_spec  # noqa: E402
from telediag.ingest.tcp import DeviceStreamFactory  # noqa: E402
from telediag.ingest.traffic import TrafficLog  # noqa: E402
from telediag.pipeline import Pipeline  # noqa: E402


class InstantCommitter:
    """What the pipeline and the adapter use of the batch committer; every commit succeeds at once."""

    backlog = 0
    queue_limit = 100_000
    saturated = False

    def __init__(self) -> None:
        self.waiting: list[Deferred[None]] = []

    def submit(self, batch: Any) -> Deferred[None]:
        waiter: Deferred[None] = Deferred()
        self.waiting.append(waiter)
        return waiter

    def note(self, change: Any) -> None:
        pass

    def throttle(self, producer: Any) -> None:
        pass

    def release(self, producer: Any) -> None:
        pass

    def commit(self) -> None:
        waiting, self.waiting = self.waiting, []
        for waiter in waiting:
            waiter.callback(None)


class Peer:
    host = "127.0.0.1"
    port = 40000


def per_packet_us(packets: list[bytes], profile: bool = False, traffic: TrafficLog | None = None) -> float:
    """Thread CPU time per packet, after one warm-up pass over the same packets (``traffic``: the raw
    traffic log the pipeline keeps, a fresh one by default)."""
    clock = Clock()
    clock.advance(time.time())  # the packets' fix times are around now, as on a live server
    committer = InstantCommitter()
    pipeline = Pipeline(clock, committer, set(), traffic=traffic)  # type: ignore[arg-type]
    factory = DeviceStreamFactory(clock, codec_spec("teltonika"), pipeline, idle_timeout_s=300.0,
                                  max_frame=65536)
    protocol = factory.buildProtocol(Peer())
    assert protocol is not None
    transport = StringTransport(peerAddress=Peer())
    protocol.makeConnection(transport)
    protocol.dataReceived(teltonika.encode_imei("350000000000001"))

    def run() -> None:
        for packet in packets:
            protocol.dataReceived(packet)
            committer.commit()
        transport.clear()

    run()
    profiler = cProfile.Profile() if profile else None
    started = time.thread_time()
    if profiler is not None:
        profiler.enable()
    run()
    if profiler is not None:
        profiler.disable()
    elapsed = time.thread_time() - started
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return elapsed / len(packets) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packets", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions too")
    args = parser.parse_args()
    for per_packet in (1, 10):
        load_client.POOL_RECORDS = args.packets * per_packet
        packets = load_client.build_packets(per_packet)
        us = per_packet_us(packets, args.profile)
        print(f"{per_packet:>2} rec/packet: {us:6.1f} us per packet, {us / per_packet:5.1f} us per record "
              "(framing, decoding, plausibility, pipeline, adapter; no sockets, no store)")


if __name__ == "__main__":
    main()
