"""``telediag serve``: the ingest service built from the config's endpoint strings.

Start opens the store, then listens; stop stops listening, then commits what is queued and closes the
store, so SIGTERM never drops a record a device already sent.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger

from protocols import registry
from telediag.config import Config, ConfigError
from telediag.api.service import ApiService
from telediag.diagnostics.engine import DiagnosticsEngine, EngineView
from telediag.diagnostics.service import DiagnosticsService
from telediag.ingest.mqtt import MqttIngest, parse_mqtt
from telediag.metrics import Metrics
from telediag.store.influx_export import InfluxExporter, parse_influxdb
from telediag.mqtt_out import MqttPublisher, registry_accounts
from telediag.tickets.desk import TicketDesk
from telediag.tickets.service import TicketService
from telediag.tickets.webhooks import WebhookDeliverer, outbox_notifier
from telediag.ingest.tcp import DeviceStreamFactory
from telediag.ingest.udp import DeviceDatagramProtocol, set_receive_buffer
from telediag.pipeline import Pipeline
from telediag.store.committer import BatchCommitter
from telediag.store.permissions import private_directory
from telediag.store.sqlite import Reader, Store

LISTENING_FILE = "listening.json"
"""Written to the data directory once every listener is up: protocol, transport and bound port."""


@dataclass(frozen=True)
class UdpEndpoint:
    """A parsed ``udp:PORT[:interface=ADDR]`` string (Twisted has no UDP endpoint strings)."""

    port: int
    interface: str = ""

    @classmethod
    def parse(cls, text: str) -> "UdpEndpoint":
        """Parse the string, or raise ConfigError naming it."""
        parts = text.split(":")
        try:
            if parts[0] != "udp" or len(parts) < 2:
                raise ValueError
            port = int(parts[1])
            options = dict(part.split("=", 1) for part in parts[2:])
        except ValueError:
            raise ConfigError(f"bad UDP endpoint {text!r}; expected udp:PORT[:interface=ADDR]") from None
        unknown = set(options) - {"interface"}
        if unknown or not 0 <= port <= 65535:
            raise ConfigError(f"bad UDP endpoint {text!r}; expected udp:PORT[:interface=ADDR]")
        return cls(port, options.get("interface", ""))


def build_desk(config: Config, extra_notify: Any = None) -> TicketDesk:
    """The ticket desk with the configured SLA, automation settings and notifications (webhooks, MQTT)."""
    notifiers = [n for n in (outbox_notifier(config.webhooks), extra_notify) if n is not None]

    def notify(db: Any, event: str, document: dict[str, Any], now: float) -> None:
        for each in notifiers:
            each(db, event, document, now)

    return TicketDesk(config.sla, config.tickets, notify if notifiers else None)


class IngestService(Service):
    """Store, committer, pipeline and one listener per configured endpoint."""

    log = Logger()

    def __init__(self, config: Config, reactor: Any) -> None:
        self.config = config
        self.reactor = reactor
        self.pipeline: Pipeline | None = None
        self.committer: BatchCommitter | None = None
        self.ports: list[tuple[str, str, IListeningPort]] = []
        self.ready: defer.Deferred[None] = defer.Deferred()
        self._reader: Reader | None = None
        self.diagnostics: DiagnosticsService | None = None
        self.api: ApiService | None = None
        self.tickets: TicketService | None = None
        self.webhooks: WebhookDeliverer | None = None
        self.metrics: Metrics | None = None
        self.mqtt_ingest: MqttIngest | None = None
        self.mqtt_out: MqttPublisher | None = None
        self.influx: InfluxExporter | None = None

    def startService(self) -> None:
        super().startService()
        config = self.config
        private_directory(config.store.data_dir)
        store = Store(config.database_path, config.store.synchronous)
        store.mark_all_disconnected(self.reactor.seconds())
        influx = parse_influxdb(config.extra.get("influxdb", {}))
        if influx.enabled:  # the records table is its outbox: it starts from its cursor
            self.influx = InfluxExporter(self.reactor, config.database_path, influx)
            self.influx.startService()
        self.committer = BatchCommitter(
            self.reactor,
            store,
            max_records=config.store.batch_max_records,
            max_delay_s=config.store.batch_max_delay_ms / 1000.0,
            queue_limit=config.store.queue_limit_records,
        )
        self.committer.start()
        self.pipeline = Pipeline(
            self.reactor, self.committer, store.registered_imeis(), config.ingest.auto_register,
            config.ingest.command_timeout_s, self._registry_lookup(), config.ingest.bounds,
        )
        mqtt = parse_mqtt(config.extra.get("mqtt", {}))
        if mqtt.publish_enabled:
            self.mqtt_out = MqttPublisher(mqtt, registry_accounts(config.database_path), self.reactor)
            self.mqtt_out.startService()
        self.diagnostics = DiagnosticsService(
            self.reactor, DiagnosticsEngine(config.database_path, config.diagnostics), self.pipeline
        )
        self.committer.add_listener(self.diagnostics.on_commit)
        if self.mqtt_out is not None:
            self.diagnostics.add_listener(self.mqtt_out.publish_findings)
        desk = build_desk(config, self.mqtt_out.notify if self.mqtt_out else None)
        self.tickets = TicketService(self.reactor, config.database_path, desk)
        self.diagnostics.add_listener(self.tickets.on_transitions)
        self.tickets.startService()
        self.metrics = Metrics(config, self.reactor, self.pipeline, self.committer, self.diagnostics, self.tickets)
        if config.webhooks.enabled:
            self.webhooks = WebhookDeliverer(self.reactor, config.database_path, config.webhooks)
            self.webhooks.startService()
        self.diagnostics.startService()
        if mqtt.ingest_enabled:  # the broker is optional: listeners do not wait for it
            self.mqtt_ingest = MqttIngest(self.reactor, mqtt, self.pipeline)
            self.mqtt_ingest.startService()
        listening = [self._listen(name, endpoint) for name, eps in config.listen.items() for endpoint in eps]
        done = defer.gatherResults(listening, consumeErrors=True)
        done.addCallback(self._start_api)
        done.addCallbacks(self._listening, self._listen_failed)

    def _start_api(self, _: object) -> defer.Deferred[int]:
        """The HTTP API, once the store is migrated and the device listeners are bound."""
        view = EngineView(DiagnosticsEngine(self.config.database_path, self.config.diagnostics), self.reactor)
        desk = build_desk(self.config, self.mqtt_out.notify if self.mqtt_out else None)
        self.api = ApiService(self.config, self.reactor, view, desk=desk)
        self.api.startService()
        assert self.api.backend is not None
        self.api.backend.metrics = self.metrics
        return self.api.ready

    def _registry_lookup(self) -> Any:
        """Look an unknown IMEI up in the registry, which the CLI may have changed since start."""
        reader = Reader(self.config.database_path)
        self._reader = reader
        query = "SELECT 1 FROM devices WHERE imei = ?"
        return lambda imei: reader.connection.execute(query, (imei,)).fetchone() is not None

    def _listen(self, protocol: str, endpoint: str) -> defer.Deferred[None]:
        spec = registry.get(protocol)
        ingest = self.config.ingest
        assert self.pipeline is not None
        if endpoint.startswith("udp:"):
            udp = UdpEndpoint.parse(endpoint)
            assert spec.datagram_decoder is not None
            handler = DeviceDatagramProtocol(protocol, spec.datagram_decoder, self.pipeline, ingest.max_frame_bytes)
            port = self.reactor.listenUDP(udp.port, handler, interface=udp.interface)
            sock = port.getHandle()
            effective = set_receive_buffer(sock, ingest.udp_receive_buffer_bytes)
            self.log.info(
                "{protocol} UDP port {port}: receive buffer {effective} bytes ({requested} asked for)",
                protocol=protocol, port=port.getHost().port, effective=effective,
                requested=ingest.udp_receive_buffer_bytes,
            )
            if self.metrics is not None:
                self.metrics.watch_udp(protocol, port.getHost().port, sock, ingest.udp_receive_buffer_bytes)
            self.ports.append((protocol, "udp", port))
            return defer.succeed(None)
        factory = DeviceStreamFactory(
            self.reactor, spec, self.pipeline, ingest.idle_timeout_s, ingest.max_frame_bytes,
            frame_timeout_s=ingest.frame_timeout_s, max_connections_per_address=ingest.max_connections_per_address,
        )
        if self.metrics is not None:
            self.metrics.watch_tcp(factory)
        listening = serverFromString(self.reactor, endpoint).listen(factory)
        listening.addCallback(lambda port: self.ports.append((protocol, "tcp", port)))
        return listening

    def _listening(self, _: object) -> None:
        bound = [
            {"protocol": name, "transport": transport, "port": port.getHost().port}
            for name, transport, port in self.ports
        ]
        if self.api is not None and self.api.port is not None:
            bound.append({"protocol": "http-api", "transport": "tcp", "port": self.api.port})
        path = self.config.store.data_dir / LISTENING_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"pid": os.getpid(), "listeners": bound}, indent=1))
        temporary.replace(path)
        for entry in bound:
            self.log.info("listening for {protocol} on {transport} port {port}", **entry)
        self.ready.callback(None)

    def _listen_failed(self, failure: Any) -> None:
        error = failure.value
        if isinstance(error, defer.FirstError):
            error = error.subFailure.value
        self.log.error("cannot listen: {error}", error=error)
        self.ready.errback(error)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Stop listening, then commit everything queued and close the store."""
        super().stopService()
        if self.api is not None:
            yield self.api.stopService()
            self.api = None
        for _, _, port in self.ports:
            yield port.stopListening()
        self.ports = []
        if self.mqtt_ingest is not None:
            yield self.mqtt_ingest.stopService()
            self.mqtt_ingest = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self.diagnostics is not None:
            yield self.diagnostics.stopService()
            self.diagnostics = None
        if self.tickets is not None:
            yield self.tickets.stopService()
            self.tickets = None
        if self.webhooks is not None:
            yield self.webhooks.stopService()
            self.webhooks = None
        if self.mqtt_out is not None:
            yield self.mqtt_out.stopService()
            self.mqtt_out = None
        if self.influx is not None:
            yield self.influx.stopService()
            self.influx = None
        if self.committer is not None:
            yield self.committer.stop()
            self.log.info(
                "store closed: {stored} records stored in {commits} commits",
                stored=self.committer.records_stored, commits=self.committer.commits,
            )
