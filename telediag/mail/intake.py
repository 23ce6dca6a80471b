"""What support mail does once received: a new ticket, a comment on the ticket it answers, or a polite
answer that says why neither happened. Synchronous; runs on the intake thread with its connection.

- The sender is matched to an account's contacts by address. Unknown senders are answered and no
  ticket is opened.
- A subject carrying ``[#<id>]`` is a comment on that ticket, taken only from a contact of that
  ticket's account (anyone else is told so, and learns nothing about the ticket).
- A new message needs the permission its subject asks for (``billing`` for contract and invoice
  questions, ``technical`` otherwise); a contact without it is told which contacts may ask.
- Tickets go through :meth:`TicketDesk.file`, as the API's do: classified, routed, enriched with the
  self-checks and findings of the devices the text names by IMEI or plate. Attachment names are kept
  on the timeline.
- Machine-sent mail (out-of-office, bounces, lists) is never answered and changes nothing, so an
  auto-reply to a notification cannot start a loop. An address gets at most one answer of a kind per
  ``ANSWER_INTERVAL_S``, so forged senders cannot turn the listener into a mail cannon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telediag.config.mail import MailConfig
from telediag.mail import contacts as contact_store
from telediag.mail import outbox
from telediag.mail.contacts import Contact
from telediag.mail.parse import Incoming, devices_named, needed_permission
from telediag.mail.templates import answer_text, build_message
from telediag.store.database import Connection, transaction
from telediag.tickets import repository as repo
from telediag.tickets.desk import Findings, SelfCheck, TicketDesk
from telediag.tickets.model import TicketError, TicketNotFound

ANSWER_INTERVAL_S = 3600.0


@dataclass(frozen=True)
class Outcome:
    """What a message did: ``ticket``, ``comment``, ``unknown_sender``, ``not_permitted``,
    ``not_your_ticket``, ``refused`` or ``ignored``; the ticket it made or changed; whether an answer was queued."""

    action: str
    ticket_id: int | None = None
    answered: bool = False


def by(contact: Contact) -> str:
    """The timeline's actor for a contact: never the name or the address."""
    return f"contact#{contact.id}"


class Intake:
    """Turns parsed support mail into desk calls and answers."""

    def __init__(self, desk: TicketDesk, mail: MailConfig, selfcheck: SelfCheck, findings: Findings) -> None:
        self.desk = desk
        self.mail = mail
        self.selfcheck = selfcheck
        self.findings = findings

    def handle(self, db: Connection, incoming: Incoming, now: float) -> Outcome:
        """Act on one message (each store change is its own transaction, as the desk's are)."""
        if incoming.automatic:
            return Outcome("ignored")
        known = contact_store.by_address(db, incoming.sender)
        if incoming.ticket_id is not None:
            return self._reply(db, incoming, known, now)
        if not known:
            return Outcome("unknown_sender", answered=self._answer(db, incoming, "unknown_sender", "en", now))
        permission = needed_permission(f"{incoming.subject}\n{incoming.text}")
        allowed = [contact for contact in known if permission in contact.permissions]
        if not allowed:
            first = known[0]
            names = ", ".join(c.name for c in contact_store.listing(db, first.account) if permission in c.permissions)
            answered = self._answer(db, incoming, "not_permitted", first.language, now, permission=permission,
                                    account=first.account, names=names)
            return Outcome("not_permitted", answered=answered)
        contact, devices = self._account_for(db, allowed, incoming.text)
        description = f"{incoming.subject}\n\n{incoming.text}".strip() or "(empty message)"
        ticket_id = self.desk.file(
            db, origin="customer", by=by(contact), account=contact.account, devices=devices,
            description=description, now=now, selfcheck=self.selfcheck, findings=self.findings,
            title=incoming.subject or None,
        )
        self._attachments(db, ticket_id, contact, incoming, now)
        answered = self._answer(db, incoming, "ticket_created", contact.language, now, ticket_id=ticket_id)
        return Outcome("ticket", ticket_id, answered)

    def _reply(self, db: Connection, incoming: Incoming, known: list[Contact], now: float) -> Outcome:
        assert incoming.ticket_id is not None
        if not known:
            return Outcome("unknown_sender", answered=self._answer(db, incoming, "unknown_sender", "en", now))
        try:
            account = repo.row(db, incoming.ticket_id)["account"]
        except TicketNotFound:
            account = None
        contact = next((c for c in known if account is not None and c.account == account), None)
        if contact is None:
            answered = self._answer(db, incoming, "not_your_ticket", known[0].language, now,
                                    ticket_id=incoming.ticket_id)
            return Outcome("not_your_ticket", answered=answered)
        text = incoming.text or ("(attachments only)" if incoming.attachments else "(empty message)")
        try:
            self.desk.comment(db, incoming.ticket_id, by(contact), text, now, staff=False)
        except TicketError:  # a rule of the desk: accepted and dropped, or the forwarder would retry for ever
            return Outcome("refused", incoming.ticket_id)
        self._attachments(db, incoming.ticket_id, contact, incoming, now)
        return Outcome("comment", incoming.ticket_id)

    @staticmethod
    def _account_for(db: Connection, allowed: list[Contact], text: str) -> tuple[Contact, list[str]]:
        """The contact (so the account) the message is from, and the devices of that account it names:
        a person who is a contact of several accounts writes for the one whose devices they name."""
        best: tuple[Contact, list[str]] | None = None
        for contact in allowed:
            devices = db.execute("SELECT imei, vehicle_plate FROM devices WHERE account = ?",
                                 (contact.account,)).fetchall()
            named = devices_named(text, [(imei, plate) for imei, plate in devices])
            if best is None or len(named) > len(best[1]):
                best = (contact, named)
        assert best is not None
        return best

    @staticmethod
    def _attachments(db: Connection, ticket_id: int, contact: Contact, incoming: Incoming, now: float) -> None:
        if incoming.attachments:
            with transaction(db):
                repo.add_timeline(db, ticket_id, now, "attachments", by(contact),
                                  "attached to the e-mail: " + ", ".join(incoming.attachments))

    def _answer(self, db: Connection, incoming: Incoming, kind: str, language: str, now: float,
                **values: Any) -> bool:
        """Queue an answer unless mail is off, the message was machine-sent, or the address got the
        same kind of answer within ``ANSWER_INTERVAL_S``; whether one was queued."""
        if not self.mail.enabled or incoming.automatic or not incoming.sender:
            return False
        purpose = f"answer:{kind}"
        with transaction(db):
            recent = db.execute(
                "SELECT 1 FROM mail_outbox WHERE purpose = ? AND recipients = ? AND created_at > ? LIMIT 1",
                (purpose, incoming.sender, now - ANSWER_INTERVAL_S),
            ).fetchone()
            if recent is not None and kind != "ticket_created":
                return False
            subject, body = answer_text(language, kind, subject=incoming.subject, **values)
            message = build_message(self.mail.sender, incoming.sender, subject, body, now, auto="auto-replied",
                                    in_reply_to=incoming.message_id, language=language)
            outbox.enqueue(db, purpose, incoming.sender, message, now)
        return True
