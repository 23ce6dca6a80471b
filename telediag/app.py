"""The composition root: ``makeService(config)`` builds the whole service as one ``MultiService`` tree.

Its children, by name, in the order they start (each uses only children before it):

    store        the SQLite store, opened at start, and the batch committer
    elected      what runs once per deployment, on the node holding the election lock
                 (``telediag.election``); its children start once the lock is taken:
      influxdb     the export of committed records          (when ``[influxdb] url`` is set)
      mqtt-out     findings and ticket events to the broker (when ``[mqtt] host`` is set)
      webhooks     delivery of the ticket events' outbox    (when ``[webhooks] urls`` are set)
      tickets      ticket automation on its own thread, with the one ticket desk
      fix-proof, sms
                   fixes sent from tickets judged on their proof, and the SMS fallback of queued
                   commands (``telediag.commands.services``; sms when ``[sms] url`` is set)
      diagnostics  the one diagnostics engine on its own thread: after every input and in a sweep
      mail-out, notifications, mail-in
                   e-mail (``telediag.mail.services``): the mail outbox, the notification rules and
                   the support mail listener (when ``[mail] host`` / ``[mail_intake] listen`` are set)
    mqtt-in      telemetry from the broker                (when ``[mqtt] host`` is set)
    commands     queued commands delivered over the connections of this process's listeners
                 (with ``[ingest] workers`` > 1, each worker runs its own)
    listeners    the device endpoints of ``[listen]``; with ``[ingest] workers`` > 1 the worker
                 processes sharing them (``telediag.ingest.workers``), MQTT ingest in worker 0
    api          the HTTP API and the web console (the same desk, and a view of the same engine)

:class:`TelediagService` stops them in the reverse order, each only after the one started after it
has stopped: the API and the listeners take no more input, diagnostics and tickets finish their
work, the committer commits what is queued and only then closes the store. A device gets its ACK
only after its records are committed, so SIGTERM never loses a record a device was told is stored.

``telediag serve`` (``telediag.runner``) and ``twistd telediag`` (``telediag.tap``) both run this tree.
"""

from __future__ import annotations

import gc
import json
import os
from typing import Any, cast

from twisted.application.service import IService, MultiService, Service
from twisted.internet import defer
from twisted.logger import Logger

from telediag.api.service import ApiService
from telediag.commands.delivery import DeliveryService
from telediag.commands.services import elected_command_services
from telediag.config import Config, check_available
from telediag.diagnostics.engine import DiagnosticsEngine
from telediag.diagnostics.ladder import listen_ports
from telediag.diagnostics.service import DiagnosticsService
from telediag.election import ElectedService, election_lock
from telediag.ingest.listeners import ListenerService
from telediag.ingest.mqtt import MqttIngest
from telediag.ingest.traffic_source import LocalTraffic
from telediag.ingest.worker import ingest_pipeline
from telediag.ingest.workers import WorkerPool
from telediag.mail.services import mail_services, ticket_notify
from telediag.metrics import Metrics
from telediag.ordered import OrderedService
from telediag.outbound.destinations import ticket_notifier
from telediag.outbound.influx import InfluxExporter
from telediag.outbound.mqtt import MqttPublisher
from telediag.outbound.webhooks import WebhookDeliverer
from telediag.pipeline import Pipeline
from telediag.runner import stop_reactor
from telediag.store.retention import RetentionService
from telediag.store.service import StoreService
from telediag.tickets.desk import TicketDesk
from telediag.tickets.service import TicketService


def build_desk(config: Config) -> TicketDesk:
    """The ticket desk with the configured SLA and automation; each ticket event is queued in the
    outbox, in the change's own transaction, for every webhook URL and for MQTT out."""
    return TicketDesk(config.sla, config.tickets,
                      ticket_notify(config, ticket_notifier(config.webhooks, config.mqtt)))


class TelediagService(OrderedService):
    """The root: children stop one at a time, last started first; ``ready`` says when it listens."""

    log = Logger()

    def __init__(self, config: Config, pipeline: Pipeline, reactor: Any = None) -> None:
        MultiService.__init__(self)
        self.config = config
        self.reactor = reactor
        self.failure: str | None = None
        """Why the node stopped itself (:meth:`fail`), or None."""
        self.pipeline = pipeline
        """What every device listener (and MQTT ingest) hands decoded messages to."""
        self.ready: defer.Deferred[None] = defer.Deferred()
        """Fires once the listeners and the API are bound and ``listening.json`` is written; fails
        with the reason when a child cannot start or an endpoint cannot be bound."""

    def startService(self) -> None:
        try:
            MultiService.startService(self)
        except Exception as error:  # an unusable data directory, a corrupt store: ready says why
            self.ready.errback(error)
            return
        listeners: ListenerService | WorkerPool = self.getServiceNamed("listeners")  # type: ignore[assignment]
        api: ApiService = self.getServiceNamed("api")  # type: ignore[assignment]
        waiting: list[defer.Deferred[Any]] = [listeners.ready, api.ready]
        bound = defer.gatherResults(waiting, consumeErrors=True)
        bound.addCallback(lambda _: self._listening(listeners, api))
        bound.addErrback(self._failed)

    def _listening(self, listeners: ListenerService | WorkerPool, api: ApiService) -> None:
        entries = [{"protocol": name, "transport": transport, "port": port}
                   for name, transport, port in listeners.bound()]
        entries.append({"protocol": "http-api", "transport": "tcp", "port": api.port})
        path = self.config.store.listening_path
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"pid": os.getpid(), "listeners": entries}, indent=1))
        temporary.replace(path)
        for entry in entries:
            self.log.info("listening for {protocol} on {transport} port {port}", **entry)
        # What start-up built (modules, tables, the country polygons) lives as long as the process:
        # moved out of the collector's generations, full collections stop walking it on every pass
        # (about 9 % of the server's CPU under load before).
        gc.freeze()
        self.ready.callback(None)

    def _failed(self, failure: Any) -> None:
        error = failure.value
        if isinstance(error, defer.FirstError):
            error = error.subFailure.value
        self.ready.errback(error)

    def getServiceNamed(self, name: str) -> IService:
        """A child by name; the children of the elected group (diagnostics, tickets, outbound) too."""
        elected = self.namedServices.get("elected")
        if name not in self.namedServices and elected is not None:
            return cast(IService, MultiService.getServiceNamed(elected, name))
        return cast(IService, MultiService.getServiceNamed(self, name))

    def fail(self, reason: str) -> None:
        """Stop the node because a part of it cannot go on; ``failure`` keeps why (exit status 1)."""
        self.failure = reason
        self.log.critical("stopping: {reason}", reason=reason)
        if self.reactor is not None:
            stop_reactor(self.reactor)


def makeService(config: Config, reactor: Any = None, log_level: str = "info") -> TelediagService:
    """The service tree for ``config``; nothing is opened or bound until it starts.

    ConfigError when the config asks for something this version cannot run. ``log_level`` is the
    ingest workers' (``[ingest] workers`` > 1).
    """
    check_available(config)
    if reactor is None:
        from twisted.internet import reactor
    store = StoreService(config.store, reactor)
    pipeline = ingest_pipeline(config, store, reactor)
    root = TelediagService(config, pipeline, reactor)
    database = store.database
    parent: IService = root

    def add(name: str, child: Service) -> Any:
        child.setName(name)
        child.setServiceParent(parent)
        return child

    add("store", store)
    parent = add("elected", ElectedService(election_lock(config.store, database), reactor, on_lost=root.fail))
    if config.store.retention_days:
        add("retention", RetentionService(config.store, database, reactor, exporting=config.influxdb.enabled))
    if config.influxdb.enabled:  # the records table is its outbox: it resumes from its cursor
        add("influxdb", InfluxExporter(reactor, database, config.influxdb))
    publisher = None
    if config.mqtt.publish_enabled:
        publisher = add("mqtt-out", MqttPublisher(config.mqtt, database, reactor))
    if config.webhooks.enabled:
        add("webhooks", WebhookDeliverer(reactor, database, config.webhooks))
    desk = build_desk(config)
    tickets = add("tickets", TicketService(reactor, database, desk))
    for name, service in elected_command_services(config, reactor, database, desk.lifecycle):
        add(name, service)
    diagnostics = add("diagnostics", DiagnosticsService(
        reactor, DiagnosticsEngine(database, config.diagnostics, listen_ports(config.listen)), pipeline,
    ))
    mail_view = diagnostics.view()  # after diagnostics, so the mail services stop before its connections close
    for name, service in mail_services(config, reactor, database, desk, mail_view.selfcheck,
                                       lambda imeis: list(mail_view.findings(imeis, None, True))):
        add(name, service)
    parent = root
    workers = WorkerPool(config, reactor, log_level, on_fatal=root.fail) if config.ingest.workers > 1 else None
    if workers is None:
        store.committer.add_flush_listener(diagnostics.on_flush)
    else:  # the workers' reports come after their commits: nothing is noted before
        workers.add_listener(lambda changes, _: diagnostics.on_flush(changes))
    (workers or store.committer).add_listener(diagnostics.on_commit)
    if publisher is not None:
        diagnostics.add_listener(publisher.publish_findings)
    diagnostics.add_listener(tickets.on_transitions)
    if workers is None:
        metrics = Metrics(config.metrics, reactor, pipeline, store.committer, diagnostics, tickets, config.listen)
        if config.mqtt.ingest_enabled:  # the broker is optional: the listeners do not wait for it
            add("mqtt-in", MqttIngest(reactor, config.mqtt, pipeline))
        add("commands", DeliveryService(reactor, database, pipeline, config.commands))
        add("listeners", ListenerService(config.listen, config.ingest, pipeline, reactor, metrics))
    else:  # the workers ingest (MQTT in worker 0); their counters come summed through the pool
        metrics = Metrics(config.metrics, reactor, workers.totals, workers.totals.committer, diagnostics, tickets,
                          config.listen)
        workers.watch(metrics)
        add("listeners", workers)
    traffic = workers if workers is not None else LocalTraffic(pipeline.traffic, store.registered)
    add("api", ApiService(config, reactor, diagnostics.view(), desk=desk, metrics=metrics, traffic=traffic))
    return root

