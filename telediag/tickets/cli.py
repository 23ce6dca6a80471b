"""``telediag tickets list|show|comment|state|close``: the ticket desk from a terminal (staff use).

Changes go through the same desk as the API, so the timeline, SLA clock and notifications follow the
same rules; the timeline names the actor ``cli``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any, TextIO

from telediag.store.database import open_database
from telediag.tickets import repository as repo
from telediag.tickets.model import PRIORITIES, RATINGS, STATES, TEAMS, TicketError

ACTOR = "cli"


def add_tickets_parser(commands: Any, add_store_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``tickets`` subcommand and its actions."""
    tickets = commands.add_parser("tickets", help="incident tickets: list, show, comment, state, close")
    actions = tickets.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="tickets, newest first")
    add_store_options(listing)
    listing.add_argument("--state", choices=STATES)
    listing.add_argument("--team", choices=TEAMS)
    listing.add_argument("--priority", choices=PRIORITIES)
    listing.add_argument("--origin", choices=["auto", "customer", "staff"])
    listing.add_argument("--imei")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--format", choices=["table", "jsonl"], default="table")
    show = actions.add_parser("show", help="one ticket as JSON, with its timeline")
    add_store_options(show)
    show.add_argument("id", type=int)
    comment = actions.add_parser("comment", help="add a staff comment")
    add_store_options(comment)
    comment.add_argument("id", type=int)
    comment.add_argument("text")
    state = actions.add_parser("state", help="move a ticket to another state")
    add_store_options(state)
    state.add_argument("id", type=int)
    state.add_argument("state", choices=STATES)
    state.add_argument("--text")
    close = actions.add_parser("close", help="close with the customer's rating")
    add_store_options(close)
    close.add_argument("id", type=int)
    close.add_argument("--rating", choices=RATINGS, required=True)
    close.add_argument("--reason")


def command_tickets(config: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run one ``tickets`` action; 0 on success, 1 when the ticket or the move is refused."""
    from telediag.app import build_desk

    database = open_database(config.store)
    if not database.exists():
        raise FileNotFoundError(f"no store at {database.describe()}; run `telediag serve` first or pass --data-dir")
    db = database.connect()
    try:
        if args.action == "list":
            ids = repo.list_ids(db, state=args.state, team=args.team, priority=args.priority,
                                origin=args.origin, imei=args.imei, limit=args.limit)
            documents = [repo.document(db, ticket_id) for ticket_id in ids]
            if args.format == "jsonl":
                for document in documents:
                    out.write(json.dumps(document) + "\n")
            else:
                out.write(f"{'id':>6}  {'state':<16} {'pri':<3} {'team':<15} {'devices':>7}  title\n")
                for d in documents:
                    out.write(f"{d['id']:>6}  {d['state']:<16} {d['priority']:<3} {d['team']:<15} "
                              f"{len(d['devices']):>7}  {d['title']}\n")
            return 0
        if args.action == "show":
            out.write(json.dumps(repo.document(db, args.id), indent=2) + "\n")
            return 0
        desk = build_desk(config)
        now = time.time()
        if args.action == "comment":
            desk.comment(db, args.id, ACTOR, args.text, now, staff=True)
        elif args.action == "state":
            desk.change_state(db, args.id, args.state, ACTOR, now, args.text)
        else:
            desk.close(db, args.id, ACTOR, args.rating, args.reason, now)
        document = repo.document(db, args.id)
        out.write(f"ticket {document['id']}: {document['state']}\n")
        return 0
    except TicketError as error:
        err.write(f"telediag: {error}\n")
        return 1
    finally:
        db.close()
