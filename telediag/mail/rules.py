"""Notification rules: per account, which finding codes and ticket events are worth a message, how
long a finding must last first, the quiet hours (in the account's time zone) that hold messages, and
who gets them.

The checks and the quiet-hours arithmetic are pure; the store functions take the connection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import TZPATH, ZoneInfo, ZoneInfoNotFoundError

import orjson

from telediag.config.mail import ADDRESS, TEAMS
from telediag.diagnostics.catalogue import FINDINGS
from telediag.languages import LANGUAGES
from telediag.store.database import Connection

TICKET_EVENTS = (
    "ticket.created", "ticket.open", "ticket.waiting_customer", "ticket.resolved", "ticket.closed",
    "ticket.reopened", "ticket.commented", "ticket.enriched", "ticket.outage_update", "ticket.sla_breached",
)
"""The events the ticket lifecycle emits (``telediag.tickets.lifecycle``)."""
ACCOUNT, CONTACTS, TEAM = "account", "contacts", "team:"
"""Recipients: the account's own address, every contact of the account, a staff team; or an address."""
MAX_RECIPIENTS = 20
MAX_DURATION_S = 30 * 86400.0
_FIELDS = ("account", "codes", "events", "min_duration_s", "quiet_hours", "timezone", "language", "recipients")
_HOURS = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")


class RuleError(ValueError):
    """A rule body was refused; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Rule:
    """One rule as stored."""

    id: int
    account: str
    codes: tuple[str, ...]
    events: tuple[str, ...]
    min_duration_s: float
    quiet_hours: str | None
    timezone: str | None
    language: str | None
    recipients: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The API's shape."""
        return {"id": self.id, "account": self.account, "codes": list(self.codes), "events": list(self.events),
                "min_duration_s": self.min_duration_s, "quiet_hours": self.quiet_hours, "timezone": self.timezone,
                "language": self.language, "recipients": list(self.recipients)}

    def wants_finding(self, code: str) -> bool:
        """Whether a finding of ``code`` is worth a message under this rule."""
        return code in self.codes

    def wants_event(self, event: str) -> bool:
        """Whether a ticket event is worth a message under this rule."""
        return event in self.events


def parse_rule(body: Mapping[str, Any], staff: bool) -> dict[str, Any]:
    """A new rule's fields from a JSON-like body; RuleError listing every problem.

    Customers (``staff`` false) may write to their account's own address and contacts only: a rule
    is no way to send mail to anyone else, nor to the staff teams.
    """
    problems = [f"unknown field {str(key)[:40]!r}; known: {', '.join(_FIELDS)}" for key in body if key not in _FIELDS]
    account = body.get("account")
    if not isinstance(account, str) or not account.strip():
        problems.append("account is required (the account's name)")
    codes = _names(body.get("codes", []), "codes", tuple(FINDINGS), problems)
    events = _names(body.get("events", []), "events", TICKET_EVENTS, problems)
    if not codes and not events:
        problems.append("a rule needs at least one finding code in codes or ticket event in events")
    duration = body.get("min_duration_s", 0)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not 0 <= duration <= MAX_DURATION_S:
        problems.append(f"min_duration_s must be a number of seconds from 0 to {MAX_DURATION_S:g}")
        duration = 0
    quiet = body.get("quiet_hours")
    if quiet is not None and (not isinstance(quiet, str) or not _quiet_valid(quiet)):
        problems.append("quiet_hours must be HH:MM-HH:MM (e.g. 22:00-07:00, across midnight allowed) or null")
    zone = body.get("timezone")
    if zone is not None and (not isinstance(zone, str) or not valid_zone(zone)):
        problems.append("timezone must be an IANA time zone like Europe/Warsaw, or null (the account's country)")
    language = body.get("language")
    if language is not None and language not in LANGUAGES:
        problems.append(f"language must be one of {', '.join(LANGUAGES)}, or null (the default)")
    recipients = body.get("recipients", [ACCOUNT])
    if not isinstance(recipients, list) or not recipients or len(recipients) > MAX_RECIPIENTS:
        problems.append(f"recipients must be a list of 1 to {MAX_RECIPIENTS} entries")
        recipients = []
    for recipient in recipients:
        problem = _recipient_problem(recipient, staff)
        if problem:
            problems.append(problem)
    if problems:
        raise RuleError(problems)
    return {"account": str(account).strip(), "codes": codes, "events": events, "min_duration_s": float(duration),
            "quiet_hours": quiet, "timezone": zone, "language": language,
            "recipients": tuple(dict.fromkeys(_recipient(r) for r in recipients))}


def _names(value: Any, key: str, known: Sequence[str], problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{key} must be a list of names")
        return ()
    unknown = [v[:40] for v in value if v not in known]
    if unknown:
        problems.append(f"{key}: unknown {', '.join(map(repr, unknown[:5]))}; known: {', '.join(known)}")
    return tuple(sorted(set(value) - set(unknown)))


def _recipient(value: str) -> str:
    return value.strip().lower() if "@" in value else value.strip()


def _recipient_problem(value: Any, staff: bool) -> str | None:
    if not isinstance(value, str):
        return "recipients must be strings"
    value = _recipient(value)
    if value in (ACCOUNT, CONTACTS):
        return None
    if value.startswith(TEAM):
        if not staff:
            return "customers may not write to the staff teams; staff add those rules"
        return None if value[len(TEAM):] in TEAMS else f"recipients: unknown team {value!r}; known: " + \
            ", ".join(TEAM + team for team in TEAMS)
    if value.isascii() and ADDRESS.fullmatch(value):
        return None
    return (f"recipients: {value[:60]!r} is not {ACCOUNT!r}, {CONTACTS!r}, team:<name> or an e-mail address")


def _quiet_valid(spec: str) -> bool:
    match = _HOURS.fullmatch(spec)
    return match is not None and match.group(1, 2) != match.group(3, 4)


@cache
def valid_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone this system knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def in_quiet_hours(spec: str | None, zone: ZoneInfo, now: float) -> bool:
    """Whether ``now`` falls in ``spec`` (``HH:MM-HH:MM``, start inclusive, end exclusive; across
    midnight when the end is earlier than the start) on the wall clock of ``zone``."""
    if not spec:
        return False
    match = _HOURS.fullmatch(spec)
    if match is None:
        return False
    start = time(int(match[1]), int(match[2]))
    end = time(int(match[3]), int(match[4]))
    local = datetime.fromtimestamp(now, zone).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end


@cache
def country_zones() -> Mapping[str, str]:
    """ISO 3166 country -> its first IANA zone (the most populous by ``zone1970.tab``'s convention),
    read from the system's time zone data; empty where that file is absent."""
    zones: dict[str, str] = {}
    for folder in TZPATH:
        table = Path(folder) / "zone1970.tab"
        if not table.is_file():
            continue
        for line in table.read_text(encoding="utf-8").splitlines():
            if line.startswith("#") or not line.strip():
                continue
            countries, _, name = line.split("\t")[:3]
            for country in countries.split(","):
                zones.setdefault(country, name)
        break
    return zones


def rule_zone(rule: Rule, home_country: str | None, default: str) -> ZoneInfo:
    """The zone a rule's quiet hours are in: its own, else its account's country's, else ``default``."""
    name = rule.timezone or country_zones().get((home_country or "").upper()) or default
    return ZoneInfo(name if valid_zone(name) else default)


_COLUMNS = "id, account, codes, events, min_duration_s, quiet_hours, timezone, language, recipients"


def _rule(row: tuple[Any, ...]) -> Rule:
    rule_id, account, codes, events, duration, quiet, zone, language, recipients = row
    return Rule(int(rule_id), account, tuple(orjson.loads(codes)), tuple(orjson.loads(events)), float(duration),
                quiet, zone, language, tuple(orjson.loads(recipients)))


def add(db: Connection, fields: Mapping[str, Any], by: str, now: float, staff: bool) -> Rule:
    """Store a rule parsed by :func:`parse_rule`; RuleError for an unknown account, or (customers) an
    address that is not one of the account's own."""
    found = db.execute("SELECT email FROM accounts WHERE name = ?", (fields["account"],)).fetchone()
    if found is None:
        raise RuleError([f"no account {fields['account']!r}"])
    if not staff:
        own = {row[0] for row in db.execute("SELECT email FROM contacts WHERE account = ?", (fields["account"],))}
        own |= {(found[0] or "").lower()}
        strangers = [r for r in fields["recipients"] if "@" in r and r not in own]
        if strangers:
            raise RuleError([f"recipients: {', '.join(strangers)} is not an address of this account; "
                             "add the person as a contact first"])
    (rule_id,) = db.execute(
        "INSERT INTO notification_rules (account, codes, events, min_duration_s, quiet_hours, timezone, language, "
        "recipients, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (fields["account"], orjson.dumps(list(fields["codes"])).decode(), orjson.dumps(list(fields["events"])).decode(),
         fields["min_duration_s"], fields["quiet_hours"], fields["timezone"], fields["language"],
         orjson.dumps(list(fields["recipients"])).decode(), by, now),
    ).fetchone()
    found_rule = get(db, int(rule_id))
    assert found_rule is not None
    return found_rule


def listing(db: Connection, account: str | None = None) -> list[Rule]:
    """Rules of one account (all with None), by id."""
    if account is None:
        return [_rule(row) for row in db.execute(f"SELECT {_COLUMNS} FROM notification_rules ORDER BY id")]
    return [_rule(row) for row in db.execute(
        f"SELECT {_COLUMNS} FROM notification_rules WHERE account = ? ORDER BY id", (account,))]


def get(db: Connection, rule_id: int) -> Rule | None:
    """One rule, or None."""
    row = db.execute(f"SELECT {_COLUMNS} FROM notification_rules WHERE id = ?", (rule_id,)).fetchone()
    return None if row is None else _rule(row)


def remove(db: Connection, rule_id: int) -> bool:
    """Delete a rule with the work it had in hand; False when there was none."""
    db.execute("DELETE FROM notification_pending WHERE rule_id = ?", (rule_id,))
    db.execute("DELETE FROM notification_told WHERE rule_id = ?", (rule_id,))
    db.execute("DELETE FROM notification_groups WHERE rule_id = ?", (rule_id,))
    return bool(db.execute("DELETE FROM notification_rules WHERE id = ?", (rule_id,)).rowcount)
