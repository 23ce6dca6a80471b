"""HTTP out for the senders (webhooks, the InfluxDB export): treq on an Agent built from Twisted's
public API, one persistent connection pool per sender, and an answer read to its end with a short
excerpt kept.

Request timeouts are the caller's (on its injected clock): cancelling a request drops its
connection, whether the answer has not started or its body is still arriving.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from treq.client import HTTPClient
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IProtocolFactory, IPushProducer, IStreamClientEndpoint
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web.client import URI, Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool
from twisted.web.iweb import IAgentEndpointFactory, IResponse
from zope.interface import implementer

T = TypeVar("T")


@implementer(IStreamClientEndpoint)
class _Quiet:
    """An endpoint whose connections start without the "Starting factory" log line Twisted writes
    for every new connection (a receiver that is down would flood the log with them)."""

    def __init__(self, endpoint: IStreamClientEndpoint) -> None:
        self.endpoint = endpoint

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[Any]:
        protocolFactory.noisy = False  # type: ignore[attr-defined]
        return self.endpoint.connect(protocolFactory)


@implementer(IAgentEndpointFactory)
class Endpoints:
    """Where the Agent connects: TCP for ``http``, TLS checked as a browser would for ``https``."""

    def __init__(self, reactor: Any, connect_timeout_s: float) -> None:
        self.reactor = reactor
        self.connect_timeout_s = connect_timeout_s
        self.tls = BrowserLikePolicyForHTTPS()  # type: ignore[no-untyped-call]

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:
        endpoint: IStreamClientEndpoint = HostnameEndpoint(
            self.reactor, uri.host.decode("ascii"), uri.port, timeout=self.connect_timeout_s
        )
        if uri.scheme == b"https":
            endpoint = wrapClientTLS(self.tls.creatorForNetloc(uri.host, uri.port), endpoint)
        return _Quiet(endpoint)


def http_client(reactor: Any, connect_timeout_s: float) -> tuple[HTTPClient, HTTPConnectionPool]:
    """A treq client on its own pool of persistent connections (close the pool at stop)."""
    pool = HTTPConnectionPool(reactor, persistent=True)  # type: ignore[no-untyped-call]
    agent = Agent.usingEndpointFactory(  # type: ignore[no-untyped-call]
        reactor, Endpoints(reactor, connect_timeout_s), pool=pool
    )
    return HTTPClient(agent), pool


class _Drain(Protocol):
    """Reads a body to its end (so the connection can be reused), keeping its first ``limit`` bytes."""

    def __init__(self, done: Deferred[bytes], limit: int) -> None:
        self.done = done
        self.limit = limit
        self.kept = b""

    def dataReceived(self, data: bytes) -> None:
        if len(self.kept) < self.limit:
            self.kept += data[: self.limit - len(self.kept)]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self.done.called:
            self.done.callback(self.kept)  # the status is what counts; a cut-off body changes nothing


def read_excerpt(response: IResponse, limit: int) -> Deferred[tuple[int, bytes]]:
    """The status code and the first ``limit`` bytes of the body; cancelling aborts the connection."""

    def abort(_: Deferred[bytes]) -> None:
        transport = drain.transport
        if transport is not None:  # a producer proxy of the connection: stopping it drops the connection
            cast(IPushProducer, transport).stopProducing()

    done: Deferred[bytes] = Deferred(abort)
    drain = _Drain(done, limit)
    response.deliverBody(drain)  # type: ignore[no-untyped-call]
    return done.addCallback(lambda excerpt: (response.code, excerpt))


def _timed_out(result: Any, timeout_s: float) -> Any:
    """``addTimeout`` hook: the Agent reports a cancelled request as ``ResponseNeverReceived``
    wrapping ``CancelledError``, which the default hook would not recognise as a timeout."""
    if isinstance(result, Failure):
        raise defer.TimeoutError(timeout_s, "HTTP request")
    return result


def timed(request: Deferred[T], timeout_s: float, clock: Any) -> Deferred[T]:
    """Cancel ``request`` after ``timeout_s`` on ``clock``; it then fails with ``defer.TimeoutError``."""
    return request.addTimeout(timeout_s, clock, onTimeoutCancel=_timed_out)


def describe_failure(failure: Failure, timeout_s: float) -> str:
    """A one-line account of a request that got no answer, for logs and ``last_error``."""
    if failure.check(defer.TimeoutError):
        return f"timed out after {timeout_s:g}s"
    reasons = getattr(failure.value, "reasons", None)  # ResponseNeverReceived and friends wrap others
    if reasons:
        return "; ".join(describe_failure(reason, timeout_s) for reason in reasons)
    return f"{type(failure.value).__name__}: {failure.getErrorMessage()}"
