"""MQTT ingest: telemetry messages from a broker into the same pipeline as every other transport.

The broker's message is acknowledged only after its records are committed. paho-mqtt's network loop
runs on its own thread; every message is handed to the reactor thread, identified, parsed and
submitted there, and its PUBACK is queued (``client.ack``) once the commit Deferred fires.

Delivery guarantees rest on the broker's persistent session (MQTT 3.1.1 ``clean_session=False``,
fixed ``client_id``) and on manual acknowledgement:

- a message not acknowledged (commit failed, telediag stopped or crashed before the commit) is
  redelivered by the broker on the next connection, and the store drops the copy by its natural key;
- QoS 1 messages published while telediag is away are queued by the broker for the session (up to
  Mosquitto's ``max_queued_messages``, 1000 by default: raise it, or 0 for no limit, in production);
- a message that cannot be parsed is stored in ``ingest_errors`` and acknowledged (it would come back
  forever otherwise), and so is a message of a device that is refused (``auto_register = false``).

Thread safety of ``ack``: ``Client.ack`` only appends a PUBACK to paho's outgoing packet deque and
wakes the loop through its socket pair, the same path ``publish`` takes when it is called from other
threads, so it may be called from the reactor thread. A PUBACK is only valid on the connection the
message came in on, though: if the connection dropped and came back, the broker redelivers the
message with the same packet id, and a late PUBACK from the old connection could acknowledge a
different message that reuses the id before it is committed. So every message carries the connection
generation it arrived on; ``on_disconnect`` (paho's thread) bumps the generation under a lock, and
the reactor checks the generation and queues the PUBACK under the same lock. paho always calls
``on_disconnect`` before it reconnects, and ``reconnect`` empties the outgoing packet deque, so a
PUBACK queued under the old generation is either sent on the old connection or discarded.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Any

from paho.mqtt.client import Client
from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure

from protocols.core import ProtocolError
from telediag.config import MqttSettings
from telediag.ingest.mqtt_schema import PROTOCOL, InvalidTelemetry, parse_telemetry, subscription, topic_imei
from telediag.ingest.traffic import IN
from telediag.mqtt_client import MqttClient
from telediag.pipeline import Pipeline


@dataclass
class MqttIngestStats:
    """Counters of the MQTT adapter (the pipeline counts records, errors and refusals per protocol too)."""

    received: int = 0
    acked: int = 0
    invalid: int = 0
    refused: int = 0
    commit_failures: int = 0
    stale_acks: int = 0
    """Commits that finished after their connection was gone: the broker redelivers, no PUBACK."""
    connects: int = 0
    disconnects: int = 0


class MqttIngest(Service):
    """Subscribes to every device's telemetry topic and acknowledges each message after its commit."""

    log = Logger()

    def __init__(self, reactor: Any, settings: MqttSettings, pipeline: Pipeline) -> None:
        self.reactor = reactor
        self.settings = settings
        self.pipeline = pipeline
        self.stats = MqttIngestStats()
        self.connected = False
        self.subscribed: defer.Deferred[None] = defer.Deferred()
        """Fires on the reactor after the first successful subscription."""
        self._client: Client | None = None
        self._lock = threading.Lock()
        self._generation = 0
        self._accepting = False
        self._in_flight = 0
        self._drained: list[defer.Deferred[None]] = []
        self._resync: Any = None

    @property
    def in_flight(self) -> int:
        """Messages submitted and not yet committed (or failed): each waits for its PUBACK."""
        return self._in_flight

    # -- service -----------------------------------------------------------------------------

    def startService(self) -> None:
        Service.startService(self)
        settings = self.settings
        if not settings.ingest_enabled:
            self.log.info("MQTT ingest disabled (no [mqtt] host, or subscribe = false)")
            return
        connection = MqttClient(settings, settings.client_id, manual_ack=True,
                                on_connect=self._on_connect, on_disconnect=self._on_disconnect)
        client = connection.paho
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client
        self._accepting = True
        connection.start()

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Stop taking messages, acknowledge what is being committed, then disconnect cleanly."""
        Service.stopService(self)
        self._accepting = False
        if self._resync is not None and self._resync.active():
            self._resync.cancel()
        self._resync = None
        client = self._client
        if client is None:
            return
        if self._in_flight:
            drained: defer.Deferred[None] = defer.Deferred()
            self._drained.append(drained)
            drained.addTimeout(self.settings.stop_timeout_s, self.reactor)
            try:
                yield drained
            except defer.TimeoutError:
                self.log.warn("MQTT ingest stopped with {n} commits unfinished; the broker redelivers them",
                              n=self._in_flight)
        client.disconnect()
        yield deferToThreadPool(self.reactor, self.reactor.getThreadPool(), client.loop_stop)
        with self._lock:
            self._client = None
        self.connected = False

    # -- paho's thread -------------------------------------------------------------------------

    def _on_connect(self, client: Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self.reactor.callFromThread(self._connect_refused, str(reason))
            return
        client.subscribe(subscription(self.settings.topic_prefix), qos=self.settings.qos)
        self.reactor.callFromThread(self._connected, bool(getattr(flags, "session_present", False)))

    def _on_disconnect(self, client: Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._lock:
            self._generation += 1
        self.reactor.callFromThread(self._disconnected, str(reason))

    def _on_subscribe(self, client: Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        failed = [str(code) for code in reasons if code.is_failure]
        self.reactor.callFromThread(self._subscribed, failed)

    def _on_message(self, client: Client, userdata: Any, message: Any) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = repr(message._topic)  # brokers refuse such topics; keep it printable if one slips by
        self.reactor.callFromThread(
            self._received, self._generation, message.mid, message.qos, topic, bytes(message.payload)
        )

    # -- reactor thread -------------------------------------------------------------------------

    def _connected(self, session_present: bool) -> None:
        self.connected = True
        self.stats.connects += 1
        self.log.info("MQTT connected to {host}:{port} (session {state})", host=self.settings.host,
                      port=self.settings.port, state="resumed" if session_present else "new")

    def _connect_refused(self, reason: str) -> None:
        self.log.error("MQTT broker refused the connection: {reason}", reason=reason)

    def _disconnected(self, reason: str) -> None:
        self.connected = False
        self.stats.disconnects += 1
        if self._accepting:
            self.log.warn("MQTT connection lost ({reason}); reconnecting with backoff", reason=reason)

    def _subscribed(self, failed: list[str]) -> None:
        if failed:
            self.log.error("MQTT subscription refused: {reasons}", reasons=", ".join(failed))
            return
        if not self.subscribed.called:
            self.subscribed.callback(None)

    def _received(self, generation: int, mid: int, qos: int, topic: str, payload: bytes) -> None:
        """One message: identify, parse, submit; acknowledge after the commit."""
        if not self._accepting:
            return  # stopping: no PUBACK, the broker redelivers it to the next session
        self.stats.received += 1
        pipeline = self.pipeline
        decoded_at = pipeline.now()
        try:
            imei = topic_imei(self.settings.topic_prefix, topic)
        except InvalidTelemetry as error:
            self._reject(None, topic, payload, error, generation, mid, qos)
            return
        if not pipeline.identify(imei, PROTOCOL):
            self.stats.refused += 1
            self._ack(generation, mid, qos)
            return
        try:
            records = parse_telemetry(
                imei, payload, self.settings.max_payload_bytes, self.settings.max_records_per_message
            )
        except InvalidTelemetry as error:
            self._reject(imei, topic, payload, error, generation, mid, qos)
            return
        pipeline.traffic.add(imei, decoded_at, IN, "mqtt", topic, payload, records)
        self._in_flight += 1
        committed = pipeline.submit(imei, PROTOCOL, records)
        committed.addCallbacks(
            self._committed, self._commit_failed, callbackArgs=(generation, mid, qos, decoded_at), errbackArgs=(imei,)
        )
        committed.addBoth(self._settled)

    def _reject(
        self, imei: str | None, topic: str, payload: bytes, error: InvalidTelemetry,
        generation: int, mid: int, qos: int,
    ) -> None:
        """Stored as an ingest error and acknowledged: redelivering it would never make it valid."""
        self.stats.invalid += 1
        failure = ProtocolError(str(error), excerpt=payload)
        self.pipeline.traffic.add(imei or topic[:200], self.pipeline.now(), IN, "mqtt", topic[:200], payload, failure)
        self.pipeline.protocol_error(imei, PROTOCOL, topic[:200], failure)
        self._ack(generation, mid, qos)

    def _ack(self, generation: int, mid: int, qos: int) -> bool:
        """Queue the PUBACK if the message's connection is still the current one."""
        with self._lock:
            client = self._client
            if client is None or generation != self._generation:
                self.stats.stale_acks += 1
                return False
            client.ack(mid, qos)
        self.stats.acked += 1
        return True

    def _committed(self, _: object, generation: int, mid: int, qos: int, decoded_at: float) -> None:
        if self._ack(generation, mid, qos):
            self.pipeline.ack_sent(PROTOCOL, decoded_at)

    def _commit_failed(self, failure: Failure, imei: str) -> None:
        """No PUBACK. The broker redelivers only on a new connection, so make one after a pause."""
        self.stats.commit_failures += 1
        self.log.warn("commit failed for MQTT message of {imei}, not acknowledged: {error}",
                      imei=imei, error=failure.getErrorMessage())
        if self._accepting and self._resync is None:
            self._resync = self.reactor.callLater(self.settings.reconnect_min_s, self._reconnect_for_redelivery)

    def _settled(self, _: object) -> None:
        self._in_flight -= 1
        if not self._in_flight:
            drained, self._drained = self._drained, []
            for waiter in drained:
                if not waiter.called:
                    waiter.callback(None)

    def _reconnect_for_redelivery(self) -> None:
        """Drop the connection at the socket level; paho's loop reconnects and the broker redelivers.

        Shutting the socket down (rather than ``disconnect``) keeps paho's loop thread and the
        shared backoff (``telediag.mqtt_client``) in charge of the reconnection.
        """
        self._resync = None
        client = self._client
        if client is None or not self._accepting:
            return
        sock = client.socket()
        if not isinstance(sock, socket.socket):  # paho's socket, or None while it reconnects
            return
        self.log.info("reconnecting to the MQTT broker so it redelivers unacknowledged messages")
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: paho is reconnecting anyway
