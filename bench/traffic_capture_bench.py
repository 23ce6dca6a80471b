"""What raw-traffic capture adds to each packet, what reading it costs, and what one sniff costs.

- the adapter path of ``ingest_path_bench.py`` (Teltonika over the TCP adapter, stub committer) with
  the real traffic log and with one that keeps nothing, alternated over several rounds; the smallest
  time of each is compared (thread CPU time), so the difference is the capture: one append for the
  packet received and one for the ACK sent;
- ``TrafficLog.add`` alone, spread over 10,000 devices (every append moves its device in the LRU);
- reading one device's 50 frames as the API does (hex and summaries are made then);
- ``protocols.sniff`` on a GT06 login refused on the Teltonika port (the worst case is bytes no
  codec takes: every codec tried), paid once per connection that fails before identifying.

    .venv/bin/python bench/traffic_capture_bench.py [--packets 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import load_client  # noqa: E402
from ingest_path_bench import per_packet_us  # noqa: E402

from protocols import gt06  # noqa: E402
from protocols.sniff import sniff  # noqa: E402
from telediag.ingest.traffic import TrafficLog  # noqa: E402


class NoTraffic(TrafficLog):
    """Keeps nothing: the adapter's calls cost only the call."""

    _entry: list[Any] = [0.0, "", "", None, b"", 0, None]

    def add(self, key: str, at: float, direction: str, transport: str, remote: str | None, data: bytes,
            detail: object = None) -> list[Any]:
        return self._entry


def timed_us(function: Any, repeat: int) -> float:
    started = time.thread_time()
    for _ in range(repeat):
        function()
    return (time.thread_time() - started) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packets", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    load_client.POOL_RECORDS = args.packets
    packets = load_client.build_packets(1)
    kept, none = [], []
    for _ in range(args.rounds):
        kept.append(per_packet_us(packets, traffic=TrafficLog()))
        none.append(per_packet_us(packets, traffic=NoTraffic()))
    print(f"adapter path, 1 rec/packet: {min(kept):5.2f} us with capture, {min(none):5.2f} us without: "
          f"{min(kept) - min(none):+5.2f} us per packet (smallest of {args.rounds} rounds each)")

    log = TrafficLog()
    keys = [str(350000000000000 + n) for n in range(10_000)]
    frame = packets[0]
    counter = iter(range(10**9))

    def add() -> None:
        n = next(counter)
        log.add(keys[n % 10_000], 1.0 * n, "in", "tcp", "10.0.0.1:5000", frame)

    idle = NoTraffic()

    def add_nothing() -> None:
        n = next(counter)
        idle.add(keys[n % 10_000], 1.0 * n, "in", "tcp", "10.0.0.1:5000", frame)

    spent = min(timed_us(add, 200_000) for _ in range(args.rounds))
    loop = min(timed_us(add_nothing, 200_000) for _ in range(args.rounds))
    print(f"TrafficLog.add over 10,000 devices: {spent - loop:5.2f} us per frame (the loop around it, "
          f"{loop:.2f} us, taken off)")
    for n in range(50):
        log.add("reader", float(n), "in", "tcp", "10.0.0.1:5000", frame, [])
    print(f"reading one device's 50 frames (hex, summaries): {timed_us(lambda: log.frames('reader'), 2_000):7.1f} us")
    login = gt06.encode_login("356307042441013", 1)
    garbage = os.urandom(512)
    print(f"sniff a GT06 login on the Teltonika port: {timed_us(lambda: sniff(login, 'teltonika'), 2_000):7.1f} us; "
          f"512 random bytes (every codec tried): {timed_us(lambda: sniff(garbage, 'teltonika'), 500):7.1f} us")


if __name__ == "__main__":
    main()
