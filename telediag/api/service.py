"""The HTTP API as a Twisted service: listen on ``[api] listen``, stop cleanly.

Start opens the store (creating it if needed) and the worker threads, then listens; ``ready`` fires
with the bound port number. Stop stops listening, closes open connections (aborting those that do not
close within a grace period), then waits for the worker threads and closes the connections to SQLite.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.protocols.policies import WrappingFactory
from twisted.web.server import Site

from telediag.api.backend import READ_THREADS, ApiBackend
from telediag.api.jsonio import limited_request_factory
from telediag.api.pseudonyms import Pseudonymiser, load_or_create_secret
from telediag.api.resources import ApiResource
from telediag.api.views import DiagnosticsView
from telediag.config import Config
from telediag.store.permissions import private_directory

IDLE_TIMEOUT_S = 60.0
"""An idle keep-alive connection is closed after this long."""
CLOSE_GRACE_S = 2.0


class _ConnectionTracker(WrappingFactory):
    """Knows the open connections, so stopping can close them and wait until they are gone."""

    def __init__(self, factory: Any) -> None:
        super().__init__(factory)
        self._idle: list[defer.Deferred[None]] = []

    def unregisterProtocol(self, protocol: Any) -> None:
        super().unregisterProtocol(protocol)
        if not self.protocols:
            waiting, self._idle = self._idle, []
            for waiter in waiting:
                waiter.callback(None)

    def close_all(self, clock: Any, grace_s: float) -> defer.Deferred[None]:
        """Ask every connection to close; abort the ones still open after ``grace_s``."""
        if not self.protocols:
            return defer.succeed(None)
        done: defer.Deferred[None] = defer.Deferred()
        self._idle.append(done)
        for protocol in list(self.protocols):
            protocol.transport.loseConnection()

        def abort() -> None:
            for protocol in list(self.protocols):
                protocol.transport.abortConnection()

        timer = clock.callLater(grace_s, abort)
        done.addBoth(lambda result: (timer.cancel() if timer.active() else None, result)[1])
        return done


class ApiService(Service):
    """``ApiService(config, reactor, diagnostics)``; ``port`` is the bound port once ``ready`` fired."""

    log = Logger()

    def __init__(
        self, config: Config, reactor: Any, diagnostics: DiagnosticsView, read_threads: int = READ_THREADS,
        desk: Any = None,
    ) -> None:
        self.desk = desk
        self.config = config
        self.reactor = reactor
        self.diagnostics = diagnostics
        self.read_threads = read_threads
        self.ready: defer.Deferred[int] = defer.Deferred()
        self.port: int | None = None
        self.backend: ApiBackend | None = None
        self._listening: IListeningPort | None = None
        self._tracker: _ConnectionTracker | None = None

    def startService(self) -> None:
        super().startService()
        config = self.config
        private_directory(config.store.data_dir)
        pseudonyms = Pseudonymiser(load_or_create_secret(config.store.data_dir))
        backend = ApiBackend(config, self.reactor, self.diagnostics, pseudonyms, self.read_threads)
        backend.desk = self.desk
        backend.start()
        self.backend = backend
        site = Site(
            ApiResource(backend),
            requestFactory=limited_request_factory(config.api.max_body_bytes, self.reactor),
            parsePOSTFormSubmission=False,
            timeout=IDLE_TIMEOUT_S,
            reactor=self.reactor,
        )
        site.noisy = False
        site.displayTracebacks = False
        self._tracker = _ConnectionTracker(site)
        self._tracker.noisy = False
        listening = serverFromString(self.reactor, config.api.listen).listen(self._tracker)
        listening.addCallbacks(self._listened, self._listen_failed)

    def _listened(self, port: IListeningPort) -> None:
        self._listening = port
        self.port = port.getHost().port
        self.log.info("HTTP API listening on port {port}", port=self.port)
        self.ready.callback(self.port)

    def _listen_failed(self, failure: Any) -> None:
        self.log.error("HTTP API cannot listen on {endpoint}: {error}",
                       endpoint=self.config.api.listen, error=failure.value)
        self.ready.errback(failure)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Stop listening, close connections, stop the threads, close the store connections."""
        super().stopService()
        if self._listening is not None:
            yield self._listening.stopListening()
            self._listening = None
        if self._tracker is not None:
            yield self._tracker.close_all(self.reactor, CLOSE_GRACE_S)
        if self.backend is not None:
            self.backend.stop()
            self.backend = None
