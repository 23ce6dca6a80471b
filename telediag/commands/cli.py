"""``telediag commands send|list|cancel``: a device's command queue from a terminal (staff use).

What is sent goes through the same checks as the API's (:func:`parse_request`) and waits in the
same queue: the running service delivers it when the device is connected or next connects.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any, TextIO

from telediag.commands import queue
from telediag.commands.model import CommandRefused, parse_request
from telediag.config import Config
from telediag.store.database import Connection, open_database, transaction

ACTOR = "cli"
EXIT_OK, EXIT_FAILURE = 0, 1


def add_commands_parser(commands: Any, add_store_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``commands`` subcommand."""
    parser = commands.add_parser("commands", help="server commands to devices: send, list, cancel")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    send = actions.add_parser("send", help="queue a command for a device (delivered when it is connected)")
    add_store_options(send)
    send.add_argument("imei")
    send.add_argument("text", help="the command as the tracker takes it, e.g. \"getstatus\"")
    send.add_argument("--expires-in", type=float, dest="expires_in_s",
                      help="seconds the command may wait for the device (default [commands] default_expires_in_s)")
    listing = actions.add_parser("list", help="a device's commands, newest first")
    add_store_options(listing)
    listing.add_argument("imei")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--format", choices=["table", "jsonl"], default="table")
    cancel = actions.add_parser("cancel", help="withdraw a command no channel has taken yet")
    add_store_options(cancel)
    cancel.add_argument("id", type=int)


def _known(db: Connection, imei: str) -> bool:
    return db.execute("SELECT 1 FROM devices WHERE imei = ? UNION SELECT 1 FROM device_state WHERE imei = ?",
                      (imei, imei)).fetchone() is not None


def command_commands(config: Config, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``telediag commands ACTION``."""
    database = open_database(config.store)
    if args.action != "send" and not database.exists():
        print(f"telediag: no store at {database.describe()}; start `telediag serve` first", file=err)
        return EXIT_FAILURE
    db = database.connect()
    try:
        if args.action == "send":
            return _send(config, db, args, out, err)
        if args.action == "list":
            return _list(db, args, out)
        with transaction(db):
            done = queue.cancel(db, args.id, time.time(), ACTOR)
        if not done:
            print(f"telediag: command {args.id} is not waiting (unknown, or already taken by a channel)", file=err)
            return EXIT_FAILURE
        print(f"cancelled command {args.id}", file=out)
        return EXIT_OK
    finally:
        db.close()


def _send(config: Config, db: Connection, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    settings = config.commands
    body: dict[str, Any] = {"text": args.text}
    if args.expires_in_s is not None:
        body["expires_in_s"] = args.expires_in_s
    try:
        asked = parse_request(body, default_expires_in_s=settings.default_expires_in_s,
                              min_expires_in_s=settings.min_expires_in_s, max_expires_in_s=settings.max_expires_in_s,
                              max_text_chars=settings.max_text_chars)
        if not _known(db, args.imei):
            raise CommandRefused([f"device {args.imei} is not registered and never connected; check the IMEI"])
        with transaction(db):
            command = queue.enqueue(db, args.imei, asked.text, ACTOR, time.time(), asked.expires_in_s,
                                    max_waiting=settings.max_waiting_per_device)
    except CommandRefused as error:
        print(f"telediag: {error}", file=err)
        return EXIT_FAILURE
    print(json.dumps(command), file=out)
    return EXIT_OK


def _list(db: Connection, args: argparse.Namespace, out: TextIO) -> int:
    found = queue.history(db, args.imei, max(1, min(args.limit, 1000)))
    if args.format == "jsonl":
        for command in found:
            print(json.dumps(command), file=out)
        return EXIT_OK
    for command in found:
        outcome = command["answer"] or command["error"] or ""
        print(f"{command['id']:>6}  {command['created_at']}  {command['state']:<9}  {command['channel'] or '-':<3}  "
              f"{command['text']}" + (f"  -> {outcome}" if outcome else ""), file=out)
    if not found:
        print(f"no commands for {args.imei}", file=out)
    return EXIT_OK
