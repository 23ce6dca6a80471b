"""``/api/v1/contacts`` and ``/api/v1/notifications/rules``: an account's e-mail contacts and its
notification rules over HTTP.

Who may call them is ``telediag.api.policy.ENDPOINT_ROLES``: admin and the customer office for any
account, a customer for its own (another account's contact or rule is a 404, like an unknown one).
The technical and IT departments never see e-mail addresses, so these endpoints are closed to them.
Bodies are checked by the same functions as the CLI's; every problem is named in ``details``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from telediag.api.auth import Principal
from telediag.api.backend import ApiBackend
from telediag.api.errors import bad_request, not_found
from telediag.api.handlers import Call, Reply
from telediag.api.jsonio import read_json
from telediag.mail import contacts, rules
from telediag.mail.contacts import ContactError
from telediag.mail.rules import RuleError
from telediag.store.database import Connection, transaction

ID_DIGITS = 18


def _id(call: Call, kind: str) -> int:
    raw = call.captures["id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= ID_DIGITS and raw[0] != "0"):
        raise not_found(f"no {kind} {raw[:20]}")
    return int(raw)


def _body(api: ApiBackend, call: Call) -> dict[str, Any]:
    body = read_json(call.request, api.limits.max_body_bytes)
    call.query.finish()
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return body


def _account(who: Principal, requested: Any) -> Any:
    """The account a customer writes for is its own (naming another is a 404, as reading it is)."""
    if who.role != "customer":
        return requested
    if requested not in (None, who.account):
        raise not_found(f"no account {str(requested)[:40]}")
    return who.account


def _listed_account(call: Call) -> str | None:
    requested = call.query.text("account")
    call.query.finish()
    account: str | None = _account(call.who, requested)
    return account


def _visible(who: Principal, account: str, kind: str, item_id: int) -> None:
    if who.role == "customer" and account != who.account:
        raise not_found(f"no {kind} {item_id}")


class _Owned(Protocol):
    """A contact or a rule: it belongs to one account and is shown as a dict."""

    @property
    def account(self) -> str: ...

    def as_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class _Table:
    """How the list, show and delete endpoints reach one kind of an account's items."""

    kind: str
    plural: str
    listing: Callable[[Connection, str | None], Sequence[_Owned]]
    get: Callable[[Connection, int], _Owned | None]
    remove: Callable[[Connection, int], bool]


CONTACTS = _Table("contact", "contacts", contacts.listing, contacts.get, contacts.remove)
RULES = _Table("rule", "rules", rules.listing, rules.get, rules.remove)


async def _list(table: _Table, api: ApiBackend, call: Call) -> Reply:
    account = _listed_account(call)

    def run(reader: Any) -> dict[str, Any]:
        found = [item.as_dict() for item in table.listing(reader.connection, account)]
        return {table.plural: found, "count": len(found)}

    return Reply(200, await api.read(run))


def _owned(table: _Table, db: Connection, who: Principal, item_id: int) -> _Owned:
    """The item, if it exists and ``who`` may see it; a 404 otherwise (the same for both)."""
    found = table.get(db, item_id)
    if found is None:
        raise not_found(f"no {table.kind} {item_id}")
    _visible(who, found.account, table.kind, item_id)
    return found


async def _show(table: _Table, api: ApiBackend, call: Call) -> Reply:
    item_id, who = _id(call, table.kind), call.who
    call.query.finish()
    return Reply(200, await api.read(lambda reader: _owned(table, reader.connection, who, item_id).as_dict()))


async def _delete(table: _Table, api: ApiBackend, call: Call) -> Reply:
    item_id, who = _id(call, table.kind), call.who
    call.query.finish()

    def run(db: Connection) -> dict[str, Any]:
        with transaction(db):
            _owned(table, db, who, item_id)
            table.remove(db, item_id)
        return {"removed": item_id}

    return Reply(200, await api.write(run))


async def list_contacts(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/contacts[?account=]``."""
    return await _list(CONTACTS, api, call)


async def create_contact(api: ApiBackend, call: Call) -> Reply:
    """``POST /api/v1/contacts`` with ``{"account", "name", "email", "language", "permissions"}``."""
    body = _body(api, call)
    body["account"] = _account(call.who, body.get("account"))
    try:
        fields = contacts.parse_contact(body)
    except ContactError as error:
        raise bad_request(str(error), code="invalid_contact", details=error.problems) from None
    now = api.now()

    def run(db: Connection) -> dict[str, Any]:
        try:
            with transaction(db):
                return contacts.add(db, fields, now).as_dict()
        except ContactError as error:
            raise bad_request(str(error), code="invalid_contact", details=error.problems) from None

    return Reply(201, await api.write(run))


async def show_contact(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/contacts/{id}``."""
    return await _show(CONTACTS, api, call)


async def delete_contact(api: ApiBackend, call: Call) -> Reply:
    """``DELETE /api/v1/contacts/{id}``."""
    return await _delete(CONTACTS, api, call)


async def list_rules(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/notifications/rules[?account=]``."""
    return await _list(RULES, api, call)


async def create_rule(api: ApiBackend, call: Call) -> Reply:
    """``POST /api/v1/notifications/rules`` with ``{"account", "codes", "events", "min_duration_s",
    "quiet_hours", "timezone", "language", "recipients"}``."""
    body, who = _body(api, call), call.who
    body["account"] = _account(who, body.get("account"))
    staff = who.role != "customer"
    try:
        fields = rules.parse_rule(body, staff=staff)
    except RuleError as error:
        raise bad_request(str(error), code="invalid_rule", details=error.problems) from None
    now = api.now()
    by = f"{who.role}#{who.token_id}" if who.token_id is not None else who.role

    def run(db: Connection) -> dict[str, Any]:
        try:
            with transaction(db):
                return rules.add(db, fields, by, now, staff=staff).as_dict()
        except RuleError as error:
            raise bad_request(str(error), code="invalid_rule", details=error.problems) from None

    return Reply(201, await api.write(run))


async def show_rule(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/notifications/rules/{id}``."""
    return await _show(RULES, api, call)


async def delete_rule(api: ApiBackend, call: Call) -> Reply:
    """``DELETE /api/v1/notifications/rules/{id}`` (the messages it was holding go with it)."""
    return await _delete(RULES, api, call)


MAIL_HANDLERS = {
    "contacts.list": list_contacts,
    "contacts.create": create_contact,
    "contact.detail": show_contact,
    "contact.delete": delete_contact,
    "rules.list": list_rules,
    "rules.create": create_rule,
    "rule.detail": show_rule,
    "rule.delete": delete_rule,
}
MAIL_ROUTES = (
    (("api", "v1", "contacts"), {"GET": "contacts.list", "POST": "contacts.create"}),
    (("api", "v1", "contacts", "{id}"), {"GET": "contact.detail", "DELETE": "contact.delete"}),
    (("api", "v1", "notifications", "rules"), {"GET": "rules.list", "POST": "rules.create"}),
    (("api", "v1", "notifications", "rules", "{id}"), {"GET": "rule.detail", "DELETE": "rule.delete"}),
)
MAIL_ROLES = frozenset({"admin", "customer_office", "customer"})
"""Who manages contacts and rules: never the technical and IT departments (they see no e-mail addresses)."""
