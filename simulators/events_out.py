"""Where a live fleet's connectivity events go: a JSON-lines file and/or telediag's HTTP API.

The events stand in for an operator's connectivity platform feed. Posting is best effort: a failed
POST is logged and retried later with backoff, and never stops the fleet (the file is complete
either way and can be imported with ``telediag connectivity import``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from io import BytesIO
from typing import Any, TextIO

from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

Sender = Callable[[bytes], "defer.Deferred[tuple[int, bytes]]"]
"""Posts one JSON body; fires with (HTTP status, response body)."""


def agent_sender(reactor: Any, url: str, token: str) -> Sender:
    """POST bodies to ``url`` with a bearer token, using twisted.web's Agent."""
    from twisted.web.client import Agent, FileBodyProducer, readBody
    from twisted.web.http_headers import Headers

    agent = Agent(reactor, connectTimeout=10)
    headers = Headers({b"Content-Type": [b"application/json"], b"Authorization": [f"Bearer {token}".encode()]})

    @defer.inlineCallbacks
    def send(body: bytes) -> Any:
        response = yield agent.request(b"POST", url.encode(), headers, FileBodyProducer(BytesIO(body)))
        content = yield readBody(response)
        return response.code, content

    return send


class ConnectivityOutput:
    """Writes each event as a JSON line when it happens; posts them in small batches if an API is set."""

    def __init__(self, reactor: Any, path: str | None = None, sender: Sender | None = None,
                 log: TextIO | None = None, batch_size: int = 50, every_s: float = 1.0,
                 max_backoff_s: float = 30.0) -> None:
        self.reactor = reactor
        self.handle = open(path, "w", encoding="utf-8") if path else None
        self.sender = sender
        self.log = log
        self.batch_size = batch_size
        self.every_s = every_s
        self.max_backoff_s = max_backoff_s
        self.queue: list[dict[str, Any]] = []
        self.written = self.posted = self.failures = 0
        self._posting = False
        self._not_before = 0.0
        self._backoff = every_s
        self._loop: LoopingCall | None = None

    def start(self) -> None:
        """Begin posting in the background (nothing to do without an API)."""
        if self.sender is not None and self._loop is None:
            self._loop = LoopingCall(self.flush)
            self._loop.clock = self.reactor
            self._loop.start(self.every_s, now=False)

    def add(self, events: Iterable[dict[str, Any]]) -> None:
        """New events: written now, queued for the API."""
        for event in events:
            if self.handle is not None:
                self.handle.write(json.dumps(event, separators=(",", ":")) + "\n")
                self.written += 1
            if self.sender is not None:
                self.queue.append(event)
        if self.handle is not None:
            self.handle.flush()

    def flush(self) -> defer.Deferred[None]:
        """Post the next batch unless one is on its way or the last failure asks to wait."""
        if self.sender is None or self._posting or not self.queue or self.reactor.seconds() < self._not_before:
            return defer.succeed(None)
        batch = self.queue[: self.batch_size]
        self._posting = True
        body = json.dumps(batch, separators=(",", ":")).encode()
        posted = defer.maybeDeferred(self.sender, body)
        posted.addCallbacks(self._answered, self._failed, (len(batch),))
        return posted

    def _answered(self, answer: tuple[int, bytes], count: int) -> None:
        self._posting = False
        status, content = answer
        if 200 <= status < 300:
            del self.queue[:count]
            self.posted += count
            self._backoff = self.every_s
            return
        self._retry_later(f"HTTP {status}: {content[:200].decode('utf-8', 'replace')}")

    def _failed(self, failure: Failure) -> None:
        self._posting = False
        self._retry_later(failure.getErrorMessage())

    def _retry_later(self, why: str) -> None:
        self.failures += 1
        if self.log is not None:
            self.log.write(f"connectivity events: post failed ({why}); {len(self.queue)} queued, "
                           f"retrying in {self._backoff:g} s\n")
            self.log.flush()
        self._not_before = self.reactor.seconds() + self._backoff
        self._backoff = min(self.max_backoff_s, self._backoff * 2)

    @defer.inlineCallbacks
    def close(self, timeout_s: float = 10.0) -> Any:
        """Post what is left (bounded by ``timeout_s``), stop, close the file."""
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        waited = 0.0
        while self.sender is not None and self.queue and waited < timeout_s:
            self.flush()
            yield _sleep(self.reactor, 0.1)
            waited += 0.1
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _sleep(reactor: Any, seconds: float) -> defer.Deferred[None]:
    from twisted.internet.task import deferLater

    return deferLater(reactor, seconds, lambda: None)
