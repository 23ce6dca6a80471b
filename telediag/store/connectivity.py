"""Connectivity events in the store: import files, save without duplicates, read back per SIM/device."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from protocols.record import iso_utc
from telediag.diagnostics.connectivity_events import FIELDS, ConnectivityEvent, InvalidEvent, parse_event
from telediag.problems import FileRejected
from telediag.store.database import Connection, transaction

MAX_EVENTS_PER_IMPORT = 1_000_000
MAX_LINE_BYTES = 64 * 1024

_INSERT = (
    "INSERT OR IGNORE INTO connectivity_events "
    "(at, iccid, imei, type, cause, apn, mcc, mnc, rat, received_at, digest) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class EventsRejected(FileRejected):
    """The event file has problems; nothing was stored. ``problems`` name each line."""


def _raw_events(path: Path) -> Iterable[tuple[int, Any]]:
    """(line number, raw event) from a CSV file (by extension) or JSON lines."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(handle)
            for row in reader:
                yield reader.line_num, {k: v for k, v in row.items() if k is not None}
            return
        for number, line in enumerate(handle, start=1):
            if len(line) > MAX_LINE_BYTES:
                yield number, ValueError(f"line longer than {MAX_LINE_BYTES} bytes")
                continue
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                yield number, ValueError(f"not JSON: {error.msg}")
                continue
            for item in value if isinstance(value, list) else [value]:
                yield number, item


def read_events_file(path: Path) -> list[ConnectivityEvent]:
    """Every event of a CSV or JSON-lines file, checked; raise EventsRejected with all problems."""
    events: list[ConnectivityEvent] = []
    problems: list[str] = []
    for number, raw in _raw_events(path):
        if len(events) + len(problems) >= MAX_EVENTS_PER_IMPORT:
            raise EventsRejected([f"more than {MAX_EVENTS_PER_IMPORT} events; split the file"])
        if isinstance(raw, ValueError):
            problems.append(f"line {number}: {raw}")
            continue
        if isinstance(raw, dict) and path.suffix.lower() == ".csv":
            raw = {k: v for k, v in raw.items() if k in FIELDS}  # extra CSV columns are allowed
        try:
            events.append(parse_event(raw))
        except InvalidEvent as error:
            problems.extend(f"line {number}: {problem}" for problem in error.problems)
    if problems:
        raise EventsRejected(problems)
    return events


def save_events(db: Connection, events: Iterable[ConnectivityEvent], received_at: float) -> int:
    """Store events in one transaction; returns how many were new (repeats are dropped)."""
    rows = [
        (e.at, e.iccid, e.imei, e.type, e.cause, e.apn, e.mcc, e.mnc, e.rat, received_at, e.digest)
        for e in events
    ]
    with transaction(db):
        before = db.total_changes
        db.executemany(_INSERT, rows)
        stored: int = db.total_changes - before
    return stored


def events_for(
    db: Connection, *, iccid: str | None = None, imei: str | None = None,
    since: float | None = None,
) -> list[dict[str, Any]]:
    """Events of one SIM or device (either matches), oldest first, in the documented schema."""
    query = ("SELECT at, iccid, imei, type, cause, apn, mcc, mnc, rat FROM connectivity_events"
             " WHERE (iccid = ? OR imei = ?)")
    params: list[Any] = [iccid, imei]
    if since is not None:
        query += " AND at >= ?"
        params.append(since)
    cursor = db.execute(query + " ORDER BY at, id", params)
    names = [d[0] for d in cursor.description]
    events = []
    for row in cursor:
        event = dict(zip(names, row, strict=True))
        event["at"] = iso_utc(event["at"])
        events.append(event)
    return events
