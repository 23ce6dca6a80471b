"""The device listeners as one Twisted service: one port per configured endpoint string, all fed into
the pipeline; stopping stops listening (open connections finish what they have sent).

In an ingest worker (``[ingest] workers`` > 1) the sockets come made and bound from the parent
(``telediag.ingest.sockets``): the service adopts each instead of binding the endpoint itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger

from protocols import registry
from telediag.config import IngestConfig, UdpEndpoint
from telediag.ingest.sockets import Inherited
from telediag.ingest.tcp import DeviceStreamFactory
from telediag.ingest.udp import DeviceDatagramProtocol, set_receive_buffer
from telediag.metrics import Metrics
from telediag.pipeline import Pipeline


class ListenerService(Service):
    """``ListenerService(listen, ingest, pipeline, reactor, metrics, inherited)``; ``ready`` fires once
    every endpoint is bound, with ``ports`` as (protocol, transport, port).

    ``inherited`` maps (protocol, endpoint string) to a bound socket's descriptor to adopt instead.
    """

    log = Logger()

    def __init__(
        self, listen: Mapping[str, tuple[str, ...]], ingest: IngestConfig, pipeline: Pipeline, reactor: Any,
        metrics: Metrics | None = None, inherited: Mapping[tuple[str, str], Inherited] | None = None,
    ) -> None:
        self.listen = listen
        self.ingest = ingest
        self.pipeline = pipeline
        self.reactor = reactor
        self.metrics = metrics
        self.inherited = dict(inherited or {})
        self.ports: list[tuple[str, str, IListeningPort]] = []
        self.factories: list[DeviceStreamFactory] = []
        """The TCP listeners' factories (their open and refused connection counts)."""
        self.ready: defer.Deferred[list[tuple[str, str, IListeningPort]]] = defer.Deferred()

    def startService(self) -> None:
        Service.startService(self)
        binding = [defer.maybeDeferred(self._listen, name, endpoint)
                   for name, endpoints in self.listen.items() for endpoint in endpoints]
        bound = defer.gatherResults(binding, consumeErrors=True)
        bound.addCallbacks(lambda _: self.ready.callback(self.ports), self._failed)

    def _failed(self, failure: Any) -> None:
        error = failure.value
        if isinstance(error, defer.FirstError):
            error = error.subFailure.value
        self.log.error("cannot listen: {error}", error=error)
        self.ready.errback(error)

    def _listen(self, protocol: str, endpoint: str) -> defer.Deferred[None]:
        spec = registry.get(protocol)
        ingest = self.ingest
        inherited = self.inherited.get((protocol, endpoint))
        if endpoint.startswith("udp:"):
            udp = UdpEndpoint.parse(endpoint)
            assert spec.datagram_decoder is not None
            handler = DeviceDatagramProtocol(protocol, spec.datagram_decoder, self.pipeline, ingest.max_frame_bytes)
            if inherited is None:
                port = self.reactor.listenUDP(udp.port, handler, interface=udp.interface)
            else:
                port = inherited.adopt(lambda fd, family: self.reactor.adoptDatagramPort(fd, family, handler))
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
        self.factories.append(factory)
        if self.metrics is not None:
            self.metrics.watch_tcp(factory)
        if inherited is not None:
            port = inherited.adopt(lambda fd, family: self.reactor.adoptStreamPort(fd, family, factory))
            self.ports.append((protocol, "tcp", port))
            return defer.succeed(None)
        listening: defer.Deferred[IListeningPort] = serverFromString(self.reactor, endpoint).listen(factory)

        def bound(port: IListeningPort) -> None:
            self.ports.append((protocol, "tcp", port))

        return listening.addCallback(bound)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Stop listening on every port."""
        Service.stopService(self)
        ports, self.ports = self.ports, []
        for _, _, port in ports:
            yield port.stopListening()

    def bound(self) -> list[tuple[str, str, int]]:
        """(protocol, transport, port number) of every listener."""
        return [(name, kind, port_number(port)) for name, kind, port in self.ports]

    def port(self, protocol: str, transport: str = "tcp") -> int:
        """The bound port number of the first ``protocol`` listener on ``transport``."""
        for name, kind, port in self.ports:
            if name == protocol and kind == transport:
                return port_number(port)
        raise LookupError(f"no {protocol} {transport} listener")


def port_number(port: IListeningPort) -> int:
    """The number of the port ``port`` is bound to."""
    host = port.getHost()
    assert isinstance(host, IPv4Address | IPv6Address)
    return host.port
