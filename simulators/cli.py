"""``telediag-sim``: drive N simulated vehicles against a telediag (or any compatible) server.

Faults (``--faults wrong_apn:2,power_cut:1``) go to devices reproducibly; ``--registry-csv`` writes
the fleet's registry rows for ``telediag devices import`` (``--registry-only``: write them and
exit, so the registry can be loaded before the drive), and ``--connectivity-log``/``--api`` carry
the network events the devices cause. The API token comes from the ``TELEDIAG_TOKEN`` environment
variable or a file (``--token-file``), never from the command line, where ``ps`` shows it to everyone.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from simulators.faults import FAULTS, check_faults
from simulators.fleet import BUILT_IN_KINDS, CODEC_KINDS, DEFAULT_PORTS, KINDS, Fleet, FleetSettings
from telediag.runner import stop_on_signals, stop_reactor

CODECS = {"8": 0x08, "8E": 0x8E, "16": 0x10}
EVENTS_PATH = "/api/v1/connectivity/events"
TOKEN_ENV = "TELEDIAG_TOKEN"
MAX_TOKEN_FILE_BYTES = 4096
"""A token is well under a kilobyte; a bigger file is the wrong file."""


class TokenError(ValueError):
    """No usable API token; the message says where to put one (never the token itself)."""


def api_token(token_file: str | None, environ: Mapping[str, str]) -> str | None:
    """The bearer token for ``--api``: the first line of ``token_file`` if given, else ``TELEDIAG_TOKEN``."""
    if token_file is not None:
        try:
            with open(token_file, "rb") as handle:
                data = handle.read(MAX_TOKEN_FILE_BYTES + 1)
        except OSError as error:
            raise TokenError(f"cannot read --token-file {token_file}: {error.strerror}") from None
        if len(data) > MAX_TOKEN_FILE_BYTES:
            raise TokenError(f"--token-file {token_file} is larger than a token; it should hold the token alone")
        lines = data.decode("utf-8", "replace").strip().splitlines()
        token = lines[0].strip() if lines else ""
        if not token:
            raise TokenError(f"--token-file {token_file} is empty; write the token of `telediag tokens create` into it")
        return token
    return environ.get(TOKEN_ENV, "").strip() or None


def parse_faults(text: str | None) -> dict[str, int]:
    """``wrong_apn:2,power_cut`` (a missing count is 1) -> {name: count}; ValueError names the known faults."""
    faults: dict[str, int] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, _, count = part.partition(":")
        name = name.strip()
        try:
            number = int(count) if count.strip() else 1
        except ValueError:
            raise ValueError(f"count for fault {name} must be an integer, got {count!r}") from None
        faults[name] = faults.get(name, 0) + number
    check_faults(faults)
    return faults


def parse_mix(text: str | None, devices: int) -> dict[str, int]:
    """``teltonika-tcp=40,gt06=60`` (counts) or None: ``devices`` spread evenly over every kind."""
    if not text:
        share, extra = divmod(devices, len(BUILT_IN_KINDS))
        return {kind: share + (1 if i < extra else 0) for i, kind in enumerate(BUILT_IN_KINDS)}
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


def parse_ports(items: Sequence[str]) -> dict[str, int]:
    """``--port h02=6013`` options: every codec kind with its default port, overridden where given."""
    ports = {kind: DEFAULT_PORTS[kind] for kind in CODEC_KINDS}
    for item in items:
        kind, _, number = item.partition("=")
        if kind not in CODEC_KINDS or not number.isdigit() or not 0 < int(number) < 65536:
            raise ValueError(f"--port wants KIND=PORT with KIND one of {', '.join(CODEC_KINDS)}, got {item!r}")
        ports[kind] = int(number)
    return ports


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="telediag-sim", description=__doc__)
    parser.add_argument("--target", default="127.0.0.1", help="server address (default 127.0.0.1)")
    parser.add_argument("--teltonika-port", type=int, default=DEFAULT_PORTS["teltonika-tcp"])
    parser.add_argument("--teltonika-udp-port", type=int, help="default: the Teltonika TCP port")
    parser.add_argument("--gt06-port", type=int, default=DEFAULT_PORTS["gt06"])
    parser.add_argument("--port", action="append", default=[], metavar="KIND=PORT",
                        help=f"server port of another kind ({', '.join(CODEC_KINDS)}); default: its Traccar port")
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
    parser.add_argument("--faults", metavar="NAME:COUNT,...",
                        help=f"devices with injected faults, the rest healthy; known: {', '.join(FAULTS)}")
    parser.add_argument("--registry-csv", metavar="FILE",
                        help="write the fleet's registry rows here (for telediag devices import)")
    parser.add_argument("--registry-only", action="store_true",
                        help="write the registry CSV (to --registry-csv, else stdout) and exit without connecting")
    parser.add_argument("--connectivity-log", metavar="FILE",
                        help="write the connectivity events the devices cause here as JSON lines")
    parser.add_argument("--api", metavar="URL", help=f"also POST the events to URL{EVENTS_PATH}")
    parser.add_argument("--token-file", metavar="PATH",
                        help=f"file holding the bearer token for --api (default: the {TOKEN_ENV} environment variable)")
    parser.add_argument("--token", help=argparse.SUPPRESS)  # refused below, without echoing the value
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fleet; exit 0 when every record was acknowledged, 1 otherwise, 2 on bad usage."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.devices < 0 or args.interval <= 0 or args.duration < 0 or args.records_per_packet < 1:
            raise ValueError("--devices, --duration >= 0; --interval > 0; --records-per-packet >= 1")
        mix = parse_mix(args.mix, args.devices)
        faults = parse_faults(args.faults)
        ports = parse_ports(args.port)
        if args.token is not None:
            raise ValueError(f"--token is not accepted: a token on the command line is visible to every user "
                             f"(ps); set {TOKEN_ENV} or use --token-file PATH")
        args.token = api_token(args.token_file, os.environ)
        if args.api and not args.token:
            raise ValueError(f"--api needs a token in the {TOKEN_ENV} environment variable or --token-file PATH "
                             "(create one with: telediag tokens create --role technical)")
        if args.api and not args.api.startswith(("http://", "https://")):
            raise ValueError(f"--api must be an http:// or https:// URL, got {args.api!r}")
    except ValueError as error:
        print(f"telediag-sim: {error}", file=sys.stderr)
        return 2
    settings = FleetSettings(
        host=args.target,
        ports={
            "teltonika-tcp": args.teltonika_port,
            "teltonika-udp": args.teltonika_udp_port or args.teltonika_port,
            "gt06": args.gt06_port,
            **ports,
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
        faults=faults,
    )
    from twisted.internet import reactor

    try:
        fleet = Fleet(reactor, settings)
    except ValueError as error:
        print(f"telediag-sim: {error}", file=sys.stderr)
        return 2
    try:
        if args.registry_csv:
            with open(args.registry_csv, "w", newline="", encoding="utf-8") as handle:
                fleet.write_registry(handle)
        elif args.registry_only:
            fleet.write_registry(sys.stdout)
        if args.registry_only:
            return 0
        fleet.events = _events_output(reactor, args)
    except OSError as error:
        print(f"telediag-sim: cannot write {error.filename}: {error.strerror}", file=sys.stderr)
        return 1
    outcome: dict[str, int] = {"code": 1}

    def finished(summary) -> None:
        if args.acked_log:
            fleet.write_acked(args.acked_log)
        print(f"summary: {summary.line()}", flush=True)
        outcome["code"] = 0 if summary.unacked == summary.stranded else 1

    def failed(failure) -> None:
        print(f"telediag-sim: {failure.getErrorMessage()}", file=sys.stderr)

    def start() -> None:
        done = fleet.run()
        done.addCallbacks(finished, failed)
        done.addBoth(lambda _: stop_reactor(reactor))

    reactor.callWhenRunning(stop_on_signals, reactor)
    reactor.callWhenRunning(start)
    reactor.run()
    return outcome["code"]


def _events_output(reactor: Any, args: argparse.Namespace) -> Any:
    """Where connectivity events go (None when neither a log nor an API is asked for)."""
    if not args.connectivity_log and not args.api:
        return None
    from simulators.events_out import ConnectivityOutput, agent_sender

    sender = agent_sender(reactor, args.api.rstrip("/") + EVENTS_PATH, args.token) if args.api else None
    return ConnectivityOutput(reactor, args.connectivity_log, sender, log=sys.stderr)
