"""Read queries of the API, run on its worker threads with a read-only connection each.

Every function takes the caller's Principal where a device is involved, and goes through
``policy.check_device_visible`` first, so no read path can skip the customer's account check.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from protocols.record import iso_utc
from telediag.api import policy
from telediag.api.auth import Principal
from telediag.api.errors import bad_request, not_found
from telediag.api.pseudonyms import Pseudonymiser
from telediag.isolation import each_isolated
from telediag.registry.repository import get_device, list_devices
from telediag.store.database import Connection, Database
from telediag.store.reader import Reader

_STATE_TIMES = ("first_seen", "last_seen", "last_connected_at", "last_disconnected_at", "last_fix_time",
                "last_error_at")
_STATE_COLUMNS = ("imei", "connected", "remote", *_STATE_TIMES, "last_lat", "last_lon", "protocol_errors",
                  "last_error")
_CHUNK = 500


def store_readable(reader: Reader, database: Database) -> bool:
    """Whether the store is there and answers a query."""
    if not database.exists():
        return False
    database.readable(reader.connection)
    return True


def account_names(db: Connection) -> list[str]:
    """Every account name in the registry."""
    return [row[0] for row in db.execute("SELECT name FROM accounts")]


def visible_device(reader: Reader, principal: Principal, imei: str) -> dict[str, Any]:
    """The registry entry of a device the principal may see (404 otherwise)."""
    return policy.check_device_visible(principal, imei, get_device(reader.connection, imei))


def _state(row: dict[str, Any] | None) -> dict[str, Any]:
    """Live state of a device with ISO times; all unknown for one never heard from."""
    row = row or {}
    state = {name: row.get(name) for name in _STATE_COLUMNS if name != "imei"}
    state["connected"] = bool(state["connected"])
    state["protocol_errors"] = state["protocol_errors"] or 0
    for name in _STATE_TIMES:
        state[name] = iso_utc(state[name])
    return state


def _states(db: Connection, imeis: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    columns = ", ".join(_STATE_COLUMNS)
    for start in range(0, len(imeis), _CHUNK):
        chunk = imeis[start:start + _CHUNK]
        query = f"SELECT {columns} FROM device_state WHERE imei IN ({', '.join('?' * len(chunk))})"
        for row in db.execute(query, chunk):
            found[row[0]] = dict(zip(_STATE_COLUMNS, row, strict=True))
    return found


def devices_with_state(
    reader: Reader, principal: Principal, account: str | None, limit: int, pseudonyms: Pseudonymiser
) -> dict[str, Any]:
    """``GET /devices``: registry entries with live state, within the caller's accounts."""
    db = reader.connection
    accounts = policy.account_filter(principal, account, lambda: account_names(db), pseudonyms)
    if accounts is None:
        devices: Iterable[dict[str, Any]] = list_devices(db)
    else:
        devices = itertools.chain.from_iterable(list_devices(db, name) for name in sorted(accounts) if name)
    page = list(itertools.islice(devices, limit + 1))
    truncated = len(page) > limit
    page = page[:limit]
    states = _states(db, [d["imei"] for d in page])

    def with_state(device: dict[str, Any]) -> dict[str, Any]:
        device["state"] = _state(states.get(device["imei"]))
        return device

    page = list(each_isolated(page, with_state, "device listing", lambda d: f"device {d['imei']}"))
    return {"devices": page, "count": len(page), "truncated": truncated}


def device_detail(reader: Reader, principal: Principal, imei: str) -> dict[str, Any]:
    """``GET /devices/{imei}``: registry entry, account contact, SIM number and live state."""
    device = visible_device(reader, principal, imei)
    db = reader.connection
    contact = None
    if device["account"] is not None:
        row = db.execute("SELECT contact_name, email, phone, vip FROM accounts WHERE name = ?",
                         (device["account"],)).fetchone()
        if row is not None:
            contact = {"contact_name": row[0], "email": row[1], "phone": row[2], "vip": bool(row[3])}
    msisdn = None
    if device["iccid"] is not None:
        row = db.execute("SELECT msisdn FROM sim_profiles WHERE iccid = ?", (device["iccid"],)).fetchone()
        msisdn = row[0] if row else None
    device["account_contact"] = contact
    device["msisdn"] = msisdn
    device["state"] = _state(_states(db, [imei]).get(imei))
    return device


def records(
    reader: Reader, principal: Principal, imei: str, since: float | None, until: float | None, limit: int
) -> dict[str, Any]:
    """``GET /devices/{imei}/records``: normalised records, oldest first, at most ``limit``."""
    visible_device(reader, principal, imei)
    page = list(itertools.islice(reader.records(imei, since, until), limit + 1))
    return {"imei": imei, "records": page[:limit], "count": min(len(page), limit), "truncated": len(page) > limit}


def findings_scope(
    reader: Reader, principal: Principal, imei: str | None, account: str | None, pseudonyms: Pseudonymiser
) -> set[str] | None:
    """The IMEIs a findings query may cover (None: every device)."""
    db = reader.connection
    if imei is not None and principal.role == "customer":
        visible_device(reader, principal, imei)
    accounts = policy.account_filter(principal, account, lambda: account_names(db), pseudonyms)
    if accounts is None:
        return None if imei is None else {imei}
    imeis = {d["imei"] for name in accounts if name for d in list_devices(db, name)}
    return imeis if imei is None else imeis & {imei}


def connectivity_events(
    reader: Reader, principal: Principal, imei: str | None, iccid: str | None,
    since: float | None, until: float | None, limit: int,
) -> dict[str, Any]:
    """``GET /connectivity/events``: events of one device (and its SIM) or one SIM, oldest first."""
    db = reader.connection
    if (imei is None) == (iccid is None):
        raise bad_request("give exactly one of imei or iccid", code="invalid_parameter")
    sims: set[str] = set()
    if imei is not None:
        device = visible_device(reader, principal, imei) if principal.role == "customer" else \
            get_device(db, imei)
        if device is not None and device["iccid"]:
            sims.add(device["iccid"])
    else:
        assert iccid is not None
        iccid = iccid.upper()
        sims.add(iccid)
        if principal.role == "customer":
            owner = db.execute("SELECT 1 FROM devices WHERE iccid = ? AND account = ?",
                               (iccid, principal.account)).fetchone()
            if owner is None:
                raise not_found(f"no SIM {iccid}")
    query = ("SELECT at, iccid, imei, type, cause, apn, mcc, mnc, rat FROM connectivity_events "
             f"WHERE (imei = ? OR iccid IN ({', '.join('?' * len(sims)) or 'NULL'}))")
    params: list[Any] = [imei, *sorted(sims)]
    if since is not None:
        query += " AND at >= ?"
        params.append(since)
    if until is not None:
        query += " AND at < ?"
        params.append(until)
    cursor = db.execute(query + " ORDER BY at, id LIMIT ?", [*params, limit + 1])
    names = [d[0] for d in cursor.description]
    events = [dict(zip(names, row, strict=True)) for row in cursor]
    for event in events:
        event["at"] = iso_utc(event["at"])
    return {"events": events[:limit], "count": min(len(events), limit), "truncated": len(events) > limit}
