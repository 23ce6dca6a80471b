"""Writes of the API (device entries, connectivity events), run on its single writer thread.

All or nothing: every item is checked first and every problem is reported by item number; only a
batch without problems reaches the store, in one transaction.
"""

from __future__ import annotations

from typing import Any

from telediag.api import policy
from telediag.api.auth import Principal
from telediag.api.errors import bad_request, invalid_items
from telediag.api.pseudonyms import Pseudonymiser
from telediag.api.reads import account_names
from telediag.diagnostics.connectivity_events import ConnectivityEvent, InvalidEvent, parse_event
from telediag.registry.entries import IMPORT_COLUMNS, DeviceEntry, InvalidEntry, parse_entry
from telediag.registry.repository import save
from telediag.store.connectivity import save_events
from telediag.store.database import Connection

DEVICE_FIELDS = (*IMPORT_COLUMNS, "install_profile")
IDENTIFIERS = ("imei", "iccid")
"""Fields that must come as JSON strings: as a number an identifier loses its leading zeros, and an
ICCID (up to 22 digits) does not fit the doubles many JSON libraries turn numbers into."""


def as_items(body: Any, kind: str) -> list[Any]:
    """One object or a list of them, as a list."""
    if isinstance(body, dict):
        return [body]
    if isinstance(body, list) and body:
        return body
    raise bad_request(f"send one {kind} object or a non-empty list of them", code=f"invalid_{kind}s")


def _cell(key: str, value: Any) -> tuple[str | None, str | None]:
    """A JSON value as the text a CSV cell would hold (the registry checks work on text), and the
    problem of its JSON type, if any."""
    if value is None or isinstance(value, str):
        return value, None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if key in IDENTIFIERS:
        problem = f"{key} must be a JSON string of digits such as \"356307042441013\", not a " + (
            "number (it would lose leading zeros and digits)" if number else type(value).__name__)
        return (str(value) if number else None), problem
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    if number:
        return str(value), None
    return None, f"{key} must be text, a number or a boolean"


def create_devices(
    db: Connection, items: list[Any], principal: Principal, pseudonyms: Pseudonymiser, now: float
) -> dict[str, int]:
    """``POST /devices``: register or complete device entries, merging as the CSV import does."""
    problems: list[str] = []
    entries: list[DeviceEntry] = []
    seen: dict[str, int] = {}
    names: list[str] | None = None

    def known_names() -> list[str]:
        nonlocal names
        if names is None:
            names = account_names(db)
        return names

    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            problems.append(f"device {number}: must be a JSON object")
            continue
        own: list[str] = []
        unknown = sorted(set(item) - set(DEVICE_FIELDS))
        if unknown:
            shown = ", ".join(name[:40] for name in unknown[:10])
            own.append(f"unknown field(s) {shown}; known: {', '.join(DEVICE_FIELDS)}")
        row: dict[str, Any] = {}
        for key in DEVICE_FIELDS:
            row[key], problem = _cell(key, item.get(key))
            if problem is not None:
                own.append(problem)
        own += policy.written_account_problems(principal, row, known_names, pseudonyms)
        try:
            entry = parse_entry(row)
        except InvalidEntry as error:
            own += error.problems
        else:
            if entry.imei in seen:
                own.append(f"imei {entry.imei} already in device {seen[entry.imei]}")
            seen.setdefault(entry.imei, number)
            entries.append(entry)
        problems += [f"device {number}: {problem}" for problem in own]
    if problems:
        raise invalid_items("devices", problems)
    result = save(db, entries, now, "api")
    return {"rows": result.rows, "devices_added": result.devices_added,
            "devices_updated": result.devices_updated, "accounts_added": result.accounts_added}


def store_events(db: Connection, items: list[Any], now: float) -> dict[str, int]:
    """``POST /connectivity/events``: check all, then store without duplicates."""
    events: list[ConnectivityEvent] = []
    problems: list[str] = []
    for number, item in enumerate(items, start=1):
        try:
            events.append(parse_event(item, now))
        except InvalidEvent as error:
            problems += [f"event {number}: {problem}" for problem in error.problems]
    if problems:
        raise invalid_items("events", problems)
    return {"received": len(events), "stored": save_events(db, events, now)}
