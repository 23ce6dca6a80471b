"""MQTT out: finding transitions and ticket events published per account, QoS 1.

Topics (``<prefix>`` is ``[mqtt] topic_prefix``, ``telediag/v1`` by default):

- ``<prefix>/accounts/<account-slug>/findings``: ``{"kind": "raised"|"updated"|"cleared", "finding": {...}}``
  with the finding as the API shows it (``imei``, ``code``, ``team``, ``severity``, ``title``, ``active``,
  ``first_seen``, ``last_seen``, ``count``, ``evidence``, ``hint``, ``cleared_at``)
- ``<prefix>/accounts/<account-slug>/tickets``: ``{"event": "ticket.created"|"ticket.open"|..., "ticket": {...}}``
  with the ticket document of DESIGN.md

The account slug is the registry's account name in lower case with every run of characters other
than letters and digits turned into one ``-`` (``"ACME Ltd."`` -> ``acme-ltd``). Devices (and tickets)
without an account go to ``<prefix>/accounts/_unassigned/...``; ``_`` never occurs in a slug, so no
account can collide with it. Evidence may carry positions: it is the account's own data, so an ACL
that lets each account read only its own ``<prefix>/accounts/<slug>/#`` keeps it private.

Ticket events come from the outbox (:mod:`telediag.tickets.outbox`, destination ``mqtt:``), which the
ticket change filled in its own transaction: only committed changes are published, and a change
that rolled back is never announced. While the broker is away they wait there; once connected they
are published in the order they were queued and their rows deleted when the broker acknowledges
them, so a restart publishes again what the broker had not acknowledged (at least once).

Finding transitions arrive after the diagnostics committed them; their devices' accounts are read
on this publisher's database worker, never on the reactor. QoS 1 with paho's in-memory retry across
reconnects; while the broker is away up to ``[mqtt] publish_queue_limit`` of them wait, later ones
are dropped and counted, and those still queued when telediag stops are lost.

Thread safety: ``Client.publish`` takes paho's message lock and queues the packet for the network
thread. The counters are guarded by a lock that is never held while calling paho (paho calls
``on_publish`` holding its own message lock).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from paho.mqtt.client import MQTT_ERR_NO_CONN, MQTT_ERR_SUCCESS, Client
from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall, deferLater
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure

from telediag.config import MqttSettings
from telediag.diagnostics.findings import Transition
from telediag.mqtt_client import MqttClient
from telediag.store.database import Connection, Database, Dialect
from telediag.store.worker import database_worker
from telediag.tickets import outbox

UNASSIGNED = "_unassigned"
"""The slug of devices and tickets without an account."""
POLL_INTERVAL_S = 1.0
"""How often the outbox is read for ticket events while connected."""
BATCH = 100
"""Ticket events read from the outbox at a time."""
_NOT_SLUG = re.compile(r"[\W_]+")


def account_slug(account: str | None) -> str:
    """The topic segment of an account (``_unassigned`` for none)."""
    slug = _NOT_SLUG.sub("-", (account or "").lower()).strip("-")
    return slug or UNASSIGNED


def findings_topic(prefix: str, account: str | None) -> str:
    """Where an account's finding transitions are published."""
    return f"{prefix}/accounts/{account_slug(account)}/findings"


def tickets_topic(prefix: str, account: str | None) -> str:
    """Where an account's ticket events are published."""
    return f"{prefix}/accounts/{account_slug(account)}/tickets"


def finding_payload(transition: Transition) -> bytes:
    """The JSON of one finding transition."""
    return orjson.dumps({"kind": transition.kind, "finding": transition.finding.as_dict()}, default=str)


def ticket_payload(event: str, document: dict[str, Any]) -> bytes:
    """The JSON of one ticket event."""
    return orjson.dumps({"event": event, "ticket": document}, default=str)


def device_account(db: Connection, imei: str) -> str | None:
    """The registry's account of ``imei`` (None when the device has none or is unknown)."""
    row = db.execute("SELECT account FROM devices WHERE imei = ?", (imei,)).fetchone()
    return row[0] if row else None


def device_accounts(db: Connection, imeis: Iterable[str]) -> dict[str, str | None]:
    """:func:`device_account` of each IMEI."""
    return {imei: device_account(db, imei) for imei in imeis}


def ticket_account(db: Connection, document: dict[str, Any]) -> str | None:
    """The ticket's account, else its first device's account."""
    account = document.get("account")
    if account is None and document.get("devices"):
        account = device_account(db, document["devices"][0])
    return account


def ticket_messages(
    db: Connection, dialect: Dialect, prefix: str, after_id: int, limit: int,
) -> list[tuple[int, str, bytes]]:
    """Worker thread: the outbox's next ticket events as (row id, topic, payload), oldest first."""
    return [
        (row.id, tickets_topic(prefix, ticket_account(db, row.data)), ticket_payload(row.event, row.data))
        for row in outbox.mqtt_due(db, dialect, after_id, limit)
    ]


class MqttPublisher(Service):
    """Publishes findings and ticket events per account on its own paho client and thread."""

    log = Logger()

    def __init__(self, settings: MqttSettings, database: Database, reactor: Any, clock: Any = None) -> None:
        self.settings = settings
        self.reactor = reactor
        self.clock = clock or reactor
        """The outbox poll's timer (tests pass a ``task.Clock``); threads still report through ``reactor``."""
        self.dialect = database.dialect
        self.worker = database_worker(reactor, database, "telediag-mqtt-out")
        self.published = 0
        """Messages handed to paho (queued or sent)."""
        self.delivered = 0
        """Messages the broker acknowledged."""
        self.dropped = 0
        """Findings not published: queue full, not started, or their accounts could not be read."""
        self._lock = threading.Lock()
        self._unacknowledged: set[int] = set()
        self._early: set[int] = set()
        self._rows: dict[int, int] = {}  # message id -> outbox row, until the broker acknowledges it
        self._connection: MqttClient | None = None
        self._client: Client | None = None
        self._poll = LoopingCall(self.relay_now)
        self._poll.clock = self.clock
        self._relaying = False
        self._relay_idle: list[Deferred[None]] = []
        self._handed_upto = 0  # the newest outbox row handed to paho
        self._acknowledged: list[int] = []  # rows the broker has, to delete
        self._removing = False

    # -- life cycle ------------------------------------------------------------------------------

    def startService(self) -> None:
        """Connect in the background (paho's thread retries with backoff until the broker is there)."""
        Service.startService(self)
        if not self.settings.publish_enabled:
            return
        connection = MqttClient(self.settings, self.settings.publisher_client_id, manual_ack=False)
        connection.paho.max_queued_messages_set(self.settings.publish_queue_limit)
        connection.paho.on_publish = self._on_publish
        connection.start()
        self._connection, self._client = connection, connection.paho
        self._poll.start(POLL_INTERVAL_S, now=False)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Stop reading the outbox, give what paho holds ``stop_timeout_s`` to reach the broker,
        disconnect (on a thread of the reactor's pool), then delete the rows the broker acknowledged
        and close the store connection (the worker finishes those deletes first)."""
        Service.stopService(self)
        if self._poll.running:
            self._poll.stop()
        connection, self._connection = self._connection, None
        if connection is not None:
            if self._relaying:
                idle: Deferred[None] = Deferred()
                self._relay_idle.append(idle)
                yield idle
            deadline = self.reactor.seconds() + self.settings.stop_timeout_s
            while self._unacknowledged and connection.is_connected() and self.reactor.seconds() < deadline:
                yield deferLater(self.reactor, 0.01, lambda: None)
            self._client = None
            yield deferToThreadPool(self.reactor, self.reactor.getThreadPool(), connection.stop)
        yield self.worker.stop()

    # -- ticket events from the outbox (reactor thread) ---------------------------------------------

    def relay_now(self) -> Deferred[int]:
        """Publish the ticket events waiting in the outbox; fires with how many were handed to paho
        (0 while the broker is away, or while another pass runs: it reads on until the outbox is empty)."""
        if self._relaying or self._connection is None or not self._connection.is_connected():
            return defer.succeed(0)
        self._relaying = True
        relaying = self._relay()
        relaying.addErrback(self._relay_failed)
        return relaying.addCallback(self._relayed)

    @defer.inlineCallbacks
    def _relay(self) -> Any:
        handed = 0
        while self._client is not None:
            messages = yield self.worker.run(
                ticket_messages, self.dialect, self.settings.topic_prefix, self._handed_upto, BATCH
            )
            for row_id, topic, payload in messages:
                if not self._publish(topic, payload, row_id):
                    return handed  # paho refused it: the row waits for the next poll
                self._handed_upto = row_id
                handed += 1
            if len(messages) < BATCH:
                return handed
        return handed

    def _relay_failed(self, failure: Failure) -> int:
        self.log.failure("reading ticket events from the outbox failed; trying again at the next poll", failure)
        return 0

    def _relayed(self, handed: int) -> int:
        self._relaying = False
        waiting, self._relay_idle = self._relay_idle, []
        for idle in waiting:
            idle.callback(None)
        return handed

    def _row_acknowledged(self, row_id: int) -> None:
        self._acknowledged.append(row_id)
        self._remove_acknowledged()

    def _remove_acknowledged(self) -> None:
        """Delete the outbox rows the broker has: one delete job at a time, taking all that piled up."""
        if self._removing or not self._acknowledged:
            return
        rows, self._acknowledged = self._acknowledged, []
        self._removing = True
        removing = self.worker.run(outbox.remove, rows)
        removing.addErrback(self._remove_failed)
        removing.addCallback(self._removed)

    def _remove_failed(self, failure: Failure) -> None:
        self.log.failure("published ticket events stay in the outbox (a restart publishes them again)", failure)

    def _removed(self, _: None) -> None:
        self._removing = False
        self._remove_acknowledged()

    # -- findings (reactor thread) ------------------------------------------------------------------

    def publish_findings(self, transitions: Sequence[Transition]) -> Deferred[int]:
        """Publish each transition to its device's account, once the worker has read the accounts;
        fires with how many were queued. Fits ``DiagnosticsService.add_listener``."""
        imeis = sorted({transition.finding.imei for transition in transitions})
        looked_up = self.worker.run(device_accounts, imeis)
        return looked_up.addCallbacks(
            self._publish_findings, self._no_accounts, (transitions,), {}, (len(transitions),)
        )

    def _publish_findings(self, accounts: dict[str, str | None], transitions: Sequence[Transition]) -> int:
        prefix = self.settings.topic_prefix
        return sum(
            self._publish(findings_topic(prefix, accounts[t.finding.imei]), finding_payload(t)) for t in transitions
        )

    def _no_accounts(self, failure: Failure, count: int) -> int:
        """Never guess an account: a wrong topic would show the findings to another account."""
        self.log.warn("device accounts could not be read ({error}); {n} findings not published",
                      error=failure.getErrorMessage(), n=count)
        with self._lock:
            self.dropped += count
        return 0

    # -- paho ----------------------------------------------------------------------------------------

    def _publish(self, topic: str, payload: bytes, row_id: int | None = None) -> bool:
        """Hand one message to paho; ``row_id``: the outbox row to delete once the broker has it."""
        client = self._client
        if client is None:
            with self._lock:
                self.dropped += 1
            return False
        # Never call paho holding self._lock: paho calls on_publish holding its message lock.
        info = client.publish(topic, payload, qos=1)
        with self._lock:
            if info.rc not in (MQTT_ERR_SUCCESS, MQTT_ERR_NO_CONN):  # NO_CONN: kept, sent on reconnect
                if row_id is None:  # a ticket event stays in the outbox for the next pass
                    self.dropped += 1
                    self.log.warn("MQTT message to {topic} dropped: {rc}", topic=topic, rc=info.rc)
                return False
            self.published += 1
            acknowledged = info.mid in self._early  # the broker's PUBACK beat us here
            if acknowledged:
                self._early.discard(info.mid)
                self.delivered += 1
            else:
                self._unacknowledged.add(info.mid)
                if row_id is not None:
                    self._rows[info.mid] = row_id
        if acknowledged and row_id is not None:
            self._row_acknowledged(row_id)
        return True

    def _on_publish(self, client: Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        """paho's thread: the broker acknowledged message ``mid``."""
        with self._lock:
            if mid in self._unacknowledged:
                self._unacknowledged.discard(mid)
                self.delivered += 1
                row_id = self._rows.pop(mid, None)
            else:
                self._early.add(mid)
                row_id = None
        if row_id is not None:
            self.reactor.callFromThread(self._row_acknowledged, row_id)
