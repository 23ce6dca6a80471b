"""Whether a device is part of a mass outage being worked on, as its self-check tells the customer.

A device counts while its own ticket hangs, still active, under an active MASS_OUTAGE parent: once it
recovered (its ticket resolved) its self-check speaks of the tracker alone again, even if the outage
goes on for others.
"""

from __future__ import annotations

from typing import Any

import orjson

from telediag.store.database import Connection
from telediag.tickets.model import ACTIVE_STATES

SHARED_KINDS = ("operator", "apn", "area")

_QUERY = f"""
SELECT p.id, p.correlation_key, f.evidence, c.id
FROM ticket_devices d
JOIN tickets c ON c.id = d.ticket_id
JOIN tickets p ON p.id = c.parent_id
LEFT JOIN ticket_findings f ON f.ticket_id = p.id AND f.code = 'MASS_OUTAGE'
WHERE d.imei = ? AND p.problem = 'MASS_OUTAGE'
  AND c.state IN ({", ".join("?" * len(ACTIVE_STATES))}) AND p.state IN ({", ".join("?" * len(ACTIVE_STATES))})
ORDER BY p.id DESC LIMIT 1
"""


def active_outage(db: Connection, imei: str) -> dict[str, Any] | None:
    """``{"ticket_id", "child_id", "kind": "operator"|"apn"|"area", "value", "country", "onset",
    "devices"}`` of the outage the device is part of, or None. ``onset`` is ISO UTC (None if unknown)."""
    found = db.execute(_QUERY, (imei, *ACTIVE_STATES, *ACTIVE_STATES)).fetchone()
    if found is None:
        return None
    parent_id, correlation, evidence_text, child_id = found
    evidence: dict[str, Any] = orjson.loads(evidence_text) if evidence_text else {}
    kind, _, value = (correlation or "").partition("=")
    if kind not in SHARED_KINDS:
        kind = next((k for k in SHARED_KINDS if evidence.get(k) not in (None, "")), "")
        value = str(evidence.get(kind, "")) if kind else ""
    return {
        "ticket_id": parent_id, "child_id": child_id, "kind": kind or None, "value": value or None,
        "country": evidence.get("country"), "onset": evidence.get("onset"), "devices": evidence.get("devices"),
    }
