"""The diagnostics engine: snapshot, checks, findings, on the store, on whatever thread calls it.

Synchronous and clock-free (every call takes ``now``), so tests drive it directly with a simulated
day; the Twisted side (:mod:`telediag.diagnostics.service`) only decides when and on which thread.
Each calling thread gets its own connection (the diagnostics thread, and the API's reader threads
through :class:`EngineView`); :meth:`DiagnosticsEngine.close` closes those no thread can use any more.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from telediag.config import Thresholds
from telediag.diagnostics import checks
from telediag.diagnostics.changes import ChangeFeed, Changes
from telediag.diagnostics.findings import Transition, active_findings, apply_verdicts, list_findings
from telediag.diagnostics.hints import hint
from telediag.diagnostics.history import load_history
from telediag.diagnostics.journeys import JourneyReport, journey_report
from telediag.diagnostics.selfcheck import build_selfcheck
from telediag.diagnostics.snapshot import DeviceSnapshot, known_devices, load_snapshot
from telediag.isolation import each_isolated
from telediag.store.database import Connection, Database

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

    def __init__(self, database: Database, thresholds: Thresholds) -> None:
        self.database = database
        self.thresholds = thresholds
        self._local = threading.local()
        self._connections: dict[threading.Thread, Connection] = {}
        self._lock = threading.Lock()

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

    def check_device(self, imei: str, now: float, with_history: bool = True) -> list[Transition]:
        """Evaluate one device and persist its findings; returns what changed."""
        snapshot = self.snapshot(imei, now, with_history)
        return apply_verdicts(self._db(), imei, checks.evaluate(snapshot, self.thresholds), now)

    def check_devices(self, imeis: list[str], now: float) -> list[Transition]:
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
        """Evaluate every known device (silence and activation need no new data to change)."""
        transitions: list[Transition] = []
        checked = each_isolated(known_devices(self._db()), lambda imei: self.check_device(imei, now),
                                "diagnostics sweep", lambda imei: f"device {imei}")
        for changes in checked:
            transitions.extend(changes)
        return transitions

    def selfcheck(self, imei: str, now: float) -> dict[str, Any]:
        """A fresh self-check (not persisted; the sweep persists)."""
        snapshot = self.snapshot(imei, now)
        verdicts = checks.evaluate(snapshot, self.thresholds)
        return build_selfcheck(snapshot, verdicts, active_findings(self._db(), imei))

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
