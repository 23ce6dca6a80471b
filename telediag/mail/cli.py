"""``telediag contacts add|list|remove`` and ``telediag notifications add|list|remove``: an account's
e-mail contacts and notification rules from a terminal (staff use; the API serves customers).

Bodies go through the same checks as the API's (:func:`parse_contact`, :func:`parse_rule`), so a
mistake is reported with every problem named, and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from telediag.mail import contacts, rules
from telediag.mail.contacts import PERMISSIONS, ContactError
from telediag.mail.rules import RuleError
from telediag.store.database import open_database, transaction

ACTOR = "cli"


def _list(value: str | None) -> list[str] | None:
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]


def add_mail_parsers(commands: Any, add_store_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``contacts`` and ``notifications`` subcommands."""
    people = commands.add_parser("contacts", help="an account's e-mail contacts: add, list, remove")
    actions = people.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a person who may write to support")
    add_store_options(add)
    add.add_argument("--account", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--email", required=True)
    add.add_argument("--language", default="en", help="en, pl, ru or sv (answers and notifications)")
    add.add_argument("--permissions", default="technical",
                     help=f"comma-separated: {', '.join(PERMISSIONS)} (what the contact may ask about)")
    listing = actions.add_parser("list", help="contacts, by account")
    add_store_options(listing)
    listing.add_argument("--account")
    listing.add_argument("--format", choices=["table", "jsonl"], default="table")
    remove = actions.add_parser("remove", help="remove a contact")
    add_store_options(remove)
    remove.add_argument("id", type=int)

    notes = commands.add_parser("notifications", help="notification rules by e-mail: add, list, remove")
    actions = notes.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a rule for an account")
    add_store_options(add)
    add.add_argument("--account", required=True)
    add.add_argument("--codes", help="comma-separated finding codes (DEVICE_SILENT,...)")
    add.add_argument("--events", help="comma-separated ticket events (ticket.created,ticket.resolved,...)")
    add.add_argument("--min-duration-s", type=float, default=0.0, help="how long a finding must last first")
    add.add_argument("--quiet-hours", help="HH:MM-HH:MM when nothing is sent (held until the end)")
    add.add_argument("--timezone", help="IANA zone of the quiet hours (default: the account's country)")
    add.add_argument("--language", help="en, pl, ru or sv for the account's address and staff")
    add.add_argument("--recipients", default="account",
                     help="comma-separated: account, contacts, team:customer_office|technical|it, addresses")
    listing = actions.add_parser("list", help="rules, by id")
    add_store_options(listing)
    listing.add_argument("--account")
    listing.add_argument("--format", choices=["table", "jsonl"], default="table")
    remove = actions.add_parser("remove", help="remove a rule (with the messages it was holding)")
    add_store_options(remove)
    remove.add_argument("id", type=int)


def command_mail(config: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run one ``contacts`` or ``notifications`` action; 1 when it is refused."""
    database = open_database(config.store)
    db = database.connect()
    try:
        if args.command == "contacts":
            return _contacts(db, args, out, err)
        return _rules(db, args, out, err)
    except (ContactError, RuleError) as error:
        for problem in error.problems:
            err.write(f"telediag: {problem}\n")
        return 1
    finally:
        db.close()


def _contacts(db: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.action == "add":
        fields = contacts.parse_contact({"account": args.account, "name": args.name, "email": args.email,
                                         "language": args.language, "permissions": _list(args.permissions)})
        with transaction(db):
            contact = contacts.add(db, fields, time.time())
        out.write(f"contact {contact.id} added to {contact.account}\n")
        return 0
    if args.action == "remove":
        return _remove(db, args.id, "contact", contacts.remove, out, err)
    found = contacts.listing(db, args.account)
    if args.format == "jsonl":
        return _jsonl(found, out)
    out.write(f"{'id':>5}  {'account':<20} {'language':<8} {'permissions':<18} name <email>\n")
    for c in found:
        out.write(f"{c.id:>5}  {c.account:<20} {c.language:<8} {','.join(c.permissions) or '-':<18} "
                  f"{c.name} <{c.email}>\n")
    return 0


def _rules(db: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.action == "add":
        body: dict[str, Any] = {"account": args.account, "codes": _list(args.codes) or [],
                                "events": _list(args.events) or [], "min_duration_s": args.min_duration_s,
                                "quiet_hours": args.quiet_hours, "timezone": args.timezone,
                                "language": args.language, "recipients": _list(args.recipients)}
        fields = rules.parse_rule(body, staff=True)
        with transaction(db):
            rule = rules.add(db, fields, ACTOR, time.time(), staff=True)
        out.write(f"rule {rule.id} added to {rule.account}\n")
        return 0
    if args.action == "remove":
        return _remove(db, args.id, "rule", rules.remove, out, err)
    found = rules.listing(db, args.account)
    if args.format == "jsonl":
        return _jsonl(found, out)
    out.write(f"{'id':>5}  {'account':<20} {'after':>7}  {'quiet':<11} what -> who\n")
    for r in found:
        what = ",".join(r.codes + r.events)
        out.write(f"{r.id:>5}  {r.account:<20} {r.min_duration_s:>6g}s  {r.quiet_hours or '-':<11} "
                  f"{what} -> {','.join(r.recipients)}\n")
    return 0


LISTED_BY = {"contact": "telediag contacts list", "rule": "telediag notifications list"}


def _remove(db: Any, item_id: int, kind: str, remove: Callable[[Any, int], bool], out: TextIO, err: TextIO) -> int:
    with transaction(db):
        removed = remove(db, item_id)
    if not removed:
        err.write(f"telediag: no {kind} {item_id}; see `{LISTED_BY[kind]}`\n")
        return 1
    out.write(f"{kind} {item_id} removed\n")
    return 0


def _jsonl(items: Iterable[contacts.Contact | rules.Rule], out: TextIO) -> int:
    for item in items:
        out.write(json.dumps(item.as_dict()) + "\n")
    return 0
