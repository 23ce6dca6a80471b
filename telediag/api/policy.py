"""The one place that says what each role may call and what it may see (DESIGN.md, Roles).

Two layers, both here: a table endpoint -> roles (403 otherwise), and an output filter applied to
every successful response body. The filter works on key names, recursively, so data added later to a
response (finding evidence, self-check details) is covered without touching this file:

- customer: only its own account; another account's device answers 404 exactly like an unknown one,
  so a customer cannot even learn that an IMEI exists elsewhere. No raw frame excerpts.
- customer_office: never positions or telemetry (any key naming a coordinate, speed, voltage, ...).
- technical, it: accounts replaced by a keyed pseudonym, contact data (names, e-mails, phones,
  MSISDNs, plates) removed, e-mail addresses blanked inside any text, and ticket texts masked with
  the account's personal data (:func:`ticket_view`).
- admin: everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from telediag.api.auth import Principal
from telediag.api.errors import bad_request, forbidden, not_found
from telediag.api.pseudonyms import Pseudonymiser
from telediag.api.tokens import ROLES
from telediag.redaction import PersonalData, mask_text

_EVERYONE = frozenset(ROLES)
_SEES_TELEMETRY = frozenset({"admin", "technical", "it", "customer"})
PSEUDONYMISED = frozenset({"technical", "it"})
KB_WRITERS = frozenset({"admin", "customer_office", "technical"})
"""Who writes knowledge base articles (customers read the published ones)."""
MAIL_MANAGERS = frozenset({"admin", "customer_office", "customer"})
"""Who manages e-mail contacts and notification rules (``telediag.mail.api``): technical and IT never
see e-mail addresses."""
COMMAND_SENDERS = frozenset({"admin", "technical"})
"""Who sends commands to devices, and fixes from tickets (``telediag.commands.api``)."""
COMMAND_READERS = frozenset({"admin", "technical", "it", "customer"})
"""Who reads a device's command history: a customer its own devices' only; never the customer office
(a device's answers are telemetry)."""

TRAFFIC_READERS = frozenset({"admin", "technical", "it"})
"""Who reads raw traffic (``telediag.api.traffic_handlers``): bytes as devices sent them, for the people
who diagnose devices and the platform."""

ENDPOINT_ROLES: dict[str, frozenset[str]] = {
    "devices.list": _EVERYONE,
    "devices.create": frozenset({"admin", "customer_office", "technical"}),
    "device.detail": _EVERYONE,
    "device.records": _SEES_TELEMETRY,
    "device.journeys": _SEES_TELEMETRY,
    "device.selfcheck": _EVERYONE,
    "findings.list": _EVERYONE,
    "events.create": frozenset({"admin", "technical", "it"}),
    "events.list": frozenset({"admin", "technical", "it", "customer"}),
    "tickets.list": _EVERYONE,
    "tickets.create": _EVERYONE,
    "ticket.detail": _EVERYONE,
    "ticket.change": _EVERYONE,
    "ticket.comment": _EVERYONE,
    "ticket.close": frozenset({"admin", "customer_office", "customer"}),
    "ticket.suggested_answer": frozenset({"admin", "customer_office", "customer"}),
    "ticket.link_article": frozenset({"admin", "customer_office", "technical", "it"}),
    "kb.list": _EVERYONE,
    "kb.detail": _EVERYONE,
    "kb.create": KB_WRITERS,
    "kb.update": KB_WRITERS,
    "kb.gaps": frozenset({"admin", "customer_office", "technical", "it"}),
    **dict.fromkeys(("contacts.list", "contacts.create", "contact.detail", "contact.delete", "rules.list",
                     "rules.create", "rule.detail", "rule.delete"), MAIL_MANAGERS),
    "device.commands": COMMAND_READERS,
    "device.commands.create": COMMAND_SENDERS,
    "ticket.fix": COMMAND_SENDERS,
    "device.traffic": TRAFFIC_READERS,
    "traffic.unknown": TRAFFIC_READERS,
}
CUSTOMER_TICKET_STATES = frozenset({"open"})
"""The one state change a customer may make: reopening (disputing) a resolved or closed ticket."""
PUBLIC_ENDPOINTS = frozenset({"healthz"})

# Key names are compared in snake_case ("lastLat", "last-lat" -> "last_lat"): a whole name from the
# KEYS sets, or any one of its words from the WORDS sets, removes the key with everything under it.
POSITION_KEYS = frozenset({
    "position", "positions", "location", "locations", "coordinates", "coords", "geometry", "track",
    "tracks", "route", "points", "waypoints", "bbox", "centroid", "polyline",
})
POSITION_WORDS = frozenset({"lat", "lon", "lng", "latitude", "longitude", "altitude", "course", "heading",
                            "geohash"})
TELEMETRY_KEYS = frozenset({
    "valid", "speed", "satellites", "sats", "hdop", "pdop", "ignition", "motion", "odometer_m",
    "attributes", "records", "telemetry", "io", "distance_m", "journeys", "gsm_signal_pct",
})
TELEMETRY_WORDS = frozenset({"kmh", "hdop", "pdop", "satellites", "odometer", "voltage", "ignition", "gsm",
                             "rssi"})
PERSONAL_KEYS = frozenset({
    "contact", "contacts", "email", "emails", "e_mail", "phone", "phones", "telephone", "mobile",
    "msisdn", "msisdns", "first_name", "last_name", "full_name", "person", "customer_name",
    "owner_name", "user_name", "username", "address", "postal_address", "street", "vehicle_plate",
    "plate", "license_plate", "licence_plate",
})
PERSONAL_WORDS = frozenset({"contact", "email", "phone", "msisdn", "plate", "driver"})
ACCOUNT_KEYS = frozenset({"account", "accounts", "account_name", "account_names"})
RAW_FRAME_KEYS = frozenset({"excerpt", "raw_frame", "frame_hex"})
"""Raw bytes a device sent: telemetry in its rawest form, for technical, IT and admin only."""
TICKET_TEXT_KEYS = ("title", "description")
"""Ticket fields written in free text (besides timeline texts and the rating reason)."""

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^a-z0-9]+")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_DROP_CACHE: dict[tuple[str, str], bool] = {}


def check_allowed(principal: Principal, endpoint: str) -> None:
    """403 unless the principal's role may call ``endpoint``."""
    if principal.role not in ENDPOINT_ROLES.get(endpoint, frozenset()):
        raise forbidden(f"a {principal.role} token may not use this endpoint")


def sees_positions(principal: Principal) -> bool:
    """Whether positions and telemetry may reach this principal at all."""
    return principal.role in _SEES_TELEMETRY


def check_device_visible(principal: Principal, imei: str, device: dict[str, Any] | None) -> dict[str, Any]:
    """The device if this principal may know of it; 404 for unknown and for other accounts' devices."""
    if device is None or (principal.role == "customer" and device.get("account") != principal.account):
        raise not_found(f"no device {imei}")
    return device


def account_filter(
    principal: Principal, requested: str | None, names: Callable[[], Iterable[str]], pseudonyms: Pseudonymiser
) -> set[str] | None:
    """Account names a listing is limited to (None: no limit) from the caller and ``?account=``."""
    if principal.role == "customer":
        own = principal.account
        return {own} if own is not None and requested in (None, own) else set()
    if requested is None:
        return None
    if principal.role in PSEUDONYMISED:
        if not Pseudonymiser.looks_like(requested):
            raise bad_request("give the account as its pseudonym (acct-...), as the API shows it",
                              code="invalid_parameter")
        return pseudonyms.resolve(requested, names())
    return {requested}


def written_account_problems(
    principal: Principal, row: dict[str, Any], names: Callable[[], Iterable[str]], pseudonyms: Pseudonymiser
) -> list[str]:
    """Check (and for pseudonymised roles, translate in ``row``) the account side of a device write.

    Technical staff never see account names, so they name an existing account by its pseudonym and may
    not create accounts or change account plans (coverage, home country: the customer office's job).
    """
    if principal.role not in PSEUDONYMISED:
        return []
    problems = [f"{key} is set by the customer office" for key in ("coverage", "home_country")
                if row.get(key) not in (None, "")]
    account = row.get("account")
    if account not in (None, ""):
        matches = pseudonyms.resolve(str(account), names()) if Pseudonymiser.looks_like(str(account)) else set()
        if len(matches) != 1:
            problems.append(f"account {account!r} is not a known account pseudonym (acct-...)")
        else:
            row["account"] = matches.pop()
    return problems


def filter_body(principal: Principal, body: Any, pseudonyms: Pseudonymiser) -> Any:
    """What of ``body`` this principal may receive (a new structure; ``body`` is not changed)."""
    if principal.role == "customer_office":
        return _without(body, "office")
    if principal.role == "customer":
        return _without(body, "frames")
    if principal.role in PSEUDONYMISED:
        return _depersonalised(body, pseudonyms)
    return body


CUSTOMER_HIDDEN_TIMELINE = frozenset({"sla_breach", "quality_follow_up", "correlated"})
"""Timeline entries about the desk's own work (its SLA, its quality checks, outage correlation)."""
CUSTOMER_CREATED_TEXT = "Ticket opened."
"""What a customer reads for a ticket's creation: the classifier's reasons are for staff."""


def _customer_timeline(document: dict[str, Any]) -> dict[str, Any]:
    view = dict(document)
    view["timeline"] = [
        {**entry, "text": CUSTOMER_CREATED_TEXT} if entry.get("kind") == "created" else entry
        for entry in view.get("timeline") or [] if entry.get("kind") not in CUSTOMER_HIDDEN_TIMELINE
    ]
    return view


def ticket_view(principal: Principal, document: dict[str, Any], personal: Callable[[], PersonalData]) -> dict[str, Any]:
    """A ticket as this principal may read its free text: for technical and IT, the title, description,
    timeline and rating reason with the account's plates (named as their devices instead), contact
    names, e-mail addresses and phone-like numbers masked (``telediag.redaction``); for a customer,
    the timeline without the desk's internal entries and without the classifier's reasons.

    ``personal`` loads the account's personal data; it is only called for those roles.
    """
    if principal.role == "customer":
        return _customer_timeline(document)
    if principal.role not in PSEUDONYMISED:
        return document
    data = personal()
    view = dict(document)
    for key in TICKET_TEXT_KEYS:
        if isinstance(view.get(key), str):
            view[key] = mask_text(view[key], data)
    view["timeline"] = [
        {**entry, "text": mask_text(entry["text"], data)} if isinstance(entry.get("text"), str) else entry
        for entry in view.get("timeline") or []
    ]
    rating = view.get("rating")
    if isinstance(rating, dict) and isinstance(rating.get("reason"), str):
        view["rating"] = {**rating, "reason": mask_text(rating["reason"], data)}
    return view


def _snake(key: str) -> str:
    return _SEPARATORS.sub("_", _CAMEL.sub("_", key).lower()).strip("_")


def _drops(key: Any, rule: str) -> bool:
    """Whether a key is removed under ``rule`` ("office": positions, telemetry and raw frames;
    "frames": raw frames only; "personal")."""
    if not isinstance(key, str):
        return False
    cached = _DROP_CACHE.get((key, rule))
    if cached is not None:
        return cached
    name = _snake(key)
    words = set(name.split("_"))
    if rule == "office":
        drop = (name in POSITION_KEYS or name in TELEMETRY_KEYS or name in RAW_FRAME_KEYS
                or bool(words & POSITION_WORDS) or bool(words & TELEMETRY_WORDS))
    elif rule == "frames":
        drop = name in RAW_FRAME_KEYS
    else:
        drop = name in PERSONAL_KEYS or bool(words & PERSONAL_WORDS)
    if len(_DROP_CACHE) < 10_000:
        _DROP_CACHE[(key, rule)] = drop
    return drop


def _without(value: Any, rule: str) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, rule) for k, v in value.items() if not _drops(k, rule)}
    if isinstance(value, (list, tuple)):
        return [_without(v, rule) for v in value]
    return value


def _depersonalised(value: Any, pseudonyms: Pseudonymiser) -> Any:
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if _drops(key, "personal"):
                continue
            if isinstance(key, str) and _snake(key) in ACCOUNT_KEYS:
                out[key] = _pseudonymised(item, pseudonyms)
            else:
                out[key] = _depersonalised(item, pseudonyms)
        return out
    if isinstance(value, (list, tuple)):
        return [_depersonalised(v, pseudonyms) for v in value]
    if isinstance(value, str) and "@" in value:
        return _EMAIL.sub("[e-mail removed]", value)
    return value


def _pseudonymised(value: Any, pseudonyms: Pseudonymiser) -> Any:
    """An account value in pseudonym form: a name, a list of names, or an account object."""
    if isinstance(value, str):
        return value if Pseudonymiser.looks_like(value) else pseudonyms.account(value)
    if isinstance(value, (list, tuple)):
        return [_pseudonymised(v, pseudonyms) for v in value]
    if isinstance(value, dict):
        cleaned = _depersonalised(value, pseudonyms)
        if isinstance(cleaned.get("name"), str):
            cleaned["name"] = _pseudonymised(cleaned["name"], pseudonyms)
        return cleaned
    return value


def check_ticket_change(principal: Principal, state: str) -> None:
    """Customers may only reopen; every other move is staff work (403)."""
    if principal.role == "customer" and state not in CUSTOMER_TICKET_STATES:
        raise forbidden("customers may reopen a ticket; other changes are made by staff")
