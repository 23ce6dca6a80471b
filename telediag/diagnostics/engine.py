"""The diagnostics engine: snapshot, checks, findings, on the store, on whatever thread calls it.

Synchronous and clock-free (every call takes ``now``), so tests drive it directly with a simulated
day; the Twisted side (:mod:`telediag.diagnostics.service`) only decides when and on which thread.

At fleet scale most work is skipped, never approximated: committed records are folded into rolling
per-device figures (:mod:`telediag.diagnostics.rolling`) and only a device whose verdicts can change
is evaluated from the store; the sweep runs the time checks over the whole fleet at once
(:mod:`telediag.diagnostics.fleet`) and evaluates only devices whose time verdict moves; the
installation checks (the 48 h history) run per device on their own cadence
(``installation_interval_s``), spread over the sweeps. The rolling state, the active findings and
the cadence live on the diagnostics thread (the one that calls :meth:`fold`, :meth:`check_devices`
and :meth:`sweep`).
Each calling thread gets its own connection (the diagnostics thread, and the API's reader threads
through :class:`EngineView`); :meth:`DiagnosticsEngine.close` closes those no thread can use any more.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from telediag.config import Thresholds
from telediag.diagnostics import checks
from telediag.diagnostics.changes import ChangeFeed, Changes
from telediag.diagnostics.findings import Transition, active_findings, apply_verdicts, list_findings
from telediag.diagnostics.fleet import TIME_CODES, device_time_verdicts, load_columns, time_verdicts
from telediag.diagnostics.hints import hint
from telediag.diagnostics.history import load_history
from telediag.diagnostics.journeys import JourneyReport, journey_report
from telediag.diagnostics.rolling import RollingState
from telediag.diagnostics.selfcheck import build_selfcheck
from telediag.diagnostics.snapshot import DeviceSnapshot, arrived_since, load_snapshot
from telediag.isolation import each_isolated
from telediag.store.database import Connection, Database
from telediag.store.writer import RecordBatch
from telediag.tickets.outage_lookup import active_outage

APN_PARAMETER = "2001"
"""Teltonika FMB parameter holding the APN (2002/2003 are its user and password)."""
STATUS_MAX_AGE_S = 3600.0
"""A device's ``getstatus`` answer is asked again when older than this and a check needs it."""
_PARAM_ANSWER = re.compile(r"Param\s*ID\s*:\s*(\d+)\s*(?:Value|New Val)\s*:\s*(.*)", re.IGNORECASE)


class UnknownDevice(LookupError):
    """Neither registered nor ever seen."""


def parse_param_answer(text: str, parameter: str) -> str | None:
    """The value in a Teltonika ``getparam`` answer (``Param ID:2001 Value:internet``), else None."""
    match = _PARAM_ANSWER.search(text.strip())
    if match is None or match.group(1) != parameter:
        return None
    return match.group(2).strip()


class DiagnosticsEngine:
    """Evaluates devices against the thresholds and keeps their findings in the store."""

    def __init__(self, database: Database, thresholds: Thresholds, ports: Mapping[str, int] | None = None) -> None:
        self.database = database
        self.thresholds = thresholds
        self.ports = ports
        """The TCP port each protocol listens on (``[listen]``), named in the self-check's fixes."""
        self._local = threading.local()
        self._connections: dict[threading.Thread, Connection] = {}
        self._lock = threading.Lock()
        self.rolling = RollingState(thresholds)
        self._prepared = False
        self._installed_at: dict[str, float] = {}
        """When each device's installation checks (its history) last ran."""
        self._renewed_at: dict[tuple[str, str], float] = {}
        self.skipped = 0
        """Devices with new records whose verdicts could not change (not evaluated)."""
        self.evaluated = 0
        """Per-device evaluations from the store."""

    def _db(self) -> Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self.database.connect()
            self._local.db = db
            with self._lock:
                self._connections[threading.current_thread()] = db
        return db

    def close(self) -> None:
        """Close the calling thread's connection and those of threads that have ended.

        Each owner calls it when its threads are done: the diagnostics service on its own thread at
        stop, the API once its reader threads have been joined. A thread still running keeps its
        connection, so one owner stopping never pulls a connection from under another's work.
        """
        caller = threading.current_thread()
        with self._lock:
            done = [thread for thread in self._connections if thread is caller or not thread.is_alive()]
            closing = [self._connections.pop(thread) for thread in done]
        if caller in done:
            self._local.db = None
        for db in closing:
            db.close()

    @property
    def open_connections(self) -> int:
        """Connections opened by threads and not closed yet."""
        with self._lock:
            return len(self._connections)

    def snapshot(self, imei: str, now: float, with_history: bool = True) -> DeviceSnapshot:
        """The device as the checks see it; UnknownDevice when it was never registered nor seen."""
        snapshot = load_snapshot(self._db(), imei, now, self.thresholds, with_history)
        if snapshot.device is None and snapshot.state is None:
            raise UnknownDevice(f"device {imei} is neither registered nor ever seen")
        return snapshot

    def _prepare(self) -> None:
        """Read what the rolling state needs once: the active findings and the coverage plans."""
        if self._prepared:
            return
        db = self._db()
        self.rolling.load_active(db.execute("SELECT imei, code FROM findings WHERE active = 1"))
        self.refresh_plans(None)
        self._prepared = True

    def refresh_plans(self, imeis: Iterable[str] | None) -> None:
        """Re-read the coverage plans of ``imeis`` (None: of every device) after registry changes."""
        query = "SELECT d.imei, a.home_country, a.coverage FROM devices d JOIN accounts a ON a.name = d.account"
        if imeis is None:
            rows = self._db().execute(query).fetchall()
        else:
            wanted = sorted(set(imeis))
            rows = []
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                rows += self._db().execute(f"{query} WHERE d.imei IN ({', '.join('?' * len(part))})", part).fetchall()
            for imei in wanted:
                self.rolling.set_plan(imei, None, None)
        for imei, home, coverage in rows:
            self.rolling.set_plan(imei, home, coverage)

    def check_device(self, imei: str, now: float, with_history: bool = True) -> list[Transition]:
        """Evaluate one device from the store and persist its findings; returns what changed."""
        return self._check(imei, now, with_history)

    def _check(
        self, imei: str, now: float, with_history: bool, leave: frozenset[str] = frozenset()
    ) -> list[Transition]:
        """:meth:`check_device`, leaving the codes ``leave`` untouched (the sweep has just judged them)."""
        self._prepare()
        snapshot = self.snapshot(imei, now, with_history)
        verdicts = self._evaluate(snapshot)
        for code in leave:
            verdicts.pop(code, None)
        transitions = self._apply(imei, verdicts, now)
        extra = bool(snapshot.events or snapshot.errors_in_window or snapshot.unusable_times or snapshot.future_records)
        self.rolling.rebuild(imei, snapshot.recent, extra)
        if with_history:
            self._installed_at[imei] = now
        self.evaluated += 1
        return transitions

    def _evaluate(self, snapshot: DeviceSnapshot) -> checks.Verdicts:
        """The checks' verdicts, a wrong-port finding naming the port this service listens on for the
        protocol the frames were found to be (``[listen]``), not that protocol's default."""
        verdicts = checks.evaluate(snapshot, self.thresholds)
        wrong_port = verdicts.get("PROTOCOL_ERRORS")
        if wrong_port and self.ports and wrong_port.get("detected_protocol") in self.ports:
            wrong_port["detected_port"] = self.ports[wrong_port["detected_protocol"]]
        return verdicts

    def _apply(self, imei: str, verdicts: checks.Verdicts, now: float) -> list[Transition]:
        """Persist verdicts; a finding still present is renewed at most every ``renewal_interval_s``."""
        active = self.rolling.active.get(imei, frozenset())
        interval = self.thresholds.renewal_interval_s
        if interval > 0:
            renewed = self._renewed_at
            for code in [c for c, e in verdicts.items() if e is not None and c in active]:
                if now - renewed.get((imei, code), -math.inf) < interval:
                    del verdicts[code]
                else:
                    renewed[(imei, code)] = now
        transitions = apply_verdicts(self._db(), imei, verdicts, now) if verdicts else []
        if transitions:
            codes = set(active)
            for transition in transitions:
                if transition.kind == "cleared":
                    codes.discard(transition.finding.code)
                    self._renewed_at.pop((imei, transition.finding.code), None)
                else:
                    codes.add(transition.finding.code)
            self.rolling.set_active(imei, codes)
        return transitions

    def fold(self, batches: Iterable[RecordBatch], elsewhere: Iterable[str] = ()) -> set[str]:
        """Fold committed records into the rolling state; the devices whose verdicts may change.

        ``elsewhere``: devices with records committed where they are not seen here (ingest workers,
        other nodes). What arrived since the rolling figures last saw such a device is read back from
        the store and folded the same way; a device whose window is not known here, or with more new
        records than the window holds, is evaluated from the store.
        """
        self._prepare()
        result = self.rolling.fold((b.imei, b.server_time, b.records) for b in batches if b.records)
        self.skipped += result.skipped
        evaluate = result.evaluate
        elsewhere = set(elsewhere)
        read_back = dict(each_isolated(sorted(elsewhere), self._read_back, "diagnostics read-back",
                                       lambda imei: f"device {imei}"))
        for imei in elsewhere - read_back.keys():  # its rows could not be folded: the store decides
            self.rolling.forget(imei)
        evaluate |= {imei for imei in elsewhere if read_back.get(imei, True)}
        self.skipped += sum(1 for needs in read_back.values() if not needs)
        return evaluate

    def _read_back(self, imei: str) -> tuple[str, bool]:
        """Fold what arrived for ``imei`` since the rolling figures last saw it; whether it needs an
        evaluation (its window is not known here, or more than a window arrived: the store's own
        window is cheaper to read)."""
        since = self.rolling.arrived(imei)
        if since is None:
            return imei, True
        window = self.thresholds.recent_records
        rows = arrived_since(self._db(), imei, since, window + 1)
        if len(rows) > window:
            self.rolling.forget(imei)
            return imei, True
        return imei, self.rolling.catch_up(imei, rows)

    def check_devices(self, imeis: Iterable[str], now: float) -> list[Transition]:
        """Evaluate the devices whose inputs changed (a device never registered nor seen is skipped)."""
        transitions: list[Transition] = []

        def check(imei: str) -> list[Transition]:
            try:
                return self.check_device(imei, now, with_history=False)
            except UnknownDevice:
                return []

        for changes in each_isolated(imeis, check, "diagnostics check", lambda imei: f"device {imei}"):
            transitions.extend(changes)
        return transitions

    def changes(self, feed: ChangeFeed) -> Changes:
        """What changed in the store past ``feed``'s watermarks (on the calling thread's connection)."""
        return feed.poll(self._db())

    def sweep(self, now: float) -> list[Transition]:
        """What only time changes, for every known device: the time checks over the whole fleet at once
        (silence, activation windows); then the devices heard from whose window is not known here yet
        (a start), and the installation checks of the devices whose turn has come."""
        self._prepare()
        columns = load_columns(self._db())
        verdicts = time_verdicts(columns, now, self.thresholds)
        index = {imei: position for position, imei in enumerate(columns.imei)}
        moving = np.zeros(len(columns), dtype=bool)
        for code in TIME_CODES:
            active = np.zeros(len(columns), dtype=bool)
            for imei, codes in self.rolling.active.items():
                if code in codes and imei in index:
                    active[index[imei]] = True
            moving |= verdicts.present[code] | (active & verdicts.judged[code])  # raise, renew or clear
        transitions: list[Transition] = []

        def time_check(position: int) -> list[Transition]:
            imei = columns.imei[position]
            return self._apply(imei, device_time_verdicts(columns, position, now, self.thresholds), now)

        judged: list[int] = np.flatnonzero(moving).tolist()
        for changes in each_isolated(judged, time_check, "diagnostics sweep",
                                     lambda position: f"device {columns.imei[position]}"):
            transitions.extend(changes)
        heard = ~(np.isnan(columns.first_seen) & np.isnan(columns.last_seen))
        seen = ~np.isnan(columns.connected)  # a device_state row: heard from, or sent bad frames
        transitions += self._catch_up(
            [columns.imei[i] for i in np.flatnonzero(seen).tolist()],
            [columns.imei[i] for i in np.flatnonzero(heard).tolist()], {columns.imei[i] for i in judged}, now,
        )
        return transitions

    def _catch_up(self, seen: list[str], heard: list[str], judged: set[str], now: float) -> list[Transition]:
        """Evaluate devices seen whose window is unknown here (at most ``check_batch_max`` a sweep), and
        the installation checks of the devices due, spread so each runs every ``installation_interval_s``.
        ``judged``: devices whose time verdicts this sweep has applied (not applied twice)."""
        t = self.thresholds
        unknown = [imei for imei in seen if imei not in self.rolling.tracks][: t.check_batch_max]
        transitions: list[Transition] = []
        leave = frozenset(TIME_CODES)

        def light(imei: str) -> list[Transition]:
            return self._check(imei, now, False, leave if imei in judged else frozenset())

        for changes in each_isolated(unknown, light, "diagnostics sweep", lambda imei: f"device {imei}"):
            transitions.extend(changes)
        installed = self._installed_at
        due = [imei for imei in heard if now - installed.get(imei, -math.inf) >= t.installation_interval_s]
        if t.installation_interval_s > 0 and t.sweep_interval_s > 0:
            turns = max(1.0, t.installation_interval_s / t.sweep_interval_s)
            due.sort(key=lambda imei: installed.get(imei, -math.inf))
            due = due[: min(t.check_batch_max, math.ceil(len(heard) / turns))]

        def full(imei: str) -> list[Transition]:
            return self._check(imei, now, True, leave if imei in judged else frozenset())

        for changes in each_isolated(due, full, "installation checks", lambda imei: f"device {imei}"):
            transitions.extend(changes)
        return transitions

    def selfcheck(self, imei: str, now: float) -> dict[str, Any]:
        """A fresh self-check (not persisted; the sweep persists)."""
        snapshot = self.snapshot(imei, now)
        verdicts = self._evaluate(snapshot)
        db = self._db()
        return build_selfcheck(snapshot, verdicts, active_findings(db, imei), outage=active_outage(db, imei),
                               ports=self.ports)

    def findings(
        self, imeis: set[str] | None = None, code: str | None = None, active: bool | None = True
    ) -> list[dict[str, Any]]:
        """Stored findings in the API shape, each with its hint."""
        db = self._db()
        protocols = dict(db.execute("SELECT imei, protocol FROM devices"))
        apns = dict(db.execute(
            "SELECT d.imei, s.apn FROM devices d JOIN sim_profiles s ON s.iccid = d.iccid"
        ))
        return list(each_isolated(
            list_findings(db, imeis, code, active),
            lambda f: f.as_dict(hint(f.code, protocols.get(f.imei), f.evidence, {"apn": apns.get(f.imei)})),
            "findings listing", lambda f: f"{f.code} of device {f.imei}",
        ))

    def journeys(self, imei: str, since: float | None, until: float | None) -> list[dict[str, Any]]:
        """Journeys over the stored history (the API's ``/journeys``), records with a bad clock left out."""
        return self.journey_report(imei, since, until).as_dict()["journeys"]  # type: ignore[no-any-return]

    def journey_report(self, imei: str, since: float | None, until: float | None) -> JourneyReport:
        """Journeys and how many records were left out because their clock cannot place them."""
        return journey_report(load_history(self._db(), imei, since, until), self.thresholds)

    def record_report(self, imei: str, name: str, value: str | None, at: float) -> None:
        """Keep what the device answered to a server command, as evidence for the checks."""
        db = self._db()
        db.execute(
            "INSERT INTO device_evidence (imei, name, value, at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (imei, name) DO UPDATE SET value = excluded.value, at = excluded.at",
            (imei, name, value, at),
        )

    def wanted_queries(self, imeis: list[str], now: float) -> list[tuple[str, str]]:
        """(imei, command) pairs worth asking connected devices now: their APN, and their status
        while a GNSS or delay finding is active."""
        db = self._db()
        wanted: list[tuple[str, str]] = []
        for imei in imeis:
            row = db.execute(
                "SELECT s.apn FROM devices d JOIN sim_profiles s ON s.iccid = d.iccid WHERE d.imei = ?", (imei,)
            ).fetchone()
            reports = dict(
                (name, at) for name, at in db.execute("SELECT name, at FROM device_evidence WHERE imei = ?", (imei,))
            )
            if row and row[0] and now - reports.get("apn", float("-inf")) > self.thresholds.apn_evidence_max_age_s:
                wanted.append((imei, f"getparam {APN_PARAMETER}"))
            active = active_findings(db, imei)
            status_age = now - reports.get("status", float("-inf"))
            if {"GPS_NO_FIX", "DATA_DELAYED"} & set(active) and status_age > STATUS_MAX_AGE_S:
                wanted.append((imei, "getstatus"))
        return wanted

    def store_answer(self, imei: str, command: str, answer: str, now: float) -> None:
        """File a device's answer under the evidence name its command asks for."""
        if command.startswith("getparam"):
            self.record_report(imei, "apn", parse_param_answer(answer, APN_PARAMETER), now)
            self.record_report(imei, "apn_answer", answer, now)
        else:
            self.record_report(imei, "status", answer, now)


class EngineView:
    """The engine as the API's ``DiagnosticsView``: "now" comes from the service's clock."""

    def __init__(self, engine: DiagnosticsEngine, clock: Any) -> None:
        self.engine = engine
        self.clock = clock

    def journeys(self, imei: str, since: float | None, until: float | None) -> list[dict[str, Any]]:
        """Journeys of one device."""
        return self.engine.journeys(imei, since, until)

    def selfcheck(self, imei: str) -> dict[str, Any]:
        """A fresh self-check."""
        return self.engine.selfcheck(imei, self.clock.seconds())

    def findings(self, imeis: set[str] | None, code: str | None, active: bool | None) -> list[dict[str, Any]]:
        """Stored findings."""
        return self.engine.findings(imeis, code, active)

    def close(self) -> None:
        """Close the connections the API's reader threads opened (they have ended by now)."""
        self.engine.close()
