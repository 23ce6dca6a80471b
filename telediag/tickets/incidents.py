"""Automatic incidents: one ticket per (device, problem), enriched while the finding lasts, resolved
when it clears, reopened when it recurs; many devices failing together become one outage parent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import orjson

from protocols.record import iso_utc
from telediag.config import TicketsConfig
from telediag.diagnostics.catalogue import FINDINGS
from telediag.diagnostics.findings import Transition
from telediag.isolation import each_isolated
from telediag.store.database import Connection, transaction
from telediag.tickets import repository as repo
from telediag.tickets.classify import classify
from telediag.tickets.lifecycle import Lifecycle
from telediag.tickets.model import ACTIVE_STATES, CORRELATED_CODES
from telediag.tickets.routing import priority

SYSTEM = "system"


def _device(db: Connection, imei: str) -> dict[str, Any]:
    cursor = db.execute(
        "SELECT d.account, d.vehicle_plate, coalesce(a.vip, 0) FROM devices d "
        "LEFT JOIN accounts a ON a.name = d.account WHERE d.imei = ?", (imei,))
    found = cursor.fetchone()
    if not found:
        return {"account": None, "plate": None, "vip": False}
    return {"account": found[0], "plate": found[1], "vip": bool(found[2])}


def _finding_dict(transition: Transition) -> dict[str, Any]:
    f = transition.finding
    return {"imei": f.imei, "code": f.code, "first_seen": f.first_seen, "last_seen": f.last_seen,
            "count": f.count, "evidence": f.evidence}


class Incidents:
    """Turns finding transitions into ticket changes and correlates outages."""

    def __init__(self, lifecycle: Lifecycle, config: TicketsConfig) -> None:
        self.lifecycle = lifecycle
        self.config = config

    def on_transitions(self, db: Connection, transitions: Sequence[Transition], now: float) -> set[int]:
        """Apply findings that were raised, renewed or cleared; returns the tickets touched."""
        def apply(transition: Transition) -> int | None:
            if FINDINGS[transition.finding.code].informational:
                return None  # ACTIVATION_PENDING and LOW_GSM_SIGNAL never open tickets
            with transaction(db):
                return (self._cleared(db, transition, now) if transition.kind == "cleared"
                        else self._present(db, transition, now))

        applied = each_isolated(transitions, apply, "tickets from findings",
                                lambda t: f"{t.finding.code} of device {t.finding.imei}")
        touched = {ticket_id for ticket_id in applied if ticket_id is not None}
        touched |= self.correlate(db, now)
        return touched

    def _present(self, db: Connection, transition: Transition, now: float) -> int:
        f = transition.finding
        finding = _finding_dict(transition)
        open_ticket = repo.find_for_problem(db, f.imei, f.code, ACTIVE_STATES)
        if open_ticket is not None:
            ticket_id: int = open_ticket["id"]
            repo.record_finding(db, ticket_id, finding)
            repo.update_ticket(db, ticket_id, updated_at=now)
            if transition.kind == "raised":
                repo.add_timeline(db, ticket_id, now, "finding", SYSTEM,
                                  f"{f.code} seen again on {f.imei}")
                self.lifecycle.notify(db, ticket_id, "ticket.enriched", now)
            return ticket_id
        earlier = repo.find_for_problem(db, f.imei, f.code, ("resolved", "closed"))
        if earlier is not None and (earlier["resolved_at"] or now) >= now - self.config.reopen_window_s:
            ticket_id = earlier["id"]
            repo.record_finding(db, ticket_id, finding)
            self.lifecycle.move(db, ticket_id, "open", SYSTEM, now,
                                f"{f.code} came back on {f.imei}: reopened", staff=False)
            return ticket_id
        return self._open(db, finding, now)

    def _open(self, db: Connection, finding: dict[str, Any], now: float, parent_id: int | None = None) -> int:
        spec = FINDINGS[finding["code"]]
        device = _device(db, finding["imei"])
        kind = classify("", [finding["code"]])
        first_due, resolution_due = self.lifecycle.due_times(kind.topic, now)
        ticket_id = repo.insert_ticket(
            db, title=f"{spec.title}: {device['plate'] or finding['imei']}", origin="auto",
            category=kind.category, topic=kind.topic, team=spec.team,
            priority=priority(spec.severity, 1, device["vip"]), state="new", account=device["account"],
            problem=finding["code"], parent_id=parent_id, created_by=SYSTEM, created_at=now, updated_at=now,
            first_response_due=first_due, resolution_due=resolution_due,
        )
        repo.link_devices(db, ticket_id, [finding["imei"]])
        repo.record_finding(db, ticket_id, finding)
        repo.add_timeline(db, ticket_id, now, "created", SYSTEM,
                          f"opened automatically: {finding['code']} on {finding['imei']}")
        self.lifecycle.notify(db, ticket_id, "ticket.created", now)
        return ticket_id

    def _cleared(self, db: Connection, transition: Transition, now: float) -> int | None:
        f = transition.finding
        ticket = repo.find_for_problem(db, f.imei, f.code, ACTIVE_STATES)
        if ticket is None:
            return None
        ticket_id: int = ticket["id"]
        repo.record_finding(db, ticket_id, _finding_dict(transition))
        self.lifecycle.move(db, ticket_id, "resolved", SYSTEM, now,
                            f"the device recovered: {f.code} cleared at {iso_utc(f.cleared_at)}", staff=False,
                            kind="auto_resolved")
        return ticket_id

    def correlate(self, db: Connection, now: float) -> set[int]:
        """Group devices that failed together by operator, APN and area; one parent per large group."""
        since = now - self.config.mass_outage_window_s
        rows = db.execute(
            f"SELECT imei, code, first_seen, last_seen, count, evidence FROM findings WHERE active = 1 "
            f"AND code IN ({', '.join('?' * len(CORRELATED_CODES))}) AND first_seen >= ?",
            (*CORRELATED_CODES, since),
        ).fetchall()
        if len(rows) < self.config.mass_outage_min_devices:
            return set()
        groups: dict[tuple[str, str], set[str]] = defaultdict(set)
        codes: dict[str, tuple[Any, ...]] = {}
        for row in rows:
            imei = row[0]
            codes.setdefault(imei, row)
            for key in self._keys(db, imei):
                groups[key].add(imei)
        touched: set[int] = set()
        linked = {r[0] for r in db.execute(
            "SELECT d.imei FROM ticket_devices d JOIN tickets t ON t.id = d.ticket_id "
            f"WHERE t.problem = 'MASS_OUTAGE' AND t.state IN ({', '.join('?' * len(ACTIVE_STATES))})", ACTIVE_STATES)}
        for key, imeis in sorted(groups.items(), key=lambda item: -len(item[1])):
            fresh = imeis - linked
            if len(imeis) < self.config.mass_outage_min_devices or not fresh:
                continue
            with transaction(db):
                parent = self._parent(db, key, len(imeis), now)
                for imei in sorted(fresh):
                    self._link_child(db, parent, codes[imei], now)
                repo.update_ticket(db, parent, updated_at=now)
                repo.add_timeline(db, parent, now, "correlated", SYSTEM,
                                  f"{len(fresh)} device(s) linked; {len(repo.devices_of(db, parent))} affected in all")
                self.lifecycle.notify(db, parent, "ticket.enriched", now)
            linked |= fresh
            touched.add(parent)
        return touched

    def _keys(self, db: Connection, imei: str) -> list[tuple[str, str]]:
        """What a device shares with others: its operator, its SIM's APN, its area."""
        keys: list[tuple[str, str]] = []
        operator = db.execute(
            "SELECT operator FROM records WHERE imei = ? AND operator IS NOT NULL ORDER BY fix_time DESC LIMIT 1",
            (imei,)).fetchone()
        if operator:
            keys.append(("operator", str(operator[0])))
        apn = db.execute("SELECT s.apn FROM devices d JOIN sim_profiles s ON s.iccid = d.iccid WHERE d.imei = ?",
                         (imei,)).fetchone()
        if apn and apn[0]:
            keys.append(("apn", apn[0]))
        position = db.execute("SELECT last_lat, last_lon FROM device_state WHERE imei = ?", (imei,)).fetchone()
        if position and position[0] is not None:
            grid = self.config.area_grid_deg
            keys.append(("area", f"{position[0] // grid * grid:.2f},{position[1] // grid * grid:.2f}"))
        return keys

    def _parent(self, db: Connection, key: tuple[str, str], devices: int, now: float) -> int:
        correlation = f"{key[0]}={key[1]}"
        found = db.execute(
            f"SELECT id FROM tickets WHERE problem = 'MASS_OUTAGE' AND correlation_key = ? "
            f"AND state IN ({', '.join('?' * len(ACTIVE_STATES))})", (correlation, *ACTIVE_STATES)).fetchone()
        if found:
            parent_id: int = found[0]
            return parent_id
        first_due, resolution_due = self.lifecycle.due_times("critical_server_failure", now)
        parent = repo.insert_ticket(
            db, title=f"Mass outage: devices on {key[0]} {key[1]} fail together", origin="auto",
            category="system_problem", topic="critical_server_failure", team="it", priority="P1", state="new",
            problem="MASS_OUTAGE", correlation_key=correlation, created_by=SYSTEM, created_at=now, updated_at=now,
            first_response_due=first_due, resolution_due=resolution_due,
        )
        repo.record_finding(db, parent, {"imei": correlation, "code": "MASS_OUTAGE", "first_seen": now,
                                         "last_seen": now, "count": devices,
                                         "evidence": {key[0]: key[1], "devices": devices}})
        repo.add_timeline(db, parent, now, "created", SYSTEM,
                          f"opened automatically: {devices} devices sharing {key[0]} {key[1]} failed within "
                          f"{self.config.mass_outage_window_s / 60:g} min")
        self.lifecycle.notify(db, parent, "ticket.created", now)
        return parent

    def _link_child(self, db: Connection, parent: int, row: tuple[Any, ...], now: float) -> None:
        imei, code, first_seen, last_seen, count, evidence = row
        finding = {"imei": imei, "code": code, "first_seen": first_seen, "last_seen": last_seen, "count": count,
                   "evidence": orjson.loads(evidence)}
        child = repo.find_for_problem(db, imei, code, ACTIVE_STATES)
        child_id = child["id"] if child else self._open(db, finding, now, parent_id=parent)
        repo.update_ticket(db, child_id, parent_id=parent, updated_at=now)
        repo.add_timeline(db, child_id, now, "linked", SYSTEM, f"part of mass outage ticket {parent}")
        repo.link_devices(db, parent, [imei])
        repo.record_finding(db, parent, finding)
