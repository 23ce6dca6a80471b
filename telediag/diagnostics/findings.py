"""Findings in the store: raised with evidence, updated while they last, cleared on recovery.

At most one active finding exists per (device, code) (a partial unique index guarantees it); a
cleared one stays as history with ``cleared_at``. Every change is returned as a :class:`Transition`
so tickets and notifications can follow without re-reading the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from protocols.record import iso_utc
from telediag.diagnostics.catalogue import FINDINGS
from telediag.diagnostics.checks import Verdicts
from telediag.store.database import Connection, transaction

_COLUMNS = "id, imei, code, active, first_seen, last_seen, count, evidence, cleared_at"


@dataclass(frozen=True)
class Finding:
    """One finding as stored."""

    id: int
    imei: str
    code: str
    active: bool
    first_seen: float
    last_seen: float
    count: int
    evidence: dict[str, Any]
    cleared_at: float | None

    def as_dict(self, hint: str | None = None) -> dict[str, Any]:
        """The API shape: ISO times, routing from the catalogue, the hint when given."""
        spec = FINDINGS[self.code]
        return {
            "imei": self.imei, "code": self.code, "team": spec.team, "severity": spec.severity,
            "title": spec.title, "active": self.active, "first_seen": iso_utc(self.first_seen),
            "last_seen": iso_utc(self.last_seen), "count": self.count, "evidence": self.evidence,
            "hint": hint, "cleared_at": iso_utc(self.cleared_at),
        }


@dataclass(frozen=True)
class Transition:
    """A finding that was raised, updated or cleared by one evaluation."""

    kind: Literal["raised", "updated", "cleared"]
    finding: Finding


def _finding(row: tuple[Any, ...]) -> Finding:
    fid, imei, code, active, first, last, count, evidence, cleared = row
    return Finding(fid, imei, code, bool(active), first, last, count, orjson.loads(evidence), cleared)


def active_findings(db: Connection, imei: str) -> dict[str, Finding]:
    """The device's active findings by code."""
    cursor = db.execute(f"SELECT {_COLUMNS} FROM findings WHERE imei = ? AND active = 1", (imei,))
    return {finding.code: finding for finding in map(_finding, cursor)}


def apply_verdicts(db: Connection, imei: str, verdicts: Verdicts, now: float) -> list[Transition]:
    """Raise, update or clear findings of one device in one transaction.

    Verdicts that change nothing (nothing found, and none of those codes active) open no transaction:
    most evaluations are of healthy devices, and on SQLite a write transaction waits for the ingest
    writer's lock. The diagnostics of the elected node are the only writer of findings, so what this
    read sees cannot change before the next evaluation."""
    if all(evidence is None for evidence in verdicts.values()) and not (verdicts.keys() & active_findings(db, imei)):
        return []
    transitions: list[Transition] = []
    with transaction(db):
        active = active_findings(db, imei)
        for code, evidence in verdicts.items():
            current = active.get(code)
            if evidence is not None:
                blob = orjson.dumps(evidence, default=str).decode()
                if current is None:
                    (finding_id,) = db.execute(
                        "INSERT INTO findings (imei, code, active, first_seen, last_seen, count, evidence) "
                        "VALUES (?, ?, 1, ?, ?, 1, ?) RETURNING id", (imei, code, now, now, blob),
                    ).fetchone()
                    finding = Finding(finding_id, imei, code, True, now, now, 1, orjson.loads(blob), None)
                    transitions.append(Transition("raised", finding))
                else:
                    db.execute(
                        "UPDATE findings SET last_seen = ?, count = count + 1, evidence = ? WHERE id = ?",
                        (now, blob, current.id),
                    )
                    finding = Finding(current.id, imei, code, True, current.first_seen, now,
                                      current.count + 1, orjson.loads(blob), None)
                    transitions.append(Transition("updated", finding))
            elif current is not None:
                db.execute("UPDATE findings SET active = 0, cleared_at = ? WHERE id = ?", (now, current.id))
                finding = Finding(current.id, imei, code, False, current.first_seen, current.last_seen,
                                  current.count, current.evidence, now)
                transitions.append(Transition("cleared", finding))
    return transitions


def list_findings(
    db: Connection, imeis: Iterable[str] | None = None, code: str | None = None,
    active: bool | None = True, limit: int = 10_000,
) -> list[Finding]:
    """Findings filtered by devices, code and state, newest first."""
    query = f"SELECT {_COLUMNS} FROM findings WHERE 1 = 1"
    params: list[Any] = []
    if imeis is not None:
        wanted = sorted(set(imeis))
        if not wanted:
            return []
        query += f" AND imei IN ({', '.join('?' * len(wanted))})"
        params.extend(wanted)
    if code is not None:
        query += " AND code = ?"
        params.append(code)
    if active is not None:
        query += " AND active = ?"
        params.append(int(active))
    query += " ORDER BY last_seen DESC, id DESC LIMIT ?"
    params.append(limit)
    return [_finding(row) for row in db.execute(query, params)]
