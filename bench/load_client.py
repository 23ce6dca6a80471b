"""Load generator: C device connections, each sending prebuilt distinct Teltonika packets and
waiting for each ACK before the next, as devices do. Prints acknowledged records per second.

``load_client.py PORT CONNECTIONS RECORDS_PER_PACKET WARMUP_S MEASURE_S [FIRST_SERIAL]`` (device IMEIs
are ``35`` and a serial counted up from ``FIRST_SERIAL`` + 1) prints ``measuring`` when
the measured window opens and one JSON line when it closes, so a parent can read the server's CPU
time over exactly that window.
"""

from __future__ import annotations

import json
import struct
import sys
import time

from twisted.internet import protocol, reactor

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from protocols import teltonika  # noqa: E402
from protocols.record import Record  # noqa: E402

POOL_RECORDS = 40_000


RECORD_SPACING_S = 0.01
"""Between consecutive records of the pool: 40,000 of them span 400 s."""
POOL_STARTS_S = -350.0
"""The pool's first fix time, from the moment it is built: every fix of a run is a few minutes old at
most and none is further ahead than the clock checks tolerate (300 s), as a live tracker's are."""


def build_packets(records_per_packet: int, now: float | None = None) -> list[bytes]:
    """Distinct packets (distinct fix times) shared by every connection: IMEIs differ per connection.

    The fix times are around ``now`` (the wall clock): records dated long ago would make every device
    a tracker with a broken clock (CLOCK_INVALID), which the diagnostics evaluate at every commit, and
    the benchmark would measure a fleet of faulty trackers. Positions move about 4 km/h.
    """
    start = (time.time() if now is None else now) + POOL_STARTS_S
    packets = []
    for first in range(0, POOL_RECORDS, records_per_packet):
        batch = [
            Record(imei=None, protocol="teltonika", fix_time=start + i * RECORD_SPACING_S, valid=True,
                   lat=52.2 + i * 1e-7, lon=21.0 + i * 1e-7, altitude_m=100.0, speed_kmh=float(i % 90),
                   course_deg=90.0, satellites=9, hdop=1.0, ignition=True, motion=True, ext_voltage_v=13.8,
                   battery_voltage_v=4.1, gsm_signal_pct=80, operator=26001, roaming=False,
                   odometer_m=1000.0 + i)
            for i in range(first, first + records_per_packet)
        ]
        packets.append(teltonika.encode_avl(batch, codec_id=0x8E))
    return packets


class Device(protocol.Protocol):
    """Handshake, then one packet in flight at a time."""

    def __init__(self, shared: Load, imei: str) -> None:
        self.shared = shared
        self.imei = imei
        self.next = 0
        self.buffer = b""
        self.identified = False

    def connectionMade(self) -> None:
        self.transport.write(teltonika.encode_imei(self.imei))

    def dataReceived(self, data: bytes) -> None:
        buffer = self.buffer + data
        if not self.identified and buffer:
            self.identified = True
            buffer = buffer[1:]
            self.send()
        while len(buffer) >= 4:
            count = struct.unpack_from(">I", buffer)[0]
            buffer = buffer[4:]
            self.shared.acked += count
            self.send()
        self.buffer = buffer

    def send(self) -> None:
        packets = self.shared.packets
        if self.next >= len(packets):
            return
        self.transport.write(packets[self.next])
        self.next += 1


class Load(protocol.ClientFactory):
    """All connections and the shared counter."""

    def __init__(self, packets: list[bytes], first_serial: int = 0) -> None:
        self.packets = packets
        self.acked = 0
        self.serial = first_serial

    def buildProtocol(self, addr: object) -> Device:
        self.serial += 1
        return Device(self, f"35{self.serial:013d}")


def main() -> None:
    port, connections, per_packet = (int(v) for v in sys.argv[1:4])
    warmup, measure = float(sys.argv[4]), float(sys.argv[5])
    first_serial = int(sys.argv[6]) if len(sys.argv) > 6 else 0  # clients side by side use distinct devices
    load = Load(build_packets(per_packet), first_serial)
    for _ in range(connections):
        reactor.connectTCP("127.0.0.1", port, load)
    marks: dict[str, float] = {}

    def start_measuring() -> None:
        marks["acked"], marks["t"] = load.acked, time.perf_counter()
        marks["cpu"] = time.process_time()
        print("measuring", flush=True)
        reactor.callLater(measure, stop_measuring)

    def stop_measuring() -> None:
        elapsed = time.perf_counter() - marks["t"]
        result = {
            "records": load.acked - marks["acked"],
            "seconds": elapsed,
            "records_per_s": (load.acked - marks["acked"]) / elapsed,
            "client_cpu": (time.process_time() - marks["cpu"]) / elapsed,
        }
        print(json.dumps(result), flush=True)
        reactor.stop()

    reactor.callLater(warmup, start_measuring)
    reactor.run()


if __name__ == "__main__":
    main()
