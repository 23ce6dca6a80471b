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

Delivery: QoS 1 with paho's in-memory retry across reconnects; while the broker is away up to
``[mqtt] publish_queue_limit`` messages wait, later ones are dropped and counted. Messages still
queued when telediag stops are lost (the webhook outbox is the durable channel). Ticket events are
published when the ticket lifecycle calls ``notify``, inside its transaction.

The accounts of the devices in finding transitions are read on the publisher's own database worker,
never on the reactor. Thread safety: ``Client.publish`` takes paho's message lock and queues the
packet for the network thread, so :meth:`MqttPublisher.publish_findings` (reactor thread) and
:meth:`MqttPublisher.notify` (tickets thread) may run at once. The counters are guarded by a lock
that is never held while calling paho (paho calls ``on_publish`` holding its own message lock).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from paho.mqtt.client import MQTT_ERR_NO_CONN, MQTT_ERR_SUCCESS, Client
from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure

from telediag.config import MqttSettings
from telediag.diagnostics.findings import Transition
from telediag.mqtt_client import new_client
from telediag.store.database import Connection, Database
from telediag.store.worker import database_worker

UNASSIGNED = "_unassigned"
"""The slug of devices and tickets without an account."""
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


class MqttPublisher(Service):
    """Publishes findings and ticket events per account on its own paho client and thread."""

    log = Logger()

    def __init__(self, settings: MqttSettings, database: Database, reactor: Any) -> None:
        self.settings = settings
        self.reactor = reactor
        self.worker = database_worker(reactor, database, "telediag-mqtt-out", readonly=True)
        self.published = 0
        """Messages handed to paho (queued or sent)."""
        self.delivered = 0
        """Messages the broker acknowledged."""
        self.dropped = 0
        """Messages not published: queue full, not connected yet, or the device's account could not be
        looked up."""
        self._lock = threading.Lock()
        self._unacknowledged: set[int] = set()
        self._early: set[int] = set()
        self._client: Client | None = None

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (paho's thread retries with backoff until the broker is there)."""
        if not self.settings.publish_enabled or self._client is not None:
            return
        client = new_client(self.settings, self.settings.publisher_client_id, manual_ack=False)
        client.max_queued_messages_set(self.settings.publish_queue_limit)
        client.on_publish = self._on_publish
        client.connect_async(self.settings.host, self.settings.port, self.settings.keepalive_s)
        client.loop_start()
        self._client = client

    def stop(self, timeout_s: float | None = None) -> None:
        """Give queued messages up to ``timeout_s`` to reach the broker, then disconnect (blocking)."""
        client, self._client = self._client, None
        if client is None:
            return
        deadline = time.monotonic() + (self.settings.stop_timeout_s if timeout_s is None else timeout_s)
        while client.is_connected() and self._unacknowledged and time.monotonic() < deadline:
            time.sleep(0.01)
        client.disconnect()
        client.loop_stop()

    def startService(self) -> None:
        super().startService()
        self.start()

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """:meth:`stop` on a thread of the reactor, so the reactor never blocks on the network; then
        the lookups' connection is closed."""
        super().stopService()
        yield deferToThreadPool(self.reactor, self.reactor.getThreadPool(), self.stop)
        yield self.worker.stop()

    # -- publishing (any thread) -------------------------------------------------------------------

    def publish_findings(self, transitions: Sequence[Transition]) -> Deferred[int]:
        """Publish each transition to its device's account, once the worker has read the accounts;
        fires with how many were queued. Fits ``DiagnosticsService.add_listener``."""
        imeis = sorted({transition.finding.imei for transition in transitions})
        looked_up = self.worker.run(device_accounts, imeis)
        return looked_up.addCallbacks(
            self._publish_findings, self._no_accounts, (transitions,), None, (len(transitions),)
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

    def publish_ticket(self, db: Connection, event: str, document: dict[str, Any]) -> bool:
        """Publish a ticket event to the ticket's account (or its first device's account, read on ``db``)."""
        account = document.get("account")
        if account is None and document.get("devices"):
            try:
                account = device_account(db, document["devices"][0])
            except Exception as error:
                self.log.warn("no account for ticket {id} ({error}); event not published",
                              id=document.get("id"), error=error)
                self._count_dropped()
                return False
        return bool(self._publish(tickets_topic(self.settings.topic_prefix, account), ticket_payload(event, document)))

    def notify(self, db: Connection, event: str, document: dict[str, Any], now: float) -> None:
        """The ticket lifecycle's ``Notify`` signature: publish the event."""
        self.publish_ticket(db, event, document)

    def _publish(self, topic: str, payload: bytes) -> int:
        client = self._client
        if client is None:
            self._count_dropped()
            return 0
        # Never call paho holding self._lock: paho calls on_publish holding its message lock.
        info = client.publish(topic, payload, qos=1)
        with self._lock:
            if info.rc not in (MQTT_ERR_SUCCESS, MQTT_ERR_NO_CONN):  # NO_CONN: kept, sent on reconnect
                self.dropped += 1
                self.log.warn("MQTT message to {topic} dropped: {rc}", topic=topic, rc=info.rc)
                return 0
            self.published += 1
            if info.mid in self._early:  # the broker's PUBACK beat us here
                self._early.discard(info.mid)
                self.delivered += 1
            else:
                self._unacknowledged.add(info.mid)
        return 1

    def _on_publish(self, client: Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._lock:
            if mid in self._unacknowledged:
                self._unacknowledged.discard(mid)
                self.delivered += 1
            else:
                self._early.add(mid)

    def _count_dropped(self) -> None:
        with self._lock:
            self.dropped += 1
