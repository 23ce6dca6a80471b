"""The HTTP API (and the web console's pages) as a Twisted service: listen on ``[api] listen``, stop cleanly.

Start opens the store (creating it if needed) and the worker threads, then listens; ``ready`` fires
with the bound port number. Every connection passes ``connections.GuardedConnection`` first (framing,
deadlines, header limits, connections per address); ``telediag.web.root`` then sends API paths to the
JSON API and everything else to the web console. Stop stops listening, closes open connections
(aborting those that do not close within a grace period), then waits for the worker threads and
closes the connections to SQLite.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.server import Site

from telediag.api.backend import READ_THREADS, ApiBackend
from telediag.api.connections import ApiChannel, GuardedFactory, GuardSettings
from telediag.api.jsonio import limited_request_factory
from telediag.api.pseudonyms import Pseudonymiser, load_or_create_secret
from telediag.api.resources import ApiResource
from telediag.api.views import DiagnosticsView
from telediag.config import Config
from telediag.ingest.traffic_source import TrafficSource
from telediag.metrics import Metrics
from telediag.store.permissions import private_directory
from telediag.tickets.desk import TicketDesk
from telediag.web.resources import WebResource
from telediag.web.root import RootResource

IDLE_TIMEOUT_S = 60.0
"""An idle keep-alive connection is closed after this long."""
CLOSE_GRACE_S = 2.0


class ApiService(Service):
    """``ApiService(config, reactor, diagnostics, desk=, metrics=)``; ``port`` is the bound port once
    ``ready`` fired. Without a desk tickets are not served; without metrics ``/metrics`` reports the
    store gauges alone."""

    log = Logger()

    def __init__(
        self, config: Config, reactor: Any, diagnostics: DiagnosticsView, read_threads: int = READ_THREADS,
        desk: TicketDesk | None = None, metrics: Metrics | None = None, traffic: TrafficSource | None = None,
    ) -> None:
        self.desk = desk
        self.traffic = traffic
        self.metrics = metrics
        self.config = config
        self.reactor = reactor
        self.diagnostics = diagnostics
        self.read_threads = read_threads
        self.ready: defer.Deferred[int] = defer.Deferred()
        self.port: int | None = None
        self.backend: ApiBackend | None = None
        self._listening: IListeningPort | None = None
        self._tracker: GuardedFactory | None = None

    def startService(self) -> None:
        Service.startService(self)
        config = self.config
        private_directory(config.store.data_dir)
        pseudonyms = Pseudonymiser(load_or_create_secret(config.store.data_dir))
        backend = ApiBackend(config, self.reactor, self.diagnostics, pseudonyms, self.read_threads,
                             desk=self.desk, metrics=self.metrics, traffic=self.traffic)
        backend.start()
        self.backend = backend
        site = Site(
            RootResource(ApiResource(backend), WebResource(backend)),
            requestFactory=limited_request_factory(config.api.max_body_bytes, self.reactor),
            parsePOSTFormSubmission=False,
            timeout=IDLE_TIMEOUT_S,
            reactor=self.reactor,
        )
        # plain HTTP/1.1 (no HTTP/2 switch): what the guard in front parses; Twisted annotates
        # ``protocol`` as its default channel factory, a method, though a channel class is what it takes
        site.protocol = ApiChannel  # type: ignore[method-assign, assignment]
        site.noisy = False
        site.displayTracebacks = False
        self._tracker = GuardedFactory(site, GuardSettings.from_config(config.api), self.reactor)
        self._tracker.noisy = False
        listening = serverFromString(self.reactor, config.api.listen).listen(self._tracker)
        listening.addCallbacks(self._listened, self._listen_failed)

    def _listened(self, port: IListeningPort) -> None:
        self._listening = port
        self.port = cast(IPv4Address | IPv6Address, port.getHost()).port
        self.log.info("HTTP API listening on port {port}", port=self.port)
        self.ready.callback(self.port)

    def _listen_failed(self, failure: Failure) -> None:
        self.log.error("HTTP API cannot listen on {endpoint}: {error}",
                       endpoint=self.config.api.listen, error=failure.value)
        self.ready.errback(failure)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Stop listening, close connections, stop the threads, close the store connections."""
        Service.stopService(self)
        if self._listening is not None:
            yield self._listening.stopListening()
            self._listening = None
        if self._tracker is not None:
            yield self._tracker.close_all(self.reactor, CLOSE_GRACE_S)
        if self.backend is not None:
            yield self.backend.stop()
            self.backend = None
