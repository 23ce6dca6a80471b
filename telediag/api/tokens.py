"""API bearer tokens: created by ``telediag tokens create``, stored only as a SHA-256 hash.

A token is ``secrets.token_urlsafe(32)``: 256 random bits. Guessing one, or finding one whose hash is
stored, is as hard as breaking SHA-256, so a plain hash is enough; slow password KDFs (bcrypt, scrypt)
exist to protect low-entropy human passwords and would only add latency to every request here.

Lookup is by hash through the unique index. Timing of that comparison can only tell an attacker
about the hash of what they sent, never about a stored token; the row found is compared again with
``hmac.compare_digest`` so the design stays constant-time wherever the secret side is compared.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from protocols.record import iso_utc
from telediag.store.database import Connection

ROLES = ("customer", "customer_office", "technical", "it", "admin")
"""Who may call the API (DESIGN.md, Roles); ``telediag.api.policy`` says what each may do."""

MAX_TOKEN_CHARS = 512
MAX_LABEL_CHARS = 200
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class TokenUsageError(ValueError):
    """The request for a token is wrong (unknown role, customer without account)."""


class UnknownAccount(LookupError):
    """A customer token names an account the registry does not have."""


@dataclass(frozen=True)
class StoredToken:
    """A token row as the API needs it (never the plaintext, which is not stored)."""

    id: int
    role: str
    account: str | None
    label: str | None
    revoked: bool


def hash_token(token: str) -> bytes:
    """SHA-256 of the token text: what the store keeps."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def create_token(
    db: Connection, role: str, account: str | None, label: str | None, now: float
) -> str:
    """Store a new token for ``role`` (and the customer's ``account``); return the plaintext once."""
    if role not in ROLES:
        raise TokenUsageError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if role == "customer" and not account:
        raise TokenUsageError("a customer token needs --account NAME (the customer's account)")
    if role != "customer" and account:
        raise TokenUsageError(f"--account is only for customer tokens; a {role} token sees every account")
    if label is not None and len(label) > MAX_LABEL_CHARS:
        raise TokenUsageError(f"--label is longer than {MAX_LABEL_CHARS} characters")
    if account is not None:
        if db.execute("SELECT 1 FROM accounts WHERE name = ?", (account,)).fetchone() is None:
            raise UnknownAccount(
                f"account {account!r} is not in the registry; add a device of it first "
                "(telediag devices add IMEI --account NAME)"
            )
    token = secrets.token_urlsafe(32)
    while token.startswith("-"):  # a leading dash reads as an option on command lines (--token -x...)
        token = secrets.token_urlsafe(32)
    db.execute(
        "INSERT INTO api_tokens (token_hash, role, account, label, created_at) VALUES (?, ?, ?, ?, ?)",
        (hash_token(token), role, account, label, now),
    )
    if db.in_transaction:
        db.commit()
    return token


def find_token(db: Connection, token: str) -> StoredToken | None:
    """The stored token matching ``token``, or None (unknown, malformed or of an unknown role)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    digest = hash_token(token)
    row = db.execute(
        "SELECT id, token_hash, role, account, label, revoked_at FROM api_tokens WHERE token_hash = ?",
        (digest,),
    ).fetchone()
    if row is None or not hmac.compare_digest(bytes(row[1]), digest) or row[2] not in ROLES:
        return None
    return StoredToken(row[0], row[2], row[3], row[4], row[5] is not None)


def revoke_token(db: Connection, token_id: int, now: float) -> bool:
    """Mark a token revoked (kept for the audit trail); False if no such live token."""
    cursor = db.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now, token_id)
    )
    if db.in_transaction:
        db.commit()
    revoked: bool = cursor.rowcount == 1
    return revoked


def list_tokens(db: Connection) -> list[dict[str, Any]]:
    """Every token without its hash, oldest first."""
    cursor = db.execute("SELECT id, role, account, label, created_at, revoked_at FROM api_tokens ORDER BY id")
    return [
        {"id": i, "role": role, "account": account, "label": label,
         "created_at": iso_utc(created), "revoked_at": iso_utc(revoked)}
        for i, role, account, label, created, revoked in cursor
    ]


def add_tokens_parser(commands: Any, add_store_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """``telediag tokens create|list|revoke``."""
    tokens = commands.add_parser("tokens", help="API bearer tokens: create, list, revoke")
    actions = tokens.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a token and print it (shown only this once)")
    add_store_options(create)
    create.add_argument("--role", required=True, help=f"one of {', '.join(ROLES)}")
    create.add_argument("--account", help="the account a customer token is limited to")
    create.add_argument("--label", help="a note saying who or what uses the token")
    listing = actions.add_parser("list", help="tokens with role, account and state (never the token)")
    add_store_options(listing)
    revoke = actions.add_parser("revoke", help="revoke a token by its id (see `telediag tokens list`)")
    add_store_options(revoke)
    revoke.add_argument("id", type=int)


def command_tokens(config: Any, args: argparse.Namespace, out: TextIO) -> int:
    """Run a ``tokens`` action; one-line message on stderr and exit 2 (usage) or 1 (failure)."""
    from telediag.store.database import open_database

    db = open_database(config.store).connect()
    try:
        if args.action == "create":
            try:
                token = create_token(db, args.role, args.account, args.label, time.time())
            except TokenUsageError as error:
                print(f"telediag: {error}", file=sys.stderr)
                return EXIT_USAGE
            except UnknownAccount as error:
                print(f"telediag: {error.args[0]}", file=sys.stderr)
                return EXIT_FAILURE
            out.write(token + "\n")
            return EXIT_OK
        if args.action == "list":
            out.write(f"{'ID':>4} {'ROLE':<16} {'ACCOUNT':<20} {'CREATED':<25} {'REVOKED':<25} LABEL\n")
            for t in list_tokens(db):
                out.write(f"{t['id']:>4} {t['role']:<16} {t['account'] or '-':<20} {t['created_at']:<25} "
                          f"{t['revoked_at'] or '-':<25} {t['label'] or '-'}\n")
            return EXIT_OK
        if not revoke_token(db, args.id, time.time()):
            print(f"telediag: no live token with id {args.id}; see `telediag tokens list`", file=sys.stderr)
            return EXIT_FAILURE
        out.write(f"token {args.id} revoked\n")
        return EXIT_OK
    finally:
        db.close()
