"""``telediag-sim``: drive N simulated vehicles against a telediag (or any compatible) server."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from simulators.fleet import DEFAULT_PORTS, KINDS, Fleet, FleetSettings

CODECS = {"8": 0x08, "8E": 0x8E, "16": 0x10}


def parse_mix(text: str | None, devices: int) -> dict[str, int]:
    """``teltonika-tcp=40,gt06=60`` (counts) or None: ``devices`` spread evenly over every kind."""
    if not text:
        share, extra = divmod(devices, len(KINDS))
        return {kind: share + (1 if i < extra else 0) for i, kind in enumerate(KINDS)}
    mix: dict[str, int] = {}
    for part in text.split(","):
        kind, _, count = part.partition("=")
        kind = kind.strip()
        if kind not in KINDS:
            raise ValueError(f"unknown device kind {kind!r}; known: {', '.join(KINDS)}")
        try:
            mix[kind] = int(count) if count else devices
        except ValueError:
            raise ValueError(f"count for {kind} must be an integer, got {count!r}") from None
        if mix[kind] < 0:
            raise ValueError(f"count for {kind} must not be negative")
    return mix


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="telediag-sim", description=__doc__)
    parser.add_argument("--target", default="127.0.0.1", help="server address (default 127.0.0.1)")
    parser.add_argument("--teltonika-port", type=int, default=DEFAULT_PORTS["teltonika-tcp"])
    parser.add_argument("--teltonika-udp-port", type=int, help="default: the Teltonika TCP port")
    parser.add_argument("--gt06-port", type=int, default=DEFAULT_PORTS["gt06"])
    parser.add_argument("--devices", type=int, default=10, help="number of vehicles (default 10)")
    parser.add_argument("--mix", help="devices per kind, e.g. teltonika-tcp=40,teltonika-udp=30,gt06=30 "
                        "(default: --devices spread evenly)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between reports (default 10)")
    parser.add_argument("--records-per-packet", type=int, default=1)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of driving (default 60)")
    parser.add_argument("--drain-timeout", type=float, default=30.0,
                        help="seconds to wait for outstanding ACKs after the drive (default 30)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--codec", choices=sorted(CODECS), default="8E", help="Teltonika codec (default 8E)")
    parser.add_argument("--max-reconnect-delay", type=float, default=5.0)
    parser.add_argument("--progress-every", type=float, default=5.0)
    parser.add_argument("--acked-log", help="write every acknowledged record here as JSON lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fleet; exit 0 when every record was acknowledged, 1 otherwise, 2 on bad usage."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.devices < 0 or args.interval <= 0 or args.duration < 0 or args.records_per_packet < 1:
            raise ValueError("--devices, --duration >= 0; --interval > 0; --records-per-packet >= 1")
        mix = parse_mix(args.mix, args.devices)
    except ValueError as error:
        print(f"telediag-sim: {error}", file=sys.stderr)
        return 2
    settings = FleetSettings(
        host=args.target,
        ports={
            "teltonika-tcp": args.teltonika_port,
            "teltonika-udp": args.teltonika_udp_port or args.teltonika_port,
            "gt06": args.gt06_port,
        },
        mix=mix,
        interval_s=args.interval,
        records_per_packet=args.records_per_packet,
        duration_s=args.duration,
        drain_timeout_s=args.drain_timeout,
        seed=args.seed,
        teltonika_codec=CODECS[args.codec],
        max_reconnect_delay_s=args.max_reconnect_delay,
        progress_every_s=args.progress_every,
    )
    from twisted.internet import reactor

    fleet = Fleet(reactor, settings)
    outcome: dict[str, int] = {"code": 1}

    def finished(summary) -> None:
        if args.acked_log:
            fleet.write_acked(args.acked_log)
        print(f"summary: {summary.line()}", flush=True)
        outcome["code"] = 0 if summary.unacked == 0 else 1

    def failed(failure) -> None:
        print(f"telediag-sim: {failure.getErrorMessage()}", file=sys.stderr)

    def start() -> None:
        done = fleet.run()
        done.addCallbacks(finished, failed)
        done.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run()
    return outcome["code"]
