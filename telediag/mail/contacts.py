"""An account's contacts: the people who may write to support by e-mail, what they may ask about,
and the language they are answered in.

Synchronous and clock-free (each call takes the connection and ``now``); bodies from the CLI and the
API are checked by :func:`parse_contact`, which reports every problem at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from telediag.config.mail import ADDRESS
from telediag.languages import LANGUAGES
from telediag.store.database import Connection

PERMISSIONS = ("technical", "billing")
"""What a contact may ask about: the trackers and the service (technical), the contract and invoices
(billing)."""
MAX_NAME_CHARS = 200
_FIELDS = ("account", "name", "email", "language", "permissions")


class ContactError(ValueError):
    """A contact body or change was refused; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Contact:
    """One contact as stored."""

    id: int
    account: str
    name: str
    email: str
    language: str
    permissions: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The API's shape."""
        return {"id": self.id, "account": self.account, "name": self.name, "email": self.email,
                "language": self.language, "permissions": list(self.permissions)}


def normalise_address(address: str) -> str:
    """The stored form of an address: stripped and lower-cased (mail systems treat the domain without
    case, and in practice the local part too)."""
    return address.strip().lower()


def parse_contact(body: Mapping[str, Any]) -> dict[str, Any]:
    """A new contact's fields from a JSON-like body; ContactError listing every problem."""
    problems = [f"unknown field {str(key)[:40]!r}; known: {', '.join(_FIELDS)}" for key in body if key not in _FIELDS]
    account, name, email = body.get("account"), body.get("name"), body.get("email")
    language = body.get("language", "en")
    permissions = body.get("permissions", ["technical"])
    if not isinstance(account, str) or not account.strip():
        problems.append("account is required (the account's name)")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        problems.append(f"name is required, at most {MAX_NAME_CHARS} characters")
    if not isinstance(email, str) or not email.isascii() or not ADDRESS.fullmatch(email.strip()):
        problems.append("email must be an address like person@example.com")
    if language not in LANGUAGES:
        problems.append(f"language must be one of {', '.join(LANGUAGES)}")
    if isinstance(permissions, str):
        permissions = [part.strip() for part in permissions.split(",") if part.strip()]
    if not isinstance(permissions, list) or any(p not in PERMISSIONS for p in permissions):
        problems.append(f"permissions must be a list of {', '.join(PERMISSIONS)} (may be empty)")
    if problems:
        raise ContactError(problems)
    return {"account": str(account).strip(), "name": str(name).strip(), "email": normalise_address(str(email)),
            "language": language, "permissions": tuple(sorted(set(permissions)))}


def add(db: Connection, fields: Mapping[str, Any], now: float) -> Contact:
    """Store a contact parsed by :func:`parse_contact`; ContactError for an unknown account or an
    address the account already has."""
    if db.execute("SELECT 1 FROM accounts WHERE name = ?", (fields["account"],)).fetchone() is None:
        raise ContactError([f"no account {fields['account']!r}"])
    if db.execute("SELECT 1 FROM contacts WHERE account = ? AND email = ?",
                  (fields["account"], fields["email"])).fetchone() is not None:
        raise ContactError([f"account {fields['account']!r} already has a contact {fields['email']}"])
    (contact_id,) = db.execute(
        "INSERT INTO contacts (account, name, email, language, permissions, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (fields["account"], fields["name"], fields["email"], fields["language"],
         orjson.dumps(list(fields["permissions"])).decode(), now),
    ).fetchone()
    return Contact(int(contact_id), fields["account"], fields["name"], fields["email"], fields["language"],
                   tuple(fields["permissions"]))


def _contact(row: tuple[Any, ...]) -> Contact:
    contact_id, account, name, email, language, permissions = row
    return Contact(int(contact_id), account, name, email, language, tuple(orjson.loads(permissions)))


_COLUMNS = "id, account, name, email, language, permissions"


def listing(db: Connection, account: str | None = None) -> list[Contact]:
    """Contacts of one account (every account's with None), by account then id."""
    if account is None:
        rows = db.execute(f"SELECT {_COLUMNS} FROM contacts ORDER BY account, id")
    else:
        rows = db.execute(f"SELECT {_COLUMNS} FROM contacts WHERE account = ? ORDER BY id", (account,))
    return [_contact(row) for row in rows]


def get(db: Connection, contact_id: int) -> Contact | None:
    """One contact, or None."""
    row = db.execute(f"SELECT {_COLUMNS} FROM contacts WHERE id = ?", (contact_id,)).fetchone()
    return None if row is None else _contact(row)


def by_address(db: Connection, address: str) -> list[Contact]:
    """Every contact with this address (one person may be a contact of several accounts)."""
    rows = db.execute(f"SELECT {_COLUMNS} FROM contacts WHERE email = ? ORDER BY id", (normalise_address(address),))
    return [_contact(row) for row in rows]


def remove(db: Connection, contact_id: int) -> bool:
    """Delete a contact; False when there was none."""
    return bool(db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,)).rowcount)
