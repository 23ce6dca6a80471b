"""People who sign in to the web console: the ``users`` table and ``telediag users create|disable|list``.

A user has the same role (and, for customers, account) as an API token, so pages get the same
``Principal`` the API uses and the same policy decides what they show. Users are disabled, never
deleted, so the audit trail keeps their names; disabling one also ends every session at once.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from protocols.record import iso_utc
from telediag.api.tokens import ROLES, UnknownAccount
from telediag.store.database import INTEGRITY_ERRORS, Connection, transaction
from telediag.web.passwords import WeakPassword, dummy_verify, hash_password, verify_password

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
"""Usernames: printable, no spaces or markup, so they are safe in logs and on every page."""


class UserUsageError(ValueError):
    """The request for a user is wrong (bad name, unknown role, customer without account, weak password)."""


class UserExists(LookupError):
    """The username is taken (compared without case)."""


@dataclass(frozen=True)
class User:
    """A user row as sign-in needs it."""

    id: int
    username: str
    role: str
    account: str | None
    disabled: bool


def _check_request(username: str, role: str, account: str | None) -> None:
    if not USERNAME.fullmatch(username):
        raise UserUsageError("the username must be 1-64 letters, digits or . _ @ - (starting with a letter or digit)")
    if role not in ROLES:
        raise UserUsageError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if role == "customer" and not account:
        raise UserUsageError("a customer user needs --account NAME (the customer's account)")
    if role != "customer" and account:
        raise UserUsageError(f"--account is only for customer users; a {role} user sees every account")


def create_user(
    db: Connection, username: str, role: str, account: str | None, password: str, now: float
) -> int:
    """Store a new user; the account of a customer must be in the registry (as for tokens)."""
    _check_request(username, role, account)
    try:
        password_hash = hash_password(password)
    except WeakPassword as error:
        raise UserUsageError(str(error)) from None
    if account is not None and db.execute("SELECT 1 FROM accounts WHERE name = ?", (account,)).fetchone() is None:
        raise UnknownAccount(
            f"account {account!r} is not in the registry; add a device of it first "
            "(telediag devices add IMEI --account NAME)"
        )
    try:
        (user_id,) = db.execute(
            "INSERT INTO users (username, role, account, password_hash, created_at) VALUES (?, ?, ?, ?, ?) "
            "RETURNING id",
            (username, role, account, password_hash, now),
        ).fetchone()
    except INTEGRITY_ERRORS:
        raise UserExists(f"user {username!r} already exists; see `telediag users list`") from None
    if db.in_transaction:
        db.commit()
    return int(user_id)


def _user(row: tuple[Any, ...]) -> User:
    return User(row[0], row[1], row[2], row[3], row[4] is not None)


def find_user(db: Connection, username: str) -> User | None:
    """The user named ``username`` (without case), disabled or not."""
    row = db.execute(
        "SELECT id, username, role, account, disabled_at FROM users WHERE username = ?", (username,)
    ).fetchone()
    return None if row is None else _user(row)


def check_credentials(db: Connection, username: str, password: str) -> User | None:
    """The live user these credentials belong to, or None; unknown names cost a full verification too."""
    row = db.execute(
        "SELECT id, username, role, account, disabled_at, password_hash FROM users WHERE username = ?",
        (username,),
    ).fetchone() if USERNAME.fullmatch(username) else None
    if row is None:
        dummy_verify(password)
        return None
    if not verify_password(password, row[5]):
        return None
    user = _user(row)
    return None if user.disabled or user.role not in ROLES else user


def disable_user(db: Connection, username: str, now: float) -> bool:
    """Disable a live user and end every session of it; False if no such live user."""
    with transaction(db):
        cursor = db.execute(
            "UPDATE users SET disabled_at = ? WHERE username = ? AND disabled_at IS NULL", (now, username)
        )
        db.execute("DELETE FROM web_sessions WHERE user_id IN (SELECT id FROM users WHERE username = ?)",
                   (username,))
    changed: int = cursor.rowcount
    return changed == 1


def set_password(db: Connection, username: str, password: str) -> bool:
    """Give a live user a new password and end every session of it (whoever knew the old one is out);
    False if no such live user. Raises UserUsageError for a password the rules refuse."""
    try:
        password_hash = hash_password(password)
    except WeakPassword as error:
        raise UserUsageError(str(error)) from None
    with transaction(db):
        cursor = db.execute("UPDATE users SET password_hash = ? WHERE username = ? AND disabled_at IS NULL",
                            (password_hash, username))
        db.execute("DELETE FROM web_sessions WHERE user_id IN (SELECT id FROM users WHERE username = ?)",
                   (username,))
    changed: int = cursor.rowcount
    return changed == 1


def list_users(db: Connection) -> list[dict[str, Any]]:
    """Every user without the password hash, oldest first."""
    cursor = db.execute("SELECT username, role, account, created_at, disabled_at FROM users ORDER BY id")
    return [{"username": u, "role": role, "account": account, "created_at": iso_utc(created),
             "disabled_at": iso_utc(disabled)} for u, role, account, created, disabled in cursor]


def read_password(stdin: TextIO) -> str:
    """One line from stdin (without echo on a terminal); the line end is not part of the password."""
    if stdin.isatty():
        return getpass.getpass("password: ", stream=sys.stderr)
    return stdin.readline().rstrip("\r\n")


def add_users_parser(commands: Any, add_store_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """``telediag users create|password|disable|list``."""
    users = commands.add_parser("users", help="people who sign in to the web console: create, password, disable, "
                                              "list")
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a user; the password is read from stdin (one line)")
    add_store_options(create)
    create.add_argument("--role", required=True, help=f"one of {', '.join(ROLES)}")
    create.add_argument("--account", help="the account a customer user is limited to")
    create.add_argument("username")
    password = actions.add_parser("password", help="set a user's new password (read from stdin, one line) and end "
                                                   "all of its sessions")
    add_store_options(password)
    password.add_argument("username")
    disable = actions.add_parser("disable", help="disable a user and end all of its sessions")
    add_store_options(disable)
    disable.add_argument("username")
    listing = actions.add_parser("list", help="users with role, account and state (never the password)")
    add_store_options(listing)


def command_users(config: Any, args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    """Run a ``users`` action; one-line message on stderr and exit 2 (usage) or 1 (failure)."""
    from telediag.store.database import open_database

    password = read_password(stdin) if args.action in ("create", "password") else ""
    db = open_database(config.store).connect()
    try:
        if args.action == "create":
            try:
                create_user(db, args.username, args.role, args.account, password, time.time())
            except UserUsageError as error:
                print(f"telediag: {error}", file=sys.stderr)
                return EXIT_USAGE
            except (UnknownAccount, UserExists) as error:
                print(f"telediag: {error.args[0]}", file=sys.stderr)
                return EXIT_FAILURE
            out.write(f"user {args.username} created\n")
            return EXIT_OK
        if args.action == "password":
            try:
                changed = set_password(db, args.username, password)
            except UserUsageError as error:
                print(f"telediag: {error}", file=sys.stderr)
                return EXIT_USAGE
            if not changed:
                print(f"telediag: no live user {args.username!r}; see `telediag users list`", file=sys.stderr)
                return EXIT_FAILURE
            out.write(f"user {args.username} has a new password; its sessions have ended\n")
            return EXIT_OK
        if args.action == "disable":
            if not disable_user(db, args.username, time.time()):
                print(f"telediag: no live user {args.username!r}; see `telediag users list`", file=sys.stderr)
                return EXIT_FAILURE
            out.write(f"user {args.username} disabled; its sessions have ended\n")
            return EXIT_OK
        out.write(f"{'USERNAME':<24} {'ROLE':<16} {'ACCOUNT':<20} DISABLED\n")
        for u in list_users(db):
            out.write(f"{u['username']:<24} {u['role']:<16} {u['account'] or '-':<20} {u['disabled_at'] or '-'}\n")
        return EXIT_OK
    finally:
        db.close()
