"""Registry reads and writes on the store's SQLite file (tables ``accounts``, ``sim_profiles``, ``devices``).

Writes merge: a value left unknown (None) never erases what the registry already knows, so a partial
CSV can enrich devices that auto-registered when they first connected.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from protocols.record import iso_utc
from telediag.problems import FileRejected
from telediag.redaction import PersonalData
from telediag.registry.entries import IMPORT_COLUMNS, DeviceEntry, InvalidEntry, parse_entry
from telediag.store.database import Connection, transaction

MAX_IMPORT_ROWS = 200_000
"""Rows one import may carry; a bigger file is refused before anything is written."""

_UPSERT_ACCOUNT = """
INSERT INTO accounts AS a (name, home_country, coverage) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET
    home_country = coalesce(excluded.home_country, a.home_country),
    coverage = coalesce(excluded.coverage, a.coverage)
"""
_UPSERT_SIM = """
INSERT INTO sim_profiles AS s (iccid, apn, roaming_allowed) VALUES (?, ?, ?)
ON CONFLICT (iccid) DO UPDATE SET
    apn = coalesce(excluded.apn, s.apn), roaming_allowed = coalesce(excluded.roaming_allowed, s.roaming_allowed)
"""
_UPSERT_DEVICE = """
INSERT INTO devices AS d (imei, protocol, registered_at, source, account, vehicle_plate, iccid,
                          activated_at, report_interval_s, install_profile)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (imei) DO UPDATE SET
    protocol = coalesce(excluded.protocol, d.protocol), account = coalesce(excluded.account, d.account),
    vehicle_plate = coalesce(excluded.vehicle_plate, d.vehicle_plate),
    iccid = coalesce(excluded.iccid, d.iccid), activated_at = coalesce(excluded.activated_at, d.activated_at),
    report_interval_s = coalesce(excluded.report_interval_s, d.report_interval_s),
    install_profile = coalesce(excluded.install_profile, d.install_profile),
    source = CASE WHEN d.source = 'auto' THEN excluded.source ELSE d.source END
"""
_DEVICE_VIEW = """
SELECT d.imei, d.protocol, d.account, d.vehicle_plate, d.iccid, s.apn, s.roaming_allowed AS roaming,
       a.coverage, a.home_country, d.activated_at, d.report_interval_s, d.install_profile,
       d.registered_at, d.source
FROM devices d LEFT JOIN accounts a ON a.name = d.account LEFT JOIN sim_profiles s ON s.iccid = d.iccid
"""


@dataclass(frozen=True)
class ImportResult:
    """What an import changed."""

    rows: int
    devices_added: int
    devices_updated: int
    accounts_added: int


class ImportRejected(FileRejected):
    """The device file has problems; nothing was written. ``problems`` name each line and field."""


def save(db: Connection, entries: Iterable[DeviceEntry], now: float, source: str) -> ImportResult:
    """Merge ``entries`` into the registry in one transaction."""
    known_devices = {row[0] for row in db.execute("SELECT imei FROM devices")}
    known_accounts = {row[0] for row in db.execute("SELECT name FROM accounts")}
    rows = added = updated = 0
    new_accounts: set[str] = set()
    with transaction(db):
        for entry in entries:
            rows += 1
            if entry.account is not None:
                db.execute(_UPSERT_ACCOUNT, (entry.account, entry.home_country, entry.coverage))
                if entry.account not in known_accounts:
                    new_accounts.add(entry.account)
            if entry.iccid is not None:
                roaming = None if entry.roaming is None else int(entry.roaming)
                db.execute(_UPSERT_SIM, (entry.iccid, entry.apn, roaming))
            db.execute(_UPSERT_DEVICE, (
                entry.imei, entry.protocol, now, source, entry.account, entry.vehicle_plate,
                entry.iccid, entry.activated_at, entry.report_interval_s, entry.install_profile,
            ))
            if entry.imei in known_devices:
                updated += 1
            else:
                added += 1
                known_devices.add(entry.imei)
    return ImportResult(rows, added, updated, len(new_accounts))


def read_import_file(handle: TextIO) -> list[DeviceEntry]:
    """Parse and check a whole CSV; raise ImportRejected with every problem, by line."""
    reader = csv.DictReader(handle)
    header = reader.fieldnames or []
    if "imei" not in header:
        raise ImportRejected([f"line 1: the header needs an imei column; expected {','.join(IMPORT_COLUMNS)}"])
    entries: list[DeviceEntry] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if len(entries) + len(problems) >= MAX_IMPORT_ROWS:
            raise ImportRejected([f"more than {MAX_IMPORT_ROWS} rows; split the file"])
        if None in row:
            problems.append(f"line {line}: more cells than header columns")
            continue
        try:
            entry = parse_entry(row)
        except InvalidEntry as error:
            problems.extend(f"line {line}: {problem}" for problem in error.problems)
            continue
        if entry.imei in seen:
            problems.append(f"line {line}: imei {entry.imei} already on line {seen[entry.imei]}")
            continue
        seen[entry.imei] = line
        entries.append(entry)
    if problems:
        raise ImportRejected(problems)
    return entries


def import_csv(db: Connection, path: Path, now: float) -> ImportResult:
    """``telediag devices import FILE.csv``: all rows or none."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        entries = read_import_file(handle)
    return save(db, entries, now, "import")


def list_devices(db: Connection, account: str | None = None) -> list[dict[str, Any]]:
    """Registered devices with their account and SIM, ordered by IMEI."""
    query = _DEVICE_VIEW + (" WHERE d.account = ?" if account else "") + " ORDER BY d.imei"
    cursor = db.execute(query, (account,) if account else ())
    return [_device_dict(cursor.description, row) for row in cursor]


def get_device(db: Connection, imei: str) -> dict[str, Any] | None:
    """One registered device, or None."""
    cursor = db.execute(_DEVICE_VIEW + " WHERE d.imei = ?", (imei,))
    row = cursor.fetchone()
    return None if row is None else _device_dict(cursor.description, row)


def _device_dict(description: Any, row: tuple[Any, ...]) -> dict[str, Any]:
    device = dict(zip((d[0] for d in description), row, strict=True))
    device["roaming"] = None if device["roaming"] is None else bool(device["roaming"])
    device["activated_at"] = iso_utc(device["activated_at"])
    device["registered_at"] = iso_utc(device["registered_at"])
    return device


def personal_data(db: Connection, account: str | None, imeis: Iterable[str]) -> PersonalData:
    """The personal data free text about ``account`` or these devices may mention (for masking)."""
    imeis = sorted(set(imeis))
    marks = ", ".join("?" * len(imeis)) or "NULL"
    rows = db.execute(
        "SELECT d.imei, d.vehicle_plate, d.account, s.msisdn FROM devices d "
        f"LEFT JOIN sim_profiles s ON s.iccid = d.iccid WHERE d.account = ? OR d.imei IN ({marks})",
        [account, *imeis],
    ).fetchall()
    plates = {plate: imei for imei, plate, _, _ in rows if plate}
    accounts = {name for _, _, name, _ in rows if name} | ({account} if account else set())
    names: set[str] = set(accounts)
    for name in sorted(accounts):
        found = db.execute("SELECT contact_name FROM accounts WHERE name = ?", (name,)).fetchone()
        if found and found[0]:
            names.add(found[0])
    return PersonalData(plates=plates, names=frozenset(names), device_ids=frozenset(r[0] for r in rows))
