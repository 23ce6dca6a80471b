"""Tickets in SQLite: rows in, the DESIGN.md ticket document out. No rules here, only storage.

Callers hold the transaction; every function here runs inside it, so a ticket change, its timeline
entry and its notification commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from protocols.record import iso_utc
from telediag.store.database import Connection
from telediag.tickets.model import TicketNotFound


def insert_ticket(db: Connection, **values: Any) -> int:
    """A new ticket row; returns its id."""
    names = ", ".join(values)
    placeholders = ", ".join("?" * len(values))
    row = db.execute(f"INSERT INTO tickets ({names}) VALUES ({placeholders}) RETURNING id", tuple(values.values()))
    return int(row.fetchone()[0])


def update_ticket(db: Connection, ticket_id: int, **values: Any) -> None:
    """Set columns of one ticket."""
    assignments = ", ".join(f"{name} = ?" for name in values)
    db.execute(f"UPDATE tickets SET {assignments} WHERE id = ?", (*values.values(), ticket_id))


def row(db: Connection, ticket_id: int) -> dict[str, Any]:
    """The raw row of one ticket; TicketNotFound if there is none."""
    cursor = db.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
    found = cursor.fetchone()
    if found is None:
        raise TicketNotFound(f"no ticket {ticket_id}")
    return dict(zip((d[0] for d in cursor.description), found, strict=True))


def add_timeline(db: Connection, ticket_id: int, at: float, kind: str, by: str, text: str) -> None:
    """Append to a ticket's history (every change is one entry)."""
    db.execute(
        "INSERT INTO ticket_timeline (ticket_id, at, kind, by, text) VALUES (?, ?, ?, ?, ?)",
        (ticket_id, at, kind, by, text),
    )


def link_devices(db: Connection, ticket_id: int, imeis: Iterable[str]) -> None:
    """Attach devices to a ticket (repeats are ignored)."""
    db.executemany("INSERT OR IGNORE INTO ticket_devices (ticket_id, imei) VALUES (?, ?)",
                   [(ticket_id, imei) for imei in imeis])


def record_finding(db: Connection, ticket_id: int, finding: dict[str, Any]) -> None:
    """Attach or refresh a finding on a ticket: counts and the latest evidence."""
    db.execute(
        "INSERT INTO ticket_findings (ticket_id, imei, code, first_seen, last_seen, count, evidence) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ticket_id, imei, code) DO UPDATE SET "
        "last_seen = excluded.last_seen, count = excluded.count, evidence = excluded.evidence",
        (ticket_id, finding["imei"], finding["code"], finding["first_seen"], finding["last_seen"],
         finding["count"], orjson.dumps(finding["evidence"], default=str).decode()),
    )


def devices_of(db: Connection, ticket_id: int) -> list[str]:
    """IMEIs on a ticket."""
    return [r[0] for r in db.execute("SELECT imei FROM ticket_devices WHERE ticket_id = ? ORDER BY imei", (ticket_id,))]


def children_of(db: Connection, ticket_id: int) -> list[int]:
    """Ids of the tickets linked under a parent."""
    return [r[0] for r in db.execute("SELECT id FROM tickets WHERE parent_id = ? ORDER BY id", (ticket_id,))]


def find_for_problem(db: Connection, imei: str, code: str, states: Iterable[str]) -> dict[str, Any] | None:
    """The newest automatic ticket of (device, problem) in one of ``states``."""
    wanted = tuple(states)
    cursor = db.execute(
        "SELECT t.* FROM tickets t JOIN ticket_devices d ON d.ticket_id = t.id "
        f"WHERE d.imei = ? AND t.problem = ? AND t.state IN ({', '.join('?' * len(wanted))}) "
        "ORDER BY t.id DESC LIMIT 1",
        (imei, code, *wanted),
    )
    found = cursor.fetchone()
    return None if found is None else dict(zip((d[0] for d in cursor.description), found, strict=True))


def document(db: Connection, ticket_id: int) -> dict[str, Any]:
    """The ticket as DESIGN.md shapes it (plus account, problem and description for staff)."""
    t = row(db, ticket_id)
    findings = [
        {"imei": imei, "code": code, "first_seen": iso_utc(first), "last_seen": iso_utc(last), "count": count,
         "evidence": orjson.loads(evidence)}
        for imei, code, first, last, count, evidence in db.execute(
            "SELECT imei, code, first_seen, last_seen, count, evidence FROM ticket_findings "
            "WHERE ticket_id = ? ORDER BY first_seen, imei", (ticket_id,))
    ]
    timeline = [
        {"at": iso_utc(at), "kind": kind, "by": by, "text": text}
        for at, kind, by, text in db.execute(
            "SELECT at, kind, by, text FROM ticket_timeline WHERE ticket_id = ? ORDER BY id", (ticket_id,))
    ]
    rating = None if t["rating"] is None else {"value": t["rating"], "reason": t["rating_reason"]}
    return {
        "id": t["id"], "title": t["title"], "origin": t["origin"], "category": t["category"],
        "topic": t["topic"], "team": t["team"], "priority": t["priority"], "state": t["state"],
        "account": t["account"], "problem": t["problem"], "description": t["description"],
        "language": t["language"], "devices": devices_of(db, ticket_id), "findings": findings,
        "parent_id": t["parent_id"], "children": children_of(db, ticket_id),
        "sla": {
            "first_response_due": iso_utc(t["first_response_due"]), "resolution_due": iso_utc(t["resolution_due"]),
            "first_response_at": iso_utc(t["first_response_at"]), "breached": orjson.loads(t["breached"]),
            "paused": t["paused_since"] is not None,
        },
        "timeline": timeline, "rating": rating, "quality_follow_up": bool(t["quality_flag"]),
        "created_at": iso_utc(t["created_at"]), "updated_at": iso_utc(t["updated_at"]),
    }


def list_ids(
    db: Connection, *, account: str | None = None, accounts_only: bool = False,
    state: str | None = None, team: str | None = None, priority: str | None = None,
    origin: str | None = None, imei: str | None = None, topic: str | None = None,
    parent_id: int | None = None, limit: int = 1000,
) -> list[int]:
    """Ticket ids matching every given filter, newest first. ``accounts_only`` restricts to ``account``."""
    query = "SELECT DISTINCT t.id FROM tickets t LEFT JOIN ticket_devices d ON d.ticket_id = t.id WHERE 1 = 1"
    params: list[Any] = []
    for column, value in (("t.state", state), ("t.team", team), ("t.priority", priority),
                          ("t.origin", origin), ("d.imei", imei), ("t.topic", topic), ("t.parent_id", parent_id)):
        if value is not None:
            query += f" AND {column} = ?"
            params.append(value)
    if accounts_only or account is not None:
        query += " AND t.account = ?"
        params.append(account)
    query += " ORDER BY t.id DESC LIMIT ?"
    params.append(limit)
    return [r[0] for r in db.execute(query, params)]
