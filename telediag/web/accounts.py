"""The customer office's view of accounts: the list with device counts, and one account's devices with
their activation window, plan, coverage and roaming, for the console's ``/accounts`` pages.

The devices come from the API's own read (``reads.devices_with_state``) and their findings from the
diagnostics view the API serves, and every body passes the API's output filter before anything is
shaped for a page, so the customer office gets no position or telemetry here either: what is left of a
finding for that role (its code, the country and the SIM plan) is all the roaming and coverage words
are made of. Raw connectivity events are not used: the API does not give them to the customer office
(``events.list``); the ROAMING_REJECTED finding is their summary that it may read.

The reader-thread work returns unfiltered bodies; the pure functions below shape filtered ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from protocols.record import iso_utc, parse_iso_utc
from telediag.api import reads
from telediag.api import ticket_actions as actions
from telediag.api.auth import Principal
from telediag.api.backend import ApiBackend
from telediag.api.errors import not_found
from telediag.diagnostics.catalogue import FINDINGS
from telediag.isolation import each_isolated
from telediag.store.database import Connection
from telediag.store.reader import Reader
from telediag.tickets import repository as repo

OFFICE_ROLES = frozenset({"customer_office", "admin"})
"""Who has the accounts pages: the customer office's work, and admin. Everyone else gets the 404 page."""
ACCOUNTS_PER_PAGE = 50
DEVICES_PER_PAGE = 100
MAX_TICKETS = 50
"""An account's tickets one page lists, newest first (the desk has the queue)."""
MAX_SEARCH_CHARS = 200
"""As long as an account name may be (``registry.entries.NAME_MAX_CHARS``)."""
_CHUNK = 500
ROAMING_CODES = ("ROAMING_REJECTED", "EU_COVERAGE_INACTIVE")
_STATUS = {"fail": "problem", "warn": "attention"}

ReaderWork = Callable[[Reader], dict[str, Any]]


def account_href(name: str) -> str:
    """The page of one account; every character of the name escaped ("/" included)."""
    return "/accounts/" + quote(name, safe="")


def _like(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere, with LIKE's own wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _in_chunks(db: Connection, query: str, values: list[str]) -> Iterable[tuple[Any, ...]]:
    """Rows of ``query`` (with one ``{marks}`` for an IN list) for every chunk of ``values``."""
    for start in range(0, len(values), _CHUNK):
        chunk = values[start:start + _CHUNK]
        yield from db.execute(query.format(marks=", ".join("?" * len(chunk))), chunk)


def _problem_devices(api: ApiBackend, imeis: set[str]) -> set[str]:
    """The devices among ``imeis`` with an active finding that is not informational."""
    if not imeis:
        return set()
    # the findings listing takes every IMEI as one parameter: for a very large page ask for all of them
    asked = imeis if len(imeis) <= 5_000 else None
    return {f["imei"] for f in api.diagnostics.findings(asked, None, True)
            if f["imei"] in imeis and f["code"] in FINDINGS and not FINDINGS[f["code"]].informational}


def account_list(api: ApiBackend, page: int, search: str) -> ReaderWork:
    """Reader-thread work: one page of accounts by name, each with its contact, plan and device counts."""

    def run(reader: Reader) -> dict[str, Any]:
        db = reader.connection
        query = "SELECT name, contact_name, email, phone, vip, home_country, coverage FROM accounts"
        params: list[Any] = []
        if search:
            query += " WHERE name LIKE ? ESCAPE '\\'"
            params.append(_like(search))
        query += " ORDER BY name LIMIT ? OFFSET ?"
        params += [ACCOUNTS_PER_PAGE + 1, (page - 1) * ACCOUNTS_PER_PAGE]
        rows = db.execute(query, params).fetchall()
        more = len(rows) > ACCOUNTS_PER_PAGE
        rows = rows[:ACCOUNTS_PER_PAGE]
        names = [row[0] for row in rows]
        owner: dict[str, str] = {imei: account for imei, account in _in_chunks(
            db, "SELECT imei, account FROM devices WHERE account IN ({marks})", names)}
        devices = {name: 0 for name in names}
        for account in owner.values():
            devices[account] += 1
        troubled = {name: 0 for name in names}
        for imei in _problem_devices(api, set(owner)):
            troubled[owner[imei]] += 1
        accounts = [{
            "name": name, "contact": {"contact_name": contact, "email": email, "phone": phone},
            "vip": bool(vip), "home_country": country, "coverage": coverage,
            "device_count": devices[name], "with_problems": troubled[name],
        } for name, contact, email, phone, vip, country, coverage in rows]
        return {"accounts": accounts, "page": page, "more": more}

    return run


def account_detail(api: ApiBackend, principal: Principal, name: str, page: int) -> ReaderWork:
    """Reader-thread work: the account, one page of its devices (registry, state and active findings)
    and its newest tickets; a 404 ApiError for an account that does not exist."""

    def run(reader: Reader) -> dict[str, Any]:
        db = reader.connection
        row = db.execute("SELECT name, contact_name, email, phone, vip, home_country, coverage FROM accounts "
                         "WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise not_found(f"no account {name}")
        count = db.execute("SELECT count(*) FROM devices WHERE account = ?", (name,)).fetchone()[0]
        offset = (page - 1) * DEVICES_PER_PAGE
        listed = reads.devices_with_state(reader, principal, name, offset + DEVICES_PER_PAGE, api.pseudonyms)
        devices = listed["devices"][offset:]
        imeis = {device["imei"] for device in devices}
        findings: dict[str, list[dict[str, Any]]] = {imei: [] for imei in imeis}
        for finding in api.diagnostics.findings(imeis, None, True) if imeis else []:
            if finding["imei"] in findings:
                findings[finding["imei"]].append(finding)
        for device in devices:
            device["findings"] = findings[device["imei"]]
        ids = repo.list_ids(db, account=name, limit=MAX_TICKETS + 1)
        tickets = list(each_isolated(ids[:MAX_TICKETS], lambda ticket_id: actions.document(db, principal, ticket_id),
                                     "account page", lambda ticket_id: f"ticket {ticket_id}"))
        name_, contact, email, phone, vip, country, coverage = row
        return {
            "account": {"name": name_, "contact": {"contact_name": contact, "email": email, "phone": phone},
                        "vip": bool(vip), "home_country": country, "coverage": coverage, "device_count": count},
            "devices": devices, "page": page, "more": listed["truncated"],
            "tickets": tickets, "more_tickets": len(ids) > MAX_TICKETS,
        }

    return run


def activation(activated_at: str | None, now: float, window_s: float) -> dict[str, Any]:
    """Where a device is in its activation window: ``{"state", "until"}`` with state ``unknown`` (no
    date), ``scheduled`` (a date still to come), ``window`` (in the first ``window_s``: no data yet is
    normal until ``until``) or ``done``."""
    if not activated_at:
        return {"state": "unknown", "until": None}
    try:
        at = parse_iso_utc(activated_at)
    except (ValueError, OverflowError):
        return {"state": "unknown", "until": None}
    until = iso_utc(at + window_s)
    if now < at:
        return {"state": "scheduled", "until": until}
    return {"state": "window" if now - at < window_s else "done", "until": until}


def device_status(findings: list[dict[str, Any]]) -> dict[str, Any]:
    """A device's status as the trackers list says it (``ok``, ``attention``, ``problem``) and the
    titles of its active findings, most serious first, in plain words."""
    specs = [FINDINGS[f["code"]] for f in findings if f.get("code") in FINDINGS]
    statuses = {_STATUS[spec.status] for spec in specs}
    status = "problem" if "problem" in statuses else "attention" if statuses else "ok"
    specs.sort(key=lambda spec: (spec.status != "fail", spec.code))
    return {"status": status, "problems": [{"code": spec.code, "title": spec.title} for spec in specs]}


def roaming(device: dict[str, Any], findings: list[dict[str, Any]]) -> dict[str, Any]:
    """The roaming situation of a device in one word (``state``) and what explains it.

    ``rejected``: abroad and the network refuses the SIM (ROAMING_REJECTED); ``uncovered``: abroad in a
    country the account's plan does not cover (EU_COVERAGE_INACTIVE); else the SIM plan: ``included``,
    ``not_included`` or ``unknown``. ``country`` is the foreign country a finding names.
    """
    by_code = {f["code"]: f.get("evidence") or {} for f in findings if f.get("code") in ROAMING_CODES}
    sim = device.get("roaming")
    if "ROAMING_REJECTED" in by_code:
        evidence = by_code["ROAMING_REJECTED"]
        return {"state": "rejected", "country": evidence.get("country"), "causes": evidence.get("causes") or [],
                "sim": sim if sim is not None else evidence.get("sim_roaming_allowed")}
    if "EU_COVERAGE_INACTIVE" in by_code:
        return {"state": "uncovered", "country": by_code["EU_COVERAGE_INACTIVE"].get("country"), "causes": [],
                "sim": sim}
    state = "unknown" if sim is None else "included" if sim else "not_included"
    return {"state": state, "country": None, "causes": [], "sim": sim}


def shaped_accounts(visible: dict[str, Any]) -> list[dict[str, Any]]:
    """The filtered account list with each account's page address."""
    return [{**account, "href": account_href(account["name"])} for account in visible["accounts"]]


def shaped_devices(visible: dict[str, Any], now: float, window_s: float) -> list[dict[str, Any]]:
    """The filtered devices of an account page as the template shows them: only registry facts, the
    time last heard from, activation, status words and roaming (never what the filter removed)."""
    shaped = []
    for device in visible["devices"]:
        findings = device.get("findings") or []
        state = device.get("state") or {}
        shaped.append({
            "imei": device["imei"], "vehicle_plate": device.get("vehicle_plate"), "apn": device.get("apn"),
            "activated_at": device.get("activated_at"), "last_seen": state.get("last_seen"),
            "activation": activation(device.get("activated_at"), now, window_s),
            **device_status(findings), "roaming": roaming(device, findings),
        })
    return shaped
