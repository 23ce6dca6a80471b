"""The ticket service on an injected clock, with webhook delivery to a real HTTP receiver on
127.0.0.1: a finding opens a ticket, its recovery resolves it, and 24 h later it closes by itself,
each step arriving as a signed webhook."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.task import Clock, deferLater
from twisted.trial import unittest

from protocols.record import parse_iso_utc
from telediag.config import Config, MqttSettings, TicketsConfig, parse_section
from telediag.diagnostics.findings import Finding, Transition
from telediag.outbound.destinations import ticket_notifier
from telediag.outbound.webhooks import WebhookDeliverer, verify_signature
from telediag.store.sqlite import SQLiteDatabase, connect
from telediag.tickets.desk import TicketDesk
from telediag.tickets.service import TicketService
from tests.telediag.outbound.test_webhooks import Receiver, Server

START = parse_iso_utc("2026-11-16T07:00:00Z")
IMEI = "356307042441013"
SECRET = "hook-secret"


def transition(kind: str, at: float) -> list[Transition]:
    active = kind != "cleared"
    return [Transition(kind, Finding(1, IMEI, "DEVICE_SILENT", active, at, at, 1, {"silent_for_s": 4000},  # type: ignore[arg-type]
                                     None if active else at))]


class TicketServiceTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_ticket_events_reach_the_receiver_and_auto_close_follows_the_clock(self) -> Any:
        data_dir = Path(tempfile.mkdtemp(prefix="telediag-tickets-"))
        self.addCleanup(shutil.rmtree, data_dir, True)
        database = data_dir / "telediag.sqlite3"
        connect(database).close()
        receiver = Receiver()
        server = Server(receiver)
        self.addCleanup(server.stop)
        hooks = parse_section("webhooks", {"urls": [server.url], "secret": SECRET, "poll_interval_s": 1})
        clock = Clock()
        clock.advance(START)
        desk = TicketDesk(Config().sla, TicketsConfig(sweep_interval_s=600.0), ticket_notifier(hooks, MqttSettings()))
        tickets = TicketService(reactor, SQLiteDatabase(database), desk, clock=clock)
        deliverer = WebhookDeliverer(reactor, SQLiteDatabase(database), hooks, clock=clock)
        tickets.startService()
        self.addCleanup(tickets.stopService)

        yield tickets.on_transitions(transition("raised", clock.seconds()))
        clock.advance(3600)
        yield tickets.on_transitions(transition("cleared", clock.seconds()))
        resolved_at = clock.seconds()
        while clock.seconds() < resolved_at + 25 * 3600:  # the sweep runs every 10 minutes
            clock.advance(600)
            for _ in range(500):  # let the tickets thread finish the sweep the clock started
                if not tickets.in_flight:
                    break
                yield deferLater(reactor, 0.002, lambda: None)
        self.assertEqual(tickets.sweeps, 151)  # one for the hour skipped at once, then 150 in 25 h
        # delivery starts once the simulated day is over: a request in flight while the test clock
        # jumps 10 minutes at a time would time out and be sent twice (delivery is at least once)
        deliverer.startService()
        self.addCleanup(deliverer.stopService)
        yield deliverer.deliver_now()
        events = [r.headers["x-telediag-event"] for r in receiver.received]
        self.assertEqual(events, ["ticket.created", "ticket.resolved", "ticket.closed"])
        last = receiver.received[-1]
        self.assertTrue(verify_signature(SECRET, last.headers["x-telediag-timestamp"], last.body,
                                         last.headers["x-telediag-signature"]))
        ticket = json.loads(last.body)["data"]
        self.assertEqual((ticket["state"], ticket["devices"]), ("closed", [IMEI]))
        self.assertEqual(ticket["timeline"][-1]["kind"], "auto_closed")
