"""E-mail through real SMTP on 127.0.0.1: notifications sent by Twisted's ESMTP client to an aiosmtpd
server, read back as they arrived; support mail sent with smtplib (from a thread) to the twisted.mail
listener. The store is the run's backend; the rules' and the sender's timers run on a ``task.Clock``,
the sockets on the reactor."""

from __future__ import annotations

import smtplib
import tempfile
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from telediag.config import Config, SlaConfig, TicketsConfig, parse_config
from telediag.mail import outbox
from telediag.mail.notify import event_notifier
from telediag.mail.services import mail_services
from telediag.store.database import Database
from telediag.tickets import repository as repo
from telediag.tickets.desk import TicketDesk
from tests.stores import database_at
from tests.telediag.mail.fleet import (
    MONDAY_NOON_WARSAW,
    add_contact,
    add_rule,
    mass_outage,
    raise_finding,
    register,
)
from tests.telediag.mail.smtpserver import SmtpServer

HOUR = 3600.0


def selfcheck(imei: str) -> dict[str, Any]:
    return {"imei": imei, "overall": "ok", "checks": []}


class MailTest(unittest.TestCase):
    """A store with Acme's fleet, an SMTP server to send to, and the mail services on a clock."""

    def setUp(self) -> None:
        self.server = SmtpServer().start()
        self.addCleanup(self.server.stop)
        folder = Path(tempfile.mkdtemp(prefix="telediag-mail-"))
        self.database: Database = database_at(folder / "telediag.sqlite3")
        self.db = self.database.connect()
        self.addCleanup(self.db.close)
        self.imeis = register(self.db)
        self.config: Config = parse_config({
            "store": {"data_dir": str(folder)},
            "mail": {"host": "127.0.0.1", "port": self.server.port, "sender": "desk@telediag.example",
                     "backoff_initial_s": 10.0, "backoff_max_s": 10.0, "timeout_s": 10.0},
            "notifications": {"digest_window_s": 600.0},
            "mail_intake": {"listen": "tcp:0:interface=127.0.0.1", "max_message_bytes": 64 * 1024,
                            "max_recipients": 3},
        })
        self.clock = Clock()
        self.clock.advance(MONDAY_NOON_WARSAW)
        self.desk = TicketDesk(SlaConfig(), TicketsConfig(), event_notifier(None))

    @inlineCallbacks
    def start(self, config: Config | None = None) -> Any:
        services = dict(mail_services(config or self.config, reactor, self.database, self.desk, selfcheck,
                                      lambda _: [], pseudonym=lambda name: "acct-000000000000", clock=self.clock))
        for service in services.values():
            service.startService()
            self.addCleanup(service.stopService)
        if "mail-in" in services:
            yield services["mail-in"].ready  # type: ignore[attr-defined]
        self.sender, self.rules = services["mail-out"], services["notifications"]
        self.intake = services.get("mail-in")
        yield self.rules.worker.run(lambda db: None)  # the sweep made at start is over
        return services

    @inlineCallbacks
    def sweep_and_send(self) -> Any:
        """Apply the rules and send what they queued; returns what arrived at the server."""
        yield self.rules.sweep()
        yield self.sender.send_now()
        return self.server.inbox.take()


class NotificationsThroughSmtp(MailTest):

    @inlineCallbacks
    def test_a_lasting_finding_sends_one_email_in_the_account_language(self) -> None:
        add_rule(self.db, codes=["DEVICE_SILENT"], min_duration_s=600, language="ru", recipients=["account"])
        yield self.start()
        raise_finding(self.db, self.imeis[0], "DEVICE_SILENT", MONDAY_NOON_WARSAW)
        self.clock.advance(300)
        self.assertEqual((yield self.sweep_and_send()), [])
        self.clock.advance(301)
        [arrived] = yield self.sweep_and_send()
        self.assertEqual((arrived.sender, arrived.recipients), ("desk@telediag.example", ["fleet@acme.example"]))
        self.assertEqual(arrived.message["Subject"],
                         "[telediag] Трекер перестал выходить на связь: WX 1234 (356307042441013)")
        self.assertIn("Здравствуйте!", arrived.message.get_content())
        self.assertEqual(arrived.message["Auto-Submitted"], "auto-generated")
        self.clock.advance(HOUR)
        self.assertEqual((yield self.sweep_and_send()), [])  # once, however long it lasts

    @inlineCallbacks
    def test_quiet_hours_hold_the_message_until_morning(self) -> None:
        add_rule(self.db, codes=["EXTERNAL_POWER_LOST"], quiet_hours="22:00-07:00", language="pl")
        yield self.start()
        self.clock.advance(11 * HOUR)  # 23:00 in Warsaw
        raise_finding(self.db, self.imeis[1], "EXTERNAL_POWER_LOST", self.clock.seconds())
        self.assertEqual((yield self.sweep_and_send()), [])
        self.clock.advance(7 * HOUR)  # 06:00
        self.assertEqual((yield self.sweep_and_send()), [])
        self.clock.advance(HOUR)  # 07:00
        [arrived] = yield self.sweep_and_send()
        self.assertIn("KR-55AB", arrived.message["Subject"])
        self.assertIn("Dzień dobry,", arrived.message.get_content())

    @inlineCallbacks
    def test_a_mass_outage_sends_one_digest(self) -> None:
        from telediag.registry.entries import parse_entry
        from telediag.registry.repository import save

        fleet = [parse_entry({"imei": f"3563070400{n:05d}", "protocol": "teltonika", "account": "Acme",
                              "iccid": f"8948000000000000{n:03d}", "apn": "fleet.apn"}) for n in range(10)]
        save(self.db, fleet, MONDAY_NOON_WARSAW, "import")
        add_rule(self.db, codes=["DEVICE_SILENT"], language="sv", recipients=["account"])
        yield self.start()
        for entry in fleet:
            raise_finding(self.db, entry.imei, "DEVICE_SILENT", MONDAY_NOON_WARSAW)
        mass_outage(self.db, self.desk, [entry.imei for entry in fleet], "DEVICE_SILENT", MONDAY_NOON_WARSAW)
        self.clock.advance(60)
        [digest] = yield self.sweep_and_send()
        self.assertRegex(digest.message["Subject"], r"^\[telediag\] Omfattande avbrott #\d+: 10 aviseringar$")
        self.assertEqual(digest.message.get_content().count("\n- "), 10)

    @inlineCallbacks
    def test_temporary_failures_are_retried_permanent_ones_given_up_nothing_lost_on_restart(self) -> None:
        add_rule(self.db, codes=["GPS_NO_FIX"], recipients=["account", "boss@acme.example"])
        services = yield self.start()
        self.server.inbox.answers = ["451 4.3.0 try later", "550 5.1.1 no such user"]
        raise_finding(self.db, self.imeis[0], "GPS_NO_FIX", MONDAY_NOON_WARSAW)
        self.assertEqual((yield self.sweep_and_send()), [])
        rows = {row[0]: row[1:] for row in self.db.execute(
            "SELECT recipients, attempts, last_error, sent_at FROM mail_outbox")}
        self.assertEqual(rows["fleet@acme.example"][:2], (1, "SMTP 451: 4.3.0 try later"))
        self.assertTrue(rows["boss@acme.example"][1].startswith("gave up: after 1 attempt(s): SMTP 550"))
        for service in services.values():  # a restart: the waiting row is in the store, not in memory
            yield service.stopService()
        self.clock.advance(11)
        yield self.start()
        yield self.sender.send_now()
        [arrived] = self.server.inbox.take()
        self.assertEqual(arrived.recipients, ["fleet@acme.example"])
        self.assertEqual(outbox.counts(self.db), {"waiting": 0, "sent": 1, "given_up": 1})


def support_mail(sender: str, subject: str, body: str, attachments: dict[str, bytes] | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@telediag.example"
    message["Subject"] = subject
    message["Message-ID"] = f"<{abs(hash((sender, subject)))}@mail.example>"
    message.set_content(body)
    for name, data in (attachments or {}).items():
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return message


class SupportMailIn(MailTest):

    def setUp(self) -> None:
        super().setUp()
        self.anna = add_contact(self.db, "Anna Nowak", "anna@acme.example", language="pl")
        self.bill = add_contact(self.db, "Bill Payer", "bill@acme.example", permissions=("billing",))

    def smtp(self, message: EmailMessage, recipients: list[str] | None = None) -> Any:
        """Send with smtplib from a thread; fires with smtplib's result or its exception."""
        assert self.intake is not None

        def send() -> Any:
            with smtplib.SMTP("127.0.0.1", self.intake.port, timeout=120) as client:  # type: ignore[union-attr]
                try:
                    return client.send_message(message, to_addrs=recipients)
                except smtplib.SMTPException as error:
                    return error

        return deferToThread(send)

    def tickets(self) -> list[dict[str, Any]]:
        return [repo.document(self.db, ticket_id) for ticket_id in repo.list_ids(self.db)]

    @inlineCallbacks
    def test_a_contact_opens_a_ticket_and_a_reply_becomes_a_comment(self) -> None:
        yield self.start()
        result = yield self.smtp(support_mail(
            "Anna Nowak <Anna@Acme.example>", "Brak pozycji", "Samochód WX 1234 nie pokazuje pozycji od rana.",
            {"screen.png": b"\x89PNG", "log.txt": b"log"}))
        self.assertEqual(result, {})
        [ticket] = self.tickets()
        self.assertEqual((ticket["origin"], ticket["account"], ticket["devices"], ticket["title"]),
                         ("customer", "Acme", [self.imeis[0]], "Brak pozycji"))
        self.assertEqual(ticket["language"], "pl")
        attachments = [entry for entry in ticket["timeline"] if entry["kind"] == "attachments"]
        self.assertEqual(attachments[0]["text"], "attached to the e-mail: screen.png, log.txt")
        self.assertEqual(attachments[0]["by"], f"contact#{self.anna.id}")
        yield self.sender.send_now()
        [answer] = self.server.inbox.take()
        self.assertEqual(answer.recipients, ["anna@acme.example"])
        self.assertEqual(answer.message["Subject"], f"[#{ticket['id']}] Re: Brak pozycji")
        self.assertEqual(answer.message["Auto-Submitted"], "auto-replied")
        self.assertIn(f"zgłoszenie #{ticket['id']}", answer.message.get_content())
        yield self.smtp(support_mail("anna@acme.example", f"Re: [#{ticket['id']}] Re: Brak pozycji",
                                     "Teraz działa.\n\nOn Mon, desk wrote:\n> old"))
        [ticket] = self.tickets()
        comment = ticket["timeline"][-1]
        self.assertEqual((comment["kind"], comment["text"], comment["by"]),
                         ("comment", "Teraz działa.", f"contact#{self.anna.id}"))

    @inlineCallbacks
    def test_a_reply_from_another_account_is_not_a_comment(self) -> None:
        register(self.db, 1, account="Beta", first=5)
        add_contact(self.db, "Eve", "eve@beta.example", account="Beta")
        yield self.start()
        yield self.smtp(support_mail("anna@acme.example", "No GPS", "WX 1234 has no fix"))
        [ticket] = self.tickets()
        yield self.smtp(support_mail("eve@beta.example", f"Re: [#{ticket['id']}] No GPS", "let me in"))
        [ticket] = self.tickets()
        self.assertNotIn("let me in", [entry["text"] for entry in ticket["timeline"]])
        yield self.sender.send_now()
        answers = {a.recipients[0]: a for a in self.server.inbox.take()}
        self.assertIn("is not a ticket of your account", answers["eve@beta.example"].message.get_content())

    @inlineCallbacks
    def test_an_unknown_sender_is_answered_and_no_ticket_opened(self) -> None:
        yield self.start()
        result = yield self.smtp(support_mail("stranger@nowhere.example", "Help", "My tracker is broken"))
        self.assertEqual(result, {})
        self.assertEqual(self.tickets(), [])
        yield self.sender.send_now()
        [answer] = self.server.inbox.take()
        self.assertEqual(answer.recipients, ["stranger@nowhere.example"])
        self.assertIn("no ticket was opened", answer.message.get_content())
        yield self.smtp(support_mail("stranger@nowhere.example", "Help again", "Still broken"))
        yield self.sender.send_now()
        self.assertEqual(self.server.inbox.take(), [])  # one answer per address and hour

    @inlineCallbacks
    def test_a_sender_without_the_permission_is_told_who_can_ask(self) -> None:
        yield self.start()
        result = yield self.smtp(support_mail("anna@acme.example", "Faktura za listopad",
                                              "Proszę o korektę faktury."))
        self.assertEqual((result, self.tickets()), ({}, []))
        yield self.sender.send_now()
        [answer] = self.server.inbox.take()
        text = answer.message.get_content()
        self.assertIn("pytań o umowę i faktury", text)
        self.assertIn("Bill Payer", text)
        self.assertNotIn("bill@acme.example", text)
        result = yield self.smtp(support_mail("bill@acme.example", "Invoice for November",
                                              "Please correct the invoice."))
        self.assertEqual(result, {})
        [ticket] = self.tickets()
        self.assertEqual(ticket["account"], "Acme")

    @inlineCallbacks
    def test_machine_mail_changes_nothing_and_is_never_answered(self) -> None:
        yield self.start()
        message = support_mail("anna@acme.example", "Out of office", "I am away")
        message["Auto-Submitted"] = "auto-replied"
        self.assertEqual((yield self.smtp(message)), {})
        yield self.sender.send_now()
        self.assertEqual((self.tickets(), self.server.inbox.take()), ([], []))

    @inlineCallbacks
    def test_limits_answer_with_the_smtp_codes_of_rfc_5321(self) -> None:
        yield self.start()
        too_big = support_mail("anna@acme.example", "Huge", "x", {"dump.bin": b"\0" * 70 * 1024})
        refused = yield self.smtp(too_big)
        self.assertIsInstance(refused, smtplib.SMTPDataError)
        self.assertEqual(refused.smtp_code, 552)
        self.assertEqual(self.tickets(), [])

        def rcpt_codes() -> list[int]:
            with smtplib.SMTP("127.0.0.1", self.intake.port, timeout=120) as client:  # type: ignore[union-attr]
                client.ehlo()
                assert client.has_extn("size") and client.esmtp_features["size"] == str(64 * 1024)
                client.mail("anna@acme.example")
                return [client.rcpt(f"support{n}@telediag.example")[0] for n in range(4)]

        self.assertEqual((yield deferToThread(rcpt_codes)), [250, 250, 250, 452])
        result = yield self.smtp(support_mail("anna@acme.example", "Two copies", "WX 1234 again"),
                                 ["a@telediag.example", "b@telediag.example"])
        self.assertEqual(result, {})
        self.assertEqual(len(self.tickets()), 1)  # one message, one ticket, however many recipients

    @inlineCallbacks
    def test_too_many_connections_are_refused_with_421(self) -> None:
        config = replace(self.config, mail_intake=replace(self.config.mail_intake, max_connections_per_address=1))
        yield self.start(config)

        def second_connection() -> tuple[int, int]:
            with smtplib.SMTP("127.0.0.1", self.intake.port, timeout=120) as first:  # type: ignore[union-attr]
                first.ehlo()
                try:
                    smtplib.SMTP("127.0.0.1", self.intake.port, timeout=120)  # type: ignore[union-attr]
                except smtplib.SMTPConnectError as error:
                    return error.smtp_code, first.rset()[0]
            return 0, 0

        self.assertEqual((yield deferToThread(second_connection)), (421, 250))



