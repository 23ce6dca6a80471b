"""Notifications to people: findings and ticket events, matched against each account's rules, held
through quiet hours, gathered into digests, rendered per recipient and queued in the mail outbox.

Synchronous; :func:`sweep` runs in one transaction on the notifications thread and takes ``now``.
Nothing is lost across a restart, because every input is durable before it is read:

- findings come from the ``findings`` table itself (a rule wants a condition that has *lasted*, which
  only the stored ``first_seen`` can tell); ``notification_told`` says which were already taken up;
- ticket events are queued in ``notification_events`` by :func:`event_notifier`, inside the ticket
  change's own transaction (the transactional outbox), and deleted once matched;
- what a rule matched waits in ``notification_pending`` until its quiet hours end and its digest
  window allows a message; the message rows are queued in the same transaction that deletes it.

Digests: a rule's items are grouped by the mass outage they belong to (the ``MASS_OUTAGE`` parent of
the device's or ticket's ticket) or else by the account. A group sends at once when it has not sent
within ``digest_window_s``; otherwise its items wait for the window's end and go out as one message
that lists them, so an outage becomes a few digests instead of a flood.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from telediag.config.mail import MailConfig, NotificationsConfig
from telediag.mail import contacts as contact_store
from telediag.mail import outbox
from telediag.mail.rules import ACCOUNT, CONTACTS, TEAM, Rule, in_quiet_hours, listing, rule_zone
from telediag.mail.templates import Context, Reader, build_message, render
from telediag.store.database import Connection, transaction
from telediag.tickets.lifecycle import Notify
from telediag.tickets.model import ACTIVE_STATES

PSEUDONYMISED_TEAMS = frozenset({"technical", "it"})
EVENTS_PER_SWEEP = 5000
"""Ticket events read per sweep (the rest wait for the next one, in order)."""
NOTE_KINDS = frozenset({"comment", "outage_update", "suggested_answer", "reopened", "auto_resolved",
                        "resolved_with_parent", "closed", "auto_closed"})
"""Timeline entries whose text a ticket event's message quotes (what a person wrote or was told)."""
MAX_NOTE_CHARS = 2000
_ACTIVE = ", ".join(f"'{state}'" for state in ACTIVE_STATES)


def event_notifier(inner: Notify | None) -> Notify:
    """The ticket lifecycle's ``notify`` with e-mail: ``inner`` (webhooks, MQTT) as before, and the
    event queued for the notification rules in the same transaction."""
    def notify(db: Connection, event: str, document: dict[str, Any], now: float) -> None:
        if inner is not None:
            inner(db, event, document, now)
        queue_event(db, event, document, now)
    return notify


def queue_event(db: Connection, event: str, document: Mapping[str, Any], now: float) -> None:
    """Keep what a message about this event needs (inside the caller's transaction); events of tickets
    without an account (outage parents) reach people through their children's events."""
    if not document.get("account"):
        return
    timeline = document.get("timeline") or []
    last = timeline[-1] if timeline else {}
    note = str(last.get("text") or "")[:MAX_NOTE_CHARS] if last.get("kind") in NOTE_KINDS else None
    summary = {"event": event, "ticket_id": document["id"], "title": document.get("title"),
               "state": document.get("state"), "parent_id": document.get("parent_id"), "note": note}
    db.execute(
        "INSERT INTO notification_events (event, ticket_id, account, payload, at) VALUES (?, ?, ?, ?, ?)",
        (event, document["id"], document["account"], orjson.dumps(summary).decode(), now),
    )


@dataclass(frozen=True)
class Pending:
    """An item a rule matched, as kept in ``notification_pending``."""

    id: int
    rule_id: int
    group_key: str
    finding_id: int | None
    item: dict[str, Any]


def due_groups(
    groups: Iterable[str], last_sent: Mapping[str, float], quiet: bool, window_s: float, now: float,
) -> list[str]:
    """The groups of one rule that may send now: none during quiet hours, and each only once
    ``window_s`` has passed since it last sent (at once when it never did)."""
    if quiet:
        return []
    return sorted(key for key in groups if key not in last_sent or now - last_sent[key] >= window_s)


def outage_of(group_key: str) -> int | None:
    """The outage ticket a group key names (``outage:<id>``), or None for an account's group."""
    kind, _, value = group_key.partition(":")
    return int(value) if kind == "outage" else None


Pseudonym = Callable[[str], str]


class Notifier:
    """Applies the rules; one :meth:`sweep` per tick on the notifications thread."""

    def __init__(self, config: NotificationsConfig, mail: MailConfig, pseudonym: Pseudonym) -> None:
        self.config = config
        self.mail = mail
        self.pseudonym = pseudonym

    def sweep(self, db: Connection, now: float) -> int:
        """Take up new findings and ticket events, send what is due; returns the messages queued."""
        with transaction(db):
            rules = listing(db)
            for rule in rules:
                if rule.codes:
                    self._take_findings(db, rule, now)
            self._take_events(db, rules, now)
            return self._flush(db, {rule.id: rule for rule in rules}, now)

    def _take_findings(self, db: Connection, rule: Rule, now: float) -> None:
        marks = ", ".join("?" * len(rule.codes))
        rows = db.execute(
            "SELECT f.id, f.imei, f.code, f.first_seen, d.vehicle_plate FROM findings f "
            "JOIN devices d ON d.imei = f.imei "
            f"WHERE d.account = ? AND f.active = 1 AND f.code IN ({marks}) AND f.first_seen <= ? "
            "AND NOT EXISTS (SELECT 1 FROM notification_told t WHERE t.rule_id = ? AND t.finding_id = f.id) "
            "ORDER BY f.id",
            (rule.account, *rule.codes, now - rule.min_duration_s, rule.id),
        ).fetchall()
        for finding_id, imei, code, first_seen, plate in rows:
            item = {"kind": "finding", "code": code, "imei": imei, "plate": plate, "since": first_seen}
            self._hold(db, rule.id, self._device_group(db, rule.account, imei), finding_id, item, now)
            db.execute("INSERT INTO notification_told (rule_id, finding_id, at) VALUES (?, ?, ?)",
                       (rule.id, finding_id, now))

    def _take_events(self, db: Connection, rules: Sequence[Rule], now: float) -> None:
        by_account: dict[str, list[Rule]] = defaultdict(list)
        for rule in rules:
            if rule.events:
                by_account[rule.account].append(rule)
        rows = db.execute("SELECT id, event, account, payload FROM notification_events ORDER BY id LIMIT ?",
                          (EVENTS_PER_SWEEP,)).fetchall()
        for _, event, account, payload in rows:
            wanting = [rule for rule in by_account.get(account, []) if rule.wants_event(event)]
            if not wanting:
                continue
            summary = orjson.loads(payload)
            group = self._ticket_group(db, account, summary.get("parent_id"))
            for rule in wanting:
                self._hold(db, rule.id, group, None, {"kind": "event", **summary}, now)
        if rows:
            db.execute("DELETE FROM notification_events WHERE id <= ?", (rows[-1][0],))

    @staticmethod
    def _hold(db: Connection, rule_id: int, group: str, finding_id: int | None, item: dict[str, Any],
              now: float) -> None:
        db.execute(
            "INSERT INTO notification_pending (rule_id, group_key, kind, finding_id, item, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (rule_id, group, item["kind"], finding_id, orjson.dumps(item).decode(), now),
        )

    @staticmethod
    def _device_group(db: Connection, account: str, imei: str) -> str:
        """``outage:<id>`` when the device's open ticket is part of an active mass outage."""
        found = db.execute(
            "SELECT p.id FROM ticket_devices td JOIN tickets t ON t.id = td.ticket_id "
            "JOIN tickets p ON p.id = t.parent_id "
            f"WHERE td.imei = ? AND p.problem = 'MASS_OUTAGE' AND p.state IN ({_ACTIVE}) ORDER BY p.id DESC LIMIT 1",
            (imei,),
        ).fetchone()
        return f"outage:{found[0]}" if found else f"account:{account}"

    @staticmethod
    def _ticket_group(db: Connection, account: str, parent_id: int | None) -> str:
        if parent_id is not None:
            found = db.execute("SELECT problem FROM tickets WHERE id = ?", (parent_id,)).fetchone()
            if found and found[0] == "MASS_OUTAGE":
                return f"outage:{parent_id}"
        return f"account:{account}"

    def _flush(self, db: Connection, rules: Mapping[int, Rule], now: float) -> int:
        pending: dict[int, dict[str, list[Pending]]] = defaultdict(lambda: defaultdict(list))
        for row_id, rule_id, group, finding_id, item in db.execute(
            "SELECT id, rule_id, group_key, finding_id, item FROM notification_pending ORDER BY id"
        ).fetchall():
            pending[rule_id][group].append(Pending(row_id, rule_id, group, finding_id, orjson.loads(item)))
        queued = 0
        for rule_id, groups in pending.items():
            rule = rules.get(rule_id)
            if rule is None:  # removed since: its work goes with it
                db.execute("DELETE FROM notification_pending WHERE rule_id = ?", (rule_id,))
                continue
            country = db.execute("SELECT home_country FROM accounts WHERE name = ?", (rule.account,)).fetchone()
            zone = rule_zone(rule, country[0] if country else None, self.config.default_timezone)
            last_sent = {group: at for group, at in db.execute(
                "SELECT group_key, last_sent_at FROM notification_groups WHERE rule_id = ?", (rule_id,))}
            quiet = in_quiet_hours(rule.quiet_hours, zone, now)
            for group in due_groups(groups, last_sent, quiet, self.config.digest_window_s, now):
                held = groups[group]
                db.executemany("DELETE FROM notification_pending WHERE id = ?", [(p.id,) for p in held])
                items = [p.item for p in held if p.finding_id is None or _still_active(db, p.finding_id)]
                if not items:
                    continue
                queued += self._send(db, rule, group, items, zone, now)
                db.execute(
                    "INSERT INTO notification_groups (rule_id, group_key, last_sent_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (rule_id, group_key) DO UPDATE SET last_sent_at = excluded.last_sent_at",
                    (rule_id, group, now),
                )
        return queued

    def _send(self, db: Connection, rule: Rule, group: str, items: list[dict[str, Any]], zone: Any,
              now: float) -> int:
        sent = 0
        for reader in self.readers(db, rule):
            account = self.pseudonym(rule.account) if reader.pseudonymised else rule.account
            context = Context(rule.id, account, zone, outage_of(group), self.config.console_url)
            subject, body = render(items, reader, context)
            message = build_message(self.mail.sender, reader.address, subject, body, now, language=reader.language)
            outbox.enqueue(db, "notification", reader.address, message, now)
            sent += 1
        return sent

    def readers(self, db: Connection, rule: Rule) -> list[Reader]:
        """The rule's recipients as addresses with their languages, each address once."""
        default = rule.language or self.config.default_language
        known = {c.email: c for c in contact_store.listing(db, rule.account)}
        found: dict[str, Reader] = {}

        def add(address: str | None, language: str, pseudonymised: bool = False) -> None:
            if address and address.lower() not in found:
                found[address.lower()] = Reader(address.lower(), language, pseudonymised)

        for recipient in rule.recipients:
            if recipient == ACCOUNT:
                row = db.execute("SELECT email FROM accounts WHERE name = ?", (rule.account,)).fetchone()
                add(row[0] if row else None, default)
            elif recipient == CONTACTS:
                for contact in known.values():
                    add(contact.email, contact.language)
            elif recipient.startswith(TEAM):
                team = recipient[len(TEAM):]
                for address in self.config.teams.get(team, ()):
                    add(address, self.config.default_language, team in PSEUDONYMISED_TEAMS)
            else:
                listed = known.get(recipient)
                add(recipient, listed.language if listed else default)
        return list(found.values())


def _still_active(db: Connection, finding_id: int) -> bool:
    """A finding held through quiet hours or a digest window that cleared meanwhile is no news."""
    row = db.execute("SELECT active FROM findings WHERE id = ?", (finding_id,)).fetchone()
    return bool(row and row[0])
