"""Fix with proof: a ticket's finding whose hint is a device command is sent from the ticket, and the
ticket is resolved with the evidence that it took, or told that it did not and raised one priority.

Runs on a store thread inside the caller's transaction (sending) or its own (checking). The command
is the one the finding's hint names (``telediag.diagnostics.hints``: ``setparam 2001:<apn>`` for a
Teltonika with the wrong APN), taken from the hint's own values, so the console, the self-check and
the fix can never disagree; a hint whose command still holds a placeholder (the SIM profile has no
APN) is no fix. The verdict is :func:`telediag.commands.proof.evaluate`'s; tickets change only
through the lifecycle's public functions and the repository's timeline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocols.record import iso_utc
from telediag.commands import queue
from telediag.commands.proof import FixFacts, Verdict, evaluate
from telediag.diagnostics.hints import hint
from telediag.diagnostics.wording import Message, Text
from telediag.store.database import Connection, transaction
from telediag.tickets import repository as repo
from telediag.tickets.lifecycle import Lifecycle
from telediag.tickets.model import ACTIVE_STATES, PRIORITIES, TicketError

FIX_CODES = ("APN_MISCONFIGURED", "NO_DATA_AFTER_ACTIVATION")
"""Findings whose hint's command is the fix itself (other hints' commands only ask something)."""
SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Fix:
    """The command that fixes one finding of a ticket."""

    imei: str
    code: str
    text: str


def hint_command(value: Any) -> str | None:
    """The literal ``command`` a hint names, or None (none, or one with a placeholder left in it)."""
    if isinstance(value, Text):
        for piece in value.pieces:
            found = hint_command(piece)
            if found is not None:
                return found
    elif isinstance(value, Message):
        command = value.values.get("command")
        if command is not None:
            literal = not isinstance(command, Text) or all(isinstance(p, str) and not isinstance(p, Text)
                                                           for p in command.pieces)
            return str(command) if literal and str(command).strip() else None
        for item in value.values.values():
            found = hint_command(item)
            if found is not None:
                return found
    return None


def fix_command(code: str, protocol: str | None, evidence: Mapping[str, Any], apn: str | None) -> str | None:
    """The device command that fixes ``code`` on this device, if its hint is one."""
    if code not in FIX_CODES:
        return None
    return hint_command(hint(code, protocol, evidence, {"apn": apn}))


def ticket_fix(db: Connection, ticket_id: int) -> Fix | None:
    """The first finding of the ticket that a command fixes, with that command."""
    for imei, code, evidence, protocol, apn in db.execute(
        "SELECT f.imei, f.code, f.evidence, COALESCE(d.protocol, s.protocol), p.apn FROM ticket_findings f "
        "LEFT JOIN devices d ON d.imei = f.imei LEFT JOIN device_state s ON s.imei = f.imei "
        "LEFT JOIN sim_profiles p ON p.iccid = d.iccid WHERE f.ticket_id = ? ORDER BY f.first_seen, f.imei",
        (ticket_id,),
    ).fetchall():
        text = fix_command(code, protocol, json.loads(evidence or "{}"), apn)
        if text is not None:
            return Fix(imei, code, text)
    return None


def send_fix(db: Connection, lifecycle: Lifecycle, ticket_id: int, by: str, now: float, *,
             expires_in_s: float, proof_window_s: float, max_waiting: int) -> dict[str, Any]:
    """Queue the ticket's fix with the ticket's id and say so on its timeline, in one transaction.
    TicketError when the ticket has no command fix, is not being worked on, or one already waits."""
    with transaction(db):
        ticket = repo.row(db, ticket_id)
        if ticket["state"] not in ACTIVE_STATES:
            raise TicketError(f"ticket {ticket_id} is {ticket['state']}: reopen it before sending a fix")
        fix = ticket_fix(db, ticket_id)
        if fix is None:
            raise TicketError(f"no finding of ticket {ticket_id} has a device command as its fix")
        if db.execute("SELECT 1 FROM device_commands WHERE ticket_id = ? AND proof = 'waiting'",
                      (ticket_id,)).fetchone():
            raise TicketError(f"a fix sent from ticket {ticket_id} is still waiting for proof")
        due = now + proof_window_s
        command = queue.enqueue(db, fix.imei, fix.text, by, now, expires_in_s, max_waiting=max_waiting,
                                ticket_id=ticket_id, fix_code=fix.code, proof_due=due)
        repo.add_timeline(db, ticket_id, now, "fix_sent", by,
                          f"sent the fix for {fix.code} to {fix.imei}: \"{fix.text}\" (command {command['id']}); "
                          f"waiting for proof until {iso_utc(due)}")
        repo.update_ticket(db, ticket_id, updated_at=now)
        lifecycle.responded(db, ticket, now)
        lifecycle.notify(db, ticket_id, "ticket.enriched", now)
    return command


def facts(db: Connection, row: Mapping[str, Any]) -> FixFacts:
    """What the store knows about one fix (a ``device_commands`` row as a mapping)."""
    imei, sent_at, created_at = row["imei"], row["sent_at"], row["created_at"]
    pdp = records_since = None
    count = 0
    if sent_at is not None:
        (pdp,) = db.execute(
            "SELECT MIN(e.at) FROM connectivity_events e WHERE e.type = 'pdp_create' AND e.at >= ? AND "
            "(e.imei = ? OR e.iccid = (SELECT iccid FROM devices WHERE imei = ?))", (sent_at, imei, imei),
        ).fetchone()
        records_since, count = db.execute(
            "SELECT MIN(server_time), COUNT(*) FROM records WHERE imei = ? AND server_time > ?", (imei, sent_at),
        ).fetchone()
    active = db.execute("SELECT 1 FROM findings WHERE imei = ? AND code = ? AND active = 1",
                        (imei, row["fix_code"])).fetchone()
    cleared = None
    if active is None:
        (cleared,) = db.execute("SELECT MAX(cleared_at) FROM findings WHERE imei = ? AND code = ? AND cleared_at >= ?",
                                (imei, row["fix_code"], created_at)).fetchone()
    return FixFacts(
        code=row["fix_code"], text=row["text"], state=row["state"], channel=row["channel"], created_at=created_at,
        sent_at=sent_at, answer=row["answer"], error=row["error"], proof_due=row["proof_due"],
        pdp_accepted_at=pdp, records_since=records_since, records_count=int(count or 0), finding_cleared_at=cleared,
    )


def raised(priority: str) -> str:
    """One step more urgent (P1 stays P1)."""
    index = PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES) - 1
    return PRIORITIES[max(index - 1, 0)]


def check_fixes(db: Connection, lifecycle: Lifecycle, now: float) -> dict[str, int]:
    """Give every fix waiting for proof its verdict at ``now``; each settled fix is one transaction."""
    counts = {"proven": 0, "not_taken": 0, "waiting": 0}
    cursor = db.execute("SELECT id, imei, text, state, channel, created_at, sent_at, answer, error, ticket_id, "
                        "fix_code, proof_due FROM device_commands WHERE proof = 'waiting' ORDER BY id")
    names = [d[0] for d in cursor.description]
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        verdict = evaluate(facts(db, row), now)
        counts[verdict.outcome] += 1
        if verdict.outcome != "waiting":
            with transaction(db):
                _settle(db, lifecycle, row, verdict, now)
    return counts


def _settle(db: Connection, lifecycle: Lifecycle, row: Mapping[str, Any], verdict: Verdict, now: float) -> None:
    changed = db.execute("UPDATE device_commands SET proof = ?, proof_evidence = ? WHERE id = ? AND proof = 'waiting'",
                         (verdict.outcome, verdict.evidence, row["id"])).rowcount
    ticket_id = row["ticket_id"]
    if not changed or ticket_id is None:
        return
    ticket = repo.row(db, ticket_id)
    if verdict.outcome == "proven":
        if ticket["state"] in ACTIVE_STATES:
            lifecycle.move(db, ticket_id, "resolved", SYSTEM, now, f"resolved: {verdict.evidence}", staff=False,
                           kind="fix_proven")
        else:
            repo.add_timeline(db, ticket_id, now, "fix_proven", SYSTEM, verdict.evidence)
        return
    priority = raised(ticket["priority"])
    note = (f"priority raised {ticket['priority']} -> {priority}" if priority != ticket["priority"]
            else f"priority stays {priority}")
    repo.add_timeline(db, ticket_id, now, "fix_not_taken", SYSTEM, f"{verdict.evidence}; {note}")
    repo.update_ticket(db, ticket_id, priority=priority, updated_at=now)
    lifecycle.notify(db, ticket_id, "ticket.enriched", now)
