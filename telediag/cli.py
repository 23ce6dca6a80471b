"""The ``telediag`` command: ``serve`` runs the service, ``records`` prints what it stored.

Exit status 0 on success, 2 on bad usage, 1 on failure, always with a one-line message saying what
to do.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from protocols.record import RECORD_FIELDS, parse_iso_utc
from telediag.config import Config, ConfigError, check_available, load_config
from telediag.problems import FileRejected

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line is wrong (exit 2)."""


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML config file (default: embedded defaults)")
    parser.add_argument("--data-dir", type=Path, help="data directory (overrides [store] data_dir)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="telediag", description="Telematics device diagnostics service.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the ingest service until SIGTERM or Ctrl-C")
    _add_store_options(serve)
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warn", "error"])

    records = commands.add_parser("records", help="print the stored records of one device")
    _add_store_options(records)
    records.add_argument("imei")
    records.add_argument("--since", help="ISO 8601 time (inclusive), UTC if no zone")
    records.add_argument("--until", help="ISO 8601 time (exclusive), UTC if no zone")
    records.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    devices = commands.add_parser("devices", help="the device registry: add, list, show, import")
    actions = devices.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="register a device or complete its entry")
    _add_store_options(add)
    add.add_argument("imei")
    for option in ("protocol", "account", "vehicle-plate", "iccid", "apn", "roaming", "coverage",
                   "home-country", "activated-at", "report-interval-s", "install-profile"):
        add.add_argument(f"--{option}")
    listing = actions.add_parser("list", help="registered devices")
    _add_store_options(listing)
    listing.add_argument("--account")
    listing.add_argument("--format", choices=["table", "jsonl"], default="table")
    show = actions.add_parser("show", help="one device: registry entry and live state, as JSON")
    _add_store_options(show)
    show.add_argument("imei")
    load = actions.add_parser("import", help="import FILE.csv (all rows or none)")
    _add_store_options(load)
    load.add_argument("file", type=Path)
    connectivity = commands.add_parser("connectivity", help="SIM and network events from the operator")
    c_actions = connectivity.add_subparsers(dest="action", required=True, metavar="ACTION")
    c_import = c_actions.add_parser("import", help="import FILE (.csv, or JSON lines) (all events or none)")
    _add_store_options(c_import)
    c_import.add_argument("file", type=Path)
    selfcheck = commands.add_parser("selfcheck", help="check one tracker now and say what to do")
    _add_store_options(selfcheck)
    selfcheck.add_argument("imei")
    selfcheck.add_argument("--json", action="store_true", help="print the result as JSON")
    selfcheck.add_argument("--lang", choices=("en", "pl", "ru", "sv"), default="en",
                           help="language of the texts (the console's languages; default: en)")
    from telediag.api.tokens import add_tokens_parser

    add_tokens_parser(commands, _add_store_options)
    from telediag.web.users import add_users_parser

    add_users_parser(commands, _add_store_options)
    from telediag.tickets.cli import add_tickets_parser

    add_tickets_parser(commands, _add_store_options)
    from telediag.kb.cli import add_kb_parser

    add_kb_parser(commands, _add_store_options)
    from telediag.store.cli import add_store_parser

    add_store_parser(commands, _add_store_options)
    from telediag.mail.cli import add_mail_parsers

    add_mail_parsers(commands, _add_store_options)
    from telediag.commands.cli import add_commands_parser

    add_commands_parser(commands, _add_store_options)
    return parser


def _rejected(path: Path, error: FileRejected) -> int:
    """Print every problem of a rejected import file, then the one-line verdict."""
    for problem in error.problems:
        print(f"telediag: {path}: {problem}", file=sys.stderr)
    print(f"telediag: {len(error.problems)} problem(s) in {path}; nothing was imported", file=sys.stderr)
    return EXIT_FAILURE


def command_connectivity(config: Config, args: argparse.Namespace, out: TextIO) -> int:
    """``telediag connectivity import FILE``."""
    import time

    from telediag.store.connectivity import EventsRejected, read_events_file, save_events
    from telediag.store.database import open_database

    try:
        events = read_events_file(args.file)
    except EventsRejected as error:
        return _rejected(args.file, error)
    db = open_database(config.store).connect()
    try:
        stored = save_events(db, events, time.time())
    finally:
        db.close()
    out.write(f"{len(events)} event(s) read, {stored} new, {len(events) - stored} already stored\n")
    return EXIT_OK


def command_devices(config: Config, args: argparse.Namespace, out: TextIO) -> int:
    """``telediag devices add|list|show|import``."""
    import time

    from telediag.registry import repository
    from telediag.registry.entries import InvalidEntry, parse_entry
    from telediag.store.database import open_database
    from telediag.store.reader import Reader

    if args.action in ("list", "show"):
        reader = Reader(open_database(config.store))
        try:
            db = reader.connection
            if args.action == "list":
                devices = repository.list_devices(db, args.account)
                if args.format == "jsonl":
                    for listed in devices:
                        out.write(json.dumps(listed) + "\n")
                else:
                    out.write(f"{'IMEI':<17} {'PROTOCOL':<10} {'ACCOUNT':<20} {'PLATE':<10} ACTIVATED\n")
                    for d in devices:
                        out.write(f"{d['imei']:<17} {d['protocol'] or '-':<10} {d['account'] or '-':<20} "
                                  f"{d['vehicle_plate'] or '-':<10} {d['activated_at'] or '-'}\n")
                return EXIT_OK
            device = repository.get_device(db, args.imei)
            if device is None:
                print(f"telediag: device {args.imei} is not registered; add it with `telediag devices add`",
                      file=sys.stderr)
                return EXIT_FAILURE
            device["state"] = reader.device_state(args.imei)
            out.write(json.dumps(device, indent=1) + "\n")
            return EXIT_OK
        finally:
            reader.close()
    db = open_database(config.store).connect()
    try:
        if args.action == "import":
            try:
                result = repository.import_csv(db, args.file, time.time())
            except repository.ImportRejected as error:
                return _rejected(args.file, error)
        else:
            fields = {key: getattr(args, key) for key in (
                "protocol", "account", "vehicle_plate", "iccid", "apn", "roaming", "coverage",
                "home_country", "activated_at", "report_interval_s", "install_profile")}
            try:
                entry = parse_entry({"imei": args.imei, **fields})
            except InvalidEntry as error:
                raise UsageError(str(error)) from None
            result = repository.save(db, [entry], time.time(), "manual")
    finally:
        db.close()
    out.write(f"{result.rows} row(s): {result.devices_added} device(s) added, "
              f"{result.devices_updated} updated, {result.accounts_added} account(s) created\n")
    return EXIT_OK


def _parse_time(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        return parse_iso_utc(text)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not an ISO 8601 time, e.g. 2026-11-23T08:00:00Z") from None


def command_records(config: Config, args: argparse.Namespace, out: TextIO) -> int:
    """Print one device's records as JSON lines or CSV."""
    from telediag.store.database import open_database
    from telediag.store.reader import Reader

    since = _parse_time(args.since, "--since")
    until = _parse_time(args.until, "--until")
    reader = Reader(open_database(config.store))
    try:
        records = reader.records(args.imei, since, until)
        if args.format == "jsonl":
            for record in records:
                out.write(json.dumps(record, separators=(",", ":")) + "\n")
        else:
            columns = list(RECORD_FIELDS)
            columns.insert(columns.index("fix_time") + 1, "server_time")
            writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            for record in records:
                record["attributes"] = json.dumps(record["attributes"], separators=(",", ":"))
                writer.writerow({k: "" if v is None else v for k, v in record.items()})
    finally:
        reader.close()
    return EXIT_OK


def command_selfcheck(config: Config, args: argparse.Namespace, out: TextIO) -> int:
    """Evaluate one device against the store now; exit 0 whatever the verdict, 1 if unknown."""
    import time

    from telediag.diagnostics.engine import DiagnosticsEngine, UnknownDevice
    from telediag.diagnostics.ladder import listen_ports
    from telediag.diagnostics.selfcheck import render_text, translate_selfcheck
    from telediag.languages import catalogue
    from telediag.store.database import open_database

    database = open_database(config.store)
    if not database.exists():
        raise FileNotFoundError(f"no store at {database.describe()}; run `telediag serve` first or pass --data-dir")
    engine = DiagnosticsEngine(database, config.diagnostics, listen_ports(config.listen))
    try:
        result = engine.selfcheck(args.imei, time.time())
    except UnknownDevice:
        print(f"telediag: device {args.imei} is not registered and never connected; "
              "check the IMEI or register it with `telediag devices add`", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        engine.close()
    texts = catalogue(args.lang)
    result = translate_selfcheck(result, texts)
    out.write(json.dumps(result, indent=2) + "\n" if args.json else render_text(result, texts))
    return EXIT_OK


def command_serve(config: Config, args: argparse.Namespace) -> int:
    """Run the service in the foreground until it is told to stop."""
    from telediag.runner import run_service

    return run_service(config, args.log_level)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``telediag`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, args.data_dir)
        check_available(config)
        if args.command == "serve":
            return command_serve(config, args)
        if args.command == "records":
            return command_records(config, args, sys.stdout)
        if args.command == "devices":
            return command_devices(config, args, sys.stdout)
        if args.command == "connectivity":
            return command_connectivity(config, args, sys.stdout)
        if args.command == "selfcheck":
            return command_selfcheck(config, args, sys.stdout)
        if args.command == "tickets":
            from telediag.tickets.cli import command_tickets

            return command_tickets(config, args, sys.stdout, sys.stderr)
        if args.command == "kb":
            from telediag.kb.cli import command_kb

            return command_kb(config, args, sys.stdout, sys.stderr)
        if args.command == "store":
            from telediag.store.cli import command_store

            return command_store(config, args, sys.stdout, sys.stderr)
        if args.command == "tokens":
            from telediag.api.tokens import command_tokens

            return command_tokens(config, args, sys.stdout)
        if args.command == "users":
            from telediag.web.users import command_users

            return command_users(config, args, sys.stdout, sys.stdin)
        if args.command in ("contacts", "notifications"):
            from telediag.mail.cli import command_mail

            return command_mail(config, args, sys.stdout, sys.stderr)
        if args.command == "commands":
            from telediag.commands.cli import command_commands

            return command_commands(config, args, sys.stdout, sys.stderr)
        raise UsageError(f"unknown command {args.command}")
    except UsageError as error:
        print(f"telediag: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as error:
        print(f"telediag: bad configuration: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    except OSError as error:
        print(f"telediag: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as error:  # a bug or a store nobody expected: one line, not a traceback
        print(f"telediag: {args.command} failed: {type(error).__name__}: {error}; "
              "set TELEDIAG_TRACEBACK=1 to see where", file=sys.stderr)
        if os.environ.get("TELEDIAG_TRACEBACK"):
            raise
        return EXIT_FAILURE


def run() -> Any:
    """``python -m telediag``."""
    sys.exit(main())
