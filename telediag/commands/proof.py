"""Whether a fix sent from a ticket took: facts in, a verdict out. Pure, with ``now`` passed in.

A fix is proven by what the device and the network do after it, not by the send alone:

* the finding it was sent for clears after the fix was asked for; or
* over TCP, the device's own answer accepts the command, and then it shows it works: a data
  session accepted in the connectivity feed (``pdp_create``) or records received after the send;
* over SMS (no answer comes back), that data session or those records after the send.

It did not take when the device refused it in its answer, when the command could not be delivered
(expired, failed, cancelled), or when ``proof_due`` passes without proof.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from protocols.record import iso_utc

REFUSALS = re.compile(r"\b(error|invalid|unknown|fail(ed|ure)?|wrong|denied|not allowed|rejected)\b", re.IGNORECASE)
"""Words of a device answer that refuses a command (``Unknown command``, ``Param ID error``)."""


@dataclass(frozen=True, slots=True)
class FixFacts:
    """What is known about one fix at ``now``."""

    code: str
    """The finding the fix was sent for."""
    text: str
    state: str
    channel: str | None
    created_at: float
    sent_at: float | None
    answer: str | None
    error: str | None
    proof_due: float
    pdp_accepted_at: float | None = None
    """The first ``pdp_create`` of the device's SIM at or after the send."""
    records_since: float | None = None
    """The first ``server_time`` of the device's records after the send."""
    records_count: int = 0
    finding_cleared_at: float | None = None
    """When the finding cleared after the fix was asked for (None: still active, or never was)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """``waiting``, ``proven`` or ``not_taken``, with the evidence in words for the ticket."""

    outcome: str
    evidence: str


def accepted(answer: str | None) -> bool:
    """Whether a device answer accepts the command (says something, refuses nothing)."""
    return bool(answer and answer.strip()) and REFUSALS.search(answer or "") is None


def evaluate(facts: FixFacts, now: float) -> Verdict:
    """The verdict on one fix at ``now``."""
    fix = f"the fix \"{facts.text}\""
    if facts.finding_cleared_at is not None:
        return Verdict("proven", f"{fix} took: {facts.code} cleared at {iso_utc(facts.finding_cleared_at)}")
    works = _works(facts)
    if facts.state == "answered":
        if not accepted(facts.answer):
            return Verdict("not_taken", f"{fix} did not take: the device refused it, answering \"{facts.answer}\"")
        if works:
            return Verdict("proven", f"{fix} took: the device answered \"{facts.answer}\", then {works}")
    elif facts.state == "sent" and facts.channel == "sms" and works:
        return Verdict("proven", f"{fix} took: sent by SMS at {iso_utc(facts.sent_at)}, then {works}")
    elif facts.state in ("expired", "failed", "cancelled"):
        why = facts.error or facts.state
        return Verdict("not_taken", f"{fix} did not take: the command was not delivered ({why})")
    if now >= facts.proof_due:
        return Verdict("not_taken", f"{fix} did not take: {_missing(facts)} by {iso_utc(facts.proof_due)}")
    return Verdict("waiting", f"{fix}: waiting for proof until {iso_utc(facts.proof_due)}")


def _works(facts: FixFacts) -> str:
    """What shows the device works since the send, in words ('' for nothing yet)."""
    if facts.pdp_accepted_at is not None:
        return f"the network accepted its data session at {iso_utc(facts.pdp_accepted_at)}"
    if facts.records_since is not None:
        return f"its records arrive again ({facts.records_count} since {iso_utc(facts.records_since)})"
    return ""


def _missing(facts: FixFacts) -> str:
    if facts.state == "queued":
        return "the device never took the command"
    if facts.state == "sent" and facts.channel == "tcp":
        return "the device never answered"
    if facts.state == "answered":
        return f"the device answered \"{facts.answer}\" but no data session or new record followed"
    return "no data session or new record followed the SMS"
