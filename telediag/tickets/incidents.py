"""Automatic incidents: one ticket per (device, problem), enriched while the finding lasts, resolved
when it clears, reopened when it recurs; many devices whose failures began together become one outage
parent (which devices, from when: :mod:`telediag.tickets.outages`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson

from protocols.record import iso_utc
from telediag.config import TicketsConfig
from telediag.diagnostics.catalogue import FINDINGS
from telediag.diagnostics.findings import Transition
from telediag.diagnostics.hints import readable_time
from telediag.isolation import each_isolated
from telediag.store.database import Connection, transaction
from telediag.tickets import outages
from telediag.tickets import repository as repo
from telediag.tickets.classify import classify
from telediag.tickets.lifecycle import Lifecycle
from telediag.tickets.model import ACTIVE_STATES, CORRELATED_CODES
from telediag.tickets.outages import NETWORK_REJECTED, Device, Onset, Outage, Rules
from telediag.tickets.routing import priority

SYSTEM = "system"
OUTAGE = "MASS_OUTAGE"
_CHUNK = 500
_WITNESSES = 20
"""Devices heard since a group fell silent that are asked whether they were heard meanwhile."""
"""Devices per ``IN (...)`` list."""
_DEVICES = """
SELECT d.imei, d.registered_at, a.home_country, s.apn, st.last_seen, st.last_lat, st.last_lon
FROM devices d LEFT JOIN accounts a ON a.name = d.account LEFT JOIN sim_profiles s ON s.iccid = d.iccid
LEFT JOIN device_state st ON st.imei = d.imei WHERE d.imei IN ({marks})
"""
_EVENTS = ("SELECT at, type, cause, apn, mcc, mnc, rat FROM connectivity_events "
           "WHERE (imei = ? OR iccid = ?) AND at >= ? ORDER BY at, id")


def _device(db: Connection, imei: str) -> dict[str, Any]:
    cursor = db.execute(
        "SELECT d.account, d.vehicle_plate, coalesce(a.vip, 0) FROM devices d "
        "LEFT JOIN accounts a ON a.name = d.account WHERE d.imei = ?", (imei,))
    found = cursor.fetchone()
    if not found:
        return {"account": None, "plate": None, "vip": False}
    return {"account": found[0], "plate": found[1], "vip": bool(found[2])}


@contextmanager
def _savepoint(db: Connection, name: str = "ticket_change") -> Iterator[None]:
    """One item's changes inside the caller's transaction, undone alone when the item fails, so the
    others still commit with it (and PostgreSQL accepts statements again after the error)."""
    db.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        db.execute(f"ROLLBACK TO SAVEPOINT {name}")
        db.execute(f"RELEASE SAVEPOINT {name}")
        raise
    db.execute(f"RELEASE SAVEPOINT {name}")


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _finding_dict(transition: Transition) -> dict[str, Any]:
    f = transition.finding
    return {"imei": f.imei, "code": f.code, "first_seen": f.first_seen, "last_seen": f.last_seen,
            "count": f.count, "evidence": f.evidence}


def _shared(key: tuple[str, str], country: str | None) -> str:
    """``operator 26003 (PL)``, ``APN fleet.example``, ``area 52.00,21.00``."""
    kind, value = key
    return f"operator {value}" + (f" ({country})" if country else "") if kind == "operator" else (
        f"APN {value}" if kind == "apn" else f"{kind} {value}")


class Incidents:
    """Turns finding transitions into ticket changes and correlates outages."""

    def __init__(self, lifecycle: Lifecycle, config: TicketsConfig) -> None:
        self.lifecycle = lifecycle
        self.config = config
        self.rules = Rules(config.mass_outage_min_devices, config.mass_outage_window_s, config.mass_outage_lookback_s)

    def on_transitions(self, db: Connection, transitions: Sequence[Transition], now: float) -> set[int]:
        """Apply findings that were raised, renewed or cleared, all in one transaction (a failing one is
        undone alone and logged); then correlate outages. Returns the tickets touched."""
        wanted = [t for t in transitions  # informational findings never open tickets
                  if t.finding.code not in FINDINGS or not FINDINGS[t.finding.code].informational]

        def apply(transition: Transition) -> int | None:
            with _savepoint(db):
                return (self._cleared(db, transition, now) if transition.kind == "cleared"
                        else self._present(db, transition, now))

        touched: set[int] = set()
        if wanted:
            with transaction(db):
                applied = each_isolated(wanted, apply, "tickets from findings",
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
        if f.code in CORRELATED_CODES:  # the network rejects it in an outage: that ticket is about this too
            rejected = repo.find_for_problem(db, f.imei, NETWORK_REJECTED, ACTIVE_STATES)
            if rejected is not None:
                rejected_id: int = rejected["id"]
                repo.record_finding(db, rejected_id, finding)
                repo.update_ticket(db, rejected_id, updated_at=now)
                return rejected_id
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

    # -- outages -------------------------------------------------------------------------------------

    def correlate(self, db: Connection, now: float) -> set[int]:
        """Group devices whose failures began within one window and that share an operator, APN or
        area; one P1 parent per large group, the devices' tickets as its children."""
        touched = self._recover_network_children(db, now)
        onsets = self._onsets(db, now)
        if len({o.imei for o in onsets}) < self.rules.min_devices:
            return touched
        linked = {r[0] for r in db.execute(
            "SELECT d.imei FROM ticket_devices d JOIN tickets t ON t.id = d.ticket_id "
            f"WHERE t.problem = ? AND t.state IN ({_marks(ACTIVE_STATES)})", (OUTAGE, *ACTIVE_STATES))}
        for group in outages.outages(onsets, self.rules):
            fresh = [onset for onset in group.onsets if onset.imei not in linked]
            if not fresh or (outages.needs_witness(group) and not self._others_heard(db, group)):
                continue
            with transaction(db):
                parent = self._parent(db, group, now)
                for onset in fresh:
                    self._link(db, parent, onset, now)
                devices = repo.devices_of(db, parent)
                self._record_outage(db, parent, group, len(devices), now)
                repo.update_ticket(db, parent, updated_at=now)
                repo.add_timeline(db, parent, now, "correlated", SYSTEM,
                                  f"{len(fresh)} device(s) linked; {len(devices)} affected in all")
                self.lifecycle.notify(db, parent, "ticket.enriched", now)
            linked |= {onset.imei for onset in fresh}
            touched.add(parent)
        return touched

    def _others_heard(self, db: Connection, group: Outage) -> bool:
        """Whether the store took records from devices outside the group while the group fell silent
        (within a window after its last onset): if not, the silence was the service's own (stopped,
        restarted, cut off), not an operator's. A few devices heard since are asked, by the arrival index."""
        start = group.onsets[-1].at
        end = start + self.rules.window_s
        witnesses = db.execute("SELECT imei FROM device_state WHERE last_seen > ? ORDER BY last_seen DESC LIMIT ?",
                               (start, _WITNESSES + len(group.onsets))).fetchall()
        return any(db.execute("SELECT 1 FROM records WHERE imei = ? AND server_time > ? AND server_time <= ? LIMIT 1",
                              (imei, start, end)).fetchone()
                   for imei, in witnesses if imei not in group.imeis)

    def _onsets(self, db: Connection, now: float) -> list[Onset]:
        """Every failure that began within the lookback: correlated findings and home-network rejects."""
        since = now - self.rules.lookback_s
        rows = [
            {"imei": imei, "code": code, "first_seen": first, "last_seen": last, "count": count,
             "evidence": orjson.loads(evidence)}
            for imei, code, first, last, count, evidence in db.execute(
                "SELECT imei, code, first_seen, last_seen, count, evidence FROM findings WHERE active = 1 "
                f"AND code IN ({_marks(CORRELATED_CODES)}) AND first_seen >= ?", (*CORRELATED_CODES, since))
        ]  # a failure is found after it began: one found before the lookback began before it too
        rejecting: dict[str, str] = {}
        iccids: set[str] = set()
        for imei, iccid in db.execute(
            f"SELECT DISTINCT imei, iccid FROM connectivity_events WHERE type IN ({_marks(outages.REJECTS)}) "
            "AND at >= ?", (*outages.REJECTS, since)):
            if imei:
                rejecting[imei] = iccid or ""
            elif iccid:
                iccids.add(iccid)
        for chunk in _chunks(sorted(iccids)):
            for imei, iccid in db.execute(f"SELECT imei, iccid FROM devices WHERE iccid IN ({_marks(chunk)})", chunk):
                rejecting.setdefault(imei, iccid)
        if len({row["imei"] for row in rows} | set(rejecting)) < self.rules.min_devices:
            return []
        devices = self._devices(db, sorted({row["imei"] for row in rows} | set(rejecting)), {r["imei"] for r in rows})
        events = {imei: self._events(db, imei, iccid, since - self.rules.lookback_s)
                  for imei, iccid in rejecting.items()}
        return (outages.finding_onsets(rows, devices, now, self.rules)
                + outages.network_onsets(events, devices, now, self.rules))

    def _devices(self, db: Connection, imeis: Sequence[str], with_findings: set[str]) -> dict[str, Device]:
        grid = self.config.area_grid_deg
        found: dict[str, Device] = {}
        for chunk in _chunks(imeis):
            for imei, registered, home, apn, last_seen, lat, lon in db.execute(
                    _DEVICES.format(marks=_marks(chunk)), chunk):
                area = f"{lat // grid * grid:.2f},{lon // grid * grid:.2f}" if lat is not None and lon is not None \
                    else None
                operator = None
                if imei in with_findings:  # the network of its latest record (a reject names its own)
                    latest = db.execute("SELECT operator FROM records WHERE imei = ? AND operator IS NOT NULL "
                                        "ORDER BY fix_time DESC LIMIT 1", (imei,)).fetchone()
                    operator = str(latest[0]) if latest else None
                found[imei] = Device(imei, registered, home, apn, operator, area, last_seen)
        return found

    @staticmethod
    def _events(db: Connection, imei: str, iccid: str, since: float) -> list[dict[str, Any]]:
        return [dict(zip(("at", "type", "cause", "apn", "mcc", "mnc", "rat"), row, strict=True))
                for row in db.execute(_EVENTS, (imei, iccid, since))]

    def _parent(self, db: Connection, group: Outage, now: float) -> int:
        correlation = f"{group.key[0]}={group.key[1]}"
        found = db.execute(
            f"SELECT id FROM tickets WHERE problem = ? AND correlation_key = ? AND state IN ({_marks(ACTIVE_STATES)})",
            (OUTAGE, correlation, *ACTIVE_STATES)).fetchone()
        if found:
            parent_id: int = found[0]
            return parent_id
        summary = group.summary()
        shared = _shared(group.key, summary.get("country"))
        since = readable_time(iso_utc(group.onset))
        first_due, resolution_due = self.lifecycle.due_times("critical_server_failure", now)
        parent = repo.insert_ticket(
            db, title=f"Mass outage: devices on {shared} fail together since {since}", origin="auto",
            category="system_problem", topic="critical_server_failure", team="it", priority="P1", state="new",
            problem=OUTAGE, correlation_key=correlation, created_by=SYSTEM, created_at=now, updated_at=now,
            first_response_due=first_due, resolution_due=resolution_due,
        )
        repo.add_timeline(db, parent, now, "created", SYSTEM,
                          f"opened automatically: {len(group.onsets)} devices sharing {shared} began failing "
                          f"within {self.config.mass_outage_window_s / 60:g} min from {since}")
        self._record_outage(db, parent, group, len(group.onsets), now)
        self.lifecycle.notify(db, parent, "ticket.created", now)
        return parent

    @staticmethod
    def _record_outage(db: Connection, parent: int, group: Outage, devices: int, now: float) -> None:
        """The parent's own finding: what the devices share, since when, how many, which failures."""
        summary = group.summary()
        known = db.execute("SELECT first_seen, evidence FROM ticket_findings WHERE ticket_id = ? AND code = ?",
                           (parent, OUTAGE)).fetchone()
        first_seen = known[0] if known else now
        onset = min(group.onset, outages.finding_onset(orjson.loads(known[1]), None) or group.onset) if known \
            else group.onset
        summary.update(devices=devices, onset=iso_utc(onset), last_onset=iso_utc(summary["last_onset"]))
        repo.record_finding(db, parent, {"imei": f"{group.key[0]}={group.key[1]}", "code": OUTAGE,
                                         "first_seen": first_seen, "last_seen": now, "count": devices,
                                         "evidence": summary})

    def _link(self, db: Connection, parent: int, onset: Onset, now: float) -> None:
        """Put the device's ticket for this failure under the parent (opening one when it has none)."""
        if onset.source == NETWORK_REJECTED:
            detail = onset.detail
            finding = {"imei": onset.imei, "code": NETWORK_REJECTED, "first_seen": onset.at,
                       "last_seen": detail["last_reject_at"], "count": detail["rejects"],
                       "evidence": {**detail, "onset": iso_utc(onset.at),
                                    "first_reject_at": iso_utc(detail["first_reject_at"]),
                                    "last_reject_at": iso_utc(detail["last_reject_at"])}}
            child = next((ticket for code in (NETWORK_REJECTED, *CORRELATED_CODES)
                          if (ticket := repo.find_for_problem(db, onset.imei, code, ACTIVE_STATES))), None)
        else:
            finding = dict(onset.detail)
            child = repo.find_for_problem(db, onset.imei, onset.source, ACTIVE_STATES)
        if child is None:
            child_id = self._open(db, finding, now, parent_id=parent)
        else:
            child_id = child["id"]
            repo.record_finding(db, child_id, finding)
        repo.update_ticket(db, child_id, parent_id=parent, updated_at=now)
        repo.add_timeline(db, child_id, now, "linked", SYSTEM, f"part of mass outage ticket {parent}")
        repo.link_devices(db, parent, [onset.imei])
        repo.record_finding(db, parent, finding)

    def _recover_network_children(self, db: Connection, now: float) -> set[int]:
        """Resolve the tickets of devices the network rejected once it accepts them again (a success
        event, or data, after the last reject); the parent follows when all its children are resolved."""
        touched: set[int] = set()
        children = db.execute(
            "SELECT t.id, d.imei, f.first_seen FROM tickets t JOIN ticket_devices d ON d.ticket_id = t.id "
            "JOIN ticket_findings f ON f.ticket_id = t.id AND f.imei = d.imei AND f.code = t.problem "
            f"WHERE t.problem = ? AND t.state IN ({_marks(ACTIVE_STATES)})", (NETWORK_REJECTED, *ACTIVE_STATES),
        ).fetchall()
        imeis = sorted({imei for _, imei, _ in children})
        devices = self._devices(db, imeis, set())
        iccids: dict[str, str] = {}
        for chunk in _chunks(imeis):
            iccids.update(db.execute(f"SELECT imei, iccid FROM devices WHERE imei IN ({_marks(chunk)})", chunk))
        for ticket_id, imei, onset in children:
            device = devices.get(imei, Device(imei))
            events = self._events(db, imei, iccids.get(imei) or "", onset - self.rules.lookback_s)
            worked, rejects = outages.rejected_since(events, device)
            if worked is None or rejects:
                continue
            with transaction(db):
                self.lifecycle.move(db, ticket_id, "resolved", SYSTEM, now,
                                    f"the network accepts the device again (last worked {iso_utc(worked)})",
                                    staff=False, kind="auto_resolved")
            touched.add(ticket_id)
        return touched
