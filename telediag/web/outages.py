"""Mass outages for the console's ``/outages`` pages: the MASS_OUTAGE parents (open ones first, then the
most recent), and one outage with its children and the devices it affects.

Every ticket is the document the API builds (``ticket_actions.document`` / ``show_ticket``) passed
through the API's output filter for the person's role, so technical and IT staff read the same masked
titles and pseudonymised accounts as in the JSON API. Outage documents grow with the outage (one
finding per affected device), so the filter runs here on the reader thread, not on the reactor, and
only a bounded summary of each document goes on to the page.

What the devices of an outage share (an operator, an APN or an area) is the evidence of the parent's
own MASS_OUTAGE finding, written by ``telediag.tickets.incidents`` when it opened the parent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telediag.api import ticket_actions as actions
from telediag.api.auth import Principal
from telediag.api.backend import ApiBackend
from telediag.api.errors import not_found
from telediag.diagnostics.geography import country_of_operator
from telediag.isolation import each_isolated
from telediag.store.database import Connection
from telediag.store.reader import Reader
from telediag.tickets.model import ACTIVE_STATES
from telediag.web.trackers import visible_part

OUTAGE_ROLES = frozenset({"technical", "it", "admin"})
"""Who has the outage pages: the platform's and the devices' staff. Everyone else gets the 404 page."""
OUTAGE = "MASS_OUTAGE"
SHARED_KINDS = ("operator", "apn", "area")
"""What the devices of one outage can have in common, as the parent's finding evidence names it."""
OUTAGES_PER_PAGE = 25
MAX_CHILDREN = 200
"""Child tickets one outage page lists (and reads); the page says how many there are in all."""
MAX_DEVICES = 500
"""Affected devices one outage page lists."""
MAX_TIMELINE = 50
"""The parent's latest timeline entries shown."""

ReaderWork = Callable[[Reader], dict[str, Any]]


def shared(document: dict[str, Any]) -> dict[str, Any]:
    """What the outage's devices share: ``{"kind": "operator"|"apn"|"area"|None, "value", "country"}``
    (``country``: the network's country for an operator)."""
    for finding in document.get("findings") or []:
        if finding.get("code") != OUTAGE:
            continue
        evidence = finding.get("evidence") or {}
        for kind in SHARED_KINDS:
            if evidence.get(kind) not in (None, ""):
                value = str(evidence[kind])
                country = country_of_operator(int(value)) if kind == "operator" and value.isdigit() else None
                return {"kind": kind, "value": value, "country": country}
    return {"kind": None, "value": None, "country": None}


def due_now(document: dict[str, Any]) -> dict[str, Any]:
    """The SLA due time that matters now: first response until someone answered, then resolution."""
    sla = document.get("sla") or {}
    answered = bool(sla.get("first_response_at"))
    kind = "resolution" if answered else "first_response"
    return {"kind": kind, "at": sla.get("resolution_due" if answered else "first_response_due"),
            "breached": kind in (sla.get("breached") or [])}


def summary(document: dict[str, Any]) -> dict[str, Any]:
    """One outage as the list shows it (a filtered document in, a small dict out)."""
    devices = [imei for imei in document.get("devices") or []]
    return {
        "id": document["id"], "title": document.get("title"), "state": document.get("state"),
        "priority": document.get("priority"), "team": document.get("team"),
        "open": document.get("state") in ACTIVE_STATES, "created_at": document.get("created_at"),
        "updated_at": document.get("updated_at"), "shared": shared(document),
        "device_count": len(devices), "child_count": len(document.get("children") or []),
        "due": due_now(document),
    }


def _outage_ids(db: Connection, limit: int, offset: int) -> list[int]:
    """MASS_OUTAGE parents: the ones still being worked on first, then the newest."""
    marks = ", ".join("?" * len(ACTIVE_STATES))
    return [row[0] for row in db.execute(
        f"SELECT id FROM tickets WHERE problem = ? ORDER BY CASE WHEN state IN ({marks}) THEN 0 ELSE 1 END, "
        "created_at DESC, id DESC LIMIT ? OFFSET ?", (OUTAGE, *ACTIVE_STATES, limit, offset))]


def outage_list(api: ApiBackend, who: Principal, page: int) -> ReaderWork:
    """Reader-thread work: ``{"outages": [summary...], "page", "more", "open"}`` (``open``: how many
    outages are being worked on in all)."""

    def run(reader: Reader) -> dict[str, Any]:
        db = reader.connection
        ids = _outage_ids(db, OUTAGES_PER_PAGE + 1, (page - 1) * OUTAGES_PER_PAGE)
        documents = each_isolated(ids[:OUTAGES_PER_PAGE],
                                  lambda ticket_id: visible_part(api, who, actions.document(db, who, ticket_id)),
                                  "outage list", lambda ticket_id: f"ticket {ticket_id}")
        marks = ", ".join("?" * len(ACTIVE_STATES))
        open_count = db.execute(f"SELECT count(*) FROM tickets WHERE problem = ? AND state IN ({marks})",
                                (OUTAGE, *ACTIVE_STATES)).fetchone()[0]
        return {"outages": [summary(document) for document in documents], "page": page,
                "more": len(ids) > OUTAGES_PER_PAGE, "open": open_count}

    return run


def _child(document: dict[str, Any]) -> dict[str, Any]:
    return {"id": document["id"], "title": document.get("title"), "state": document.get("state"),
            "priority": document.get("priority"), "team": document.get("team"),
            "devices": (document.get("devices") or [])[:10],
            "codes": sorted({f["code"] for f in document.get("findings") or [] if f.get("code")}),
            "account": document.get("account"), "created_at": document.get("created_at")}


def outage_detail(api: ApiBackend, who: Principal, ticket_id: int) -> ReaderWork:
    """Reader-thread work: one outage (its parent ticket), its children and affected devices; a 404
    ApiError for an unknown ticket and for a ticket that is not an outage parent."""

    def run(reader: Reader) -> dict[str, Any]:
        db = reader.connection
        document = visible_part(api, who, actions.show_ticket(who, ticket_id)(reader))
        if document.get("problem") != OUTAGE:
            raise not_found(f"no outage {ticket_id}")
        child_ids = document.get("children") or []
        children = [_child(visible_part(api, who, child)) for child in each_isolated(
            child_ids[:MAX_CHILDREN], lambda child_id: actions.document(db, who, child_id),
            "outage page", lambda child_id: f"ticket {child_id}")]
        ticket_of = {imei: child["id"] for child in children for imei in child["devices"]}
        findings = {f.get("imei"): f for f in document.get("findings") or [] if f.get("code") != OUTAGE}
        all_devices = document.get("devices") or []
        devices = [{"imei": imei, "ticket": ticket_of.get(imei),
                    "code": (findings.get(imei) or {}).get("code"),
                    "first_seen": (findings.get(imei) or {}).get("first_seen")} for imei in all_devices[:MAX_DEVICES]]
        accounts = {child["account"] for child in children if child.get("account")}
        timeline = document.get("timeline") or []
        return {
            "outage": {**summary(document), "sla": document.get("sla") or {}, "category": document.get("category"),
                       "topic": document.get("topic")},
            "timeline": timeline[-MAX_TIMELINE:], "timeline_count": len(timeline),
            "children": children, "child_count": len(child_ids),
            "devices": devices, "device_count": len(all_devices), "accounts": len(accounts),
        }

    return run
