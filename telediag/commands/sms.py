"""The SMS fallback: a command its device did not take over TCP within ``[sms] delay_s`` goes to the
configured HTTP SMS gateway as ``POST {"msisdn": ..., "text": ...}`` (JSON), with the token header.

One sender per deployment (the elected group): it claims each due command (``queued -> sent`` over
``sms``, so a device connecting meanwhile cannot take it twice), posts it through treq, and on a
2xx keeps it sent; otherwise the command goes back to the queue (TCP may still deliver it) and its
SMS waits for :class:`~telediag.outbound.backoff.Backoff`. After ``max_attempts`` failed POSTs, or a
refusal that will not change (4xx other than 408 and 429), the SMS is given up and the command
waits for its device alone until it expires. No answer comes back over SMS: the device's reply
goes to the SIM's sender, not here.
"""

from __future__ import annotations

import math
import random
from typing import Any

import orjson
from twisted.application.service import Service
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http_headers import Headers

from telediag.commands import queue
from telediag.commands.delivery import node_name
from telediag.config.commands import SmsConfig
from telediag.outbound.backoff import Backoff
from telediag.outbound.http import describe_failure, http_client, read_excerpt, timed
from telediag.store.database import Database
from telediag.store.worker import database_worker

BATCH = 20
"""Commands posted per poll, one after another (a gateway is not flooded)."""
MAX_RESPONSE_EXCERPT = 200
RETRYABLE = frozenset({408, 429})


def sms_body(msisdn: str, text: str) -> bytes:
    """What the gateway receives."""
    return orjson.dumps({"msisdn": msisdn, "text": text})


class SmsSender(Service):
    """Posts due commands to ``[sms] url``; ``sent`` and ``failures`` count POST outcomes."""

    log = Logger()

    def __init__(self, reactor: Any, database: Database, config: SmsConfig, clock: Any = None) -> None:
        self.reactor = reactor
        self.clock = clock or reactor
        self.config = config
        self.backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self.random = random.Random()
        self.node = node_name()
        self.sent = 0
        self.failures = 0
        self.worker = database_worker(reactor, database, "telediag-sms")
        self._http, self._connections = http_client(reactor, config.timeout_s)
        self._loop = LoopingCall(self.poll)
        self._loop.clock = self.clock
        self._polling: Deferred[int] | None = None
        self._requests: set[Deferred[Any]] = set()
        self._stopping = False

    def startService(self) -> None:
        Service.startService(self)
        self._loop.start(self.config.poll_interval_s, now=True)

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        self._stopping = True
        if self._loop.running:
            self._loop.stop()
        for request in list(self._requests):
            request.cancel()  # its command goes back to the queue with the error
        return self._shutdown()

    @inlineCallbacks
    def _shutdown(self) -> Any:
        if self._polling is not None:
            yield self._polling
        yield self.worker.stop()
        yield self._connections.closeCachedConnections()  # type: ignore[no-untyped-call]

    def poll(self) -> Deferred[int] | None:
        """Post what is due now; fires with how many the gateway took (None while a poll runs)."""
        if self._polling is not None:
            return None
        done = self._poll()
        done.addErrback(self._poll_failed)
        done.addBoth(self._polled)
        self._polling = done
        return done

    def _poll_failed(self, failure: Failure) -> int:
        self.log.failure("SMS poll failed", failure)
        return 0

    def _polled(self, result: Any) -> Any:
        self._polling = None
        return result

    @inlineCallbacks
    def _poll(self) -> Any:
        now = self.clock.seconds()
        due = yield self.worker.run(queue.due_for_sms, now, self.config.delay_s, BATCH)
        taken = 0
        for command_id, imei, text, msisdn in due:
            if self._stopping:
                break
            lease = self.config.timeout_s + 60.0
            if not (yield self.worker.run(queue.claim_sms, command_id, self.node, self.clock.seconds(), lease)):
                continue  # a device connection took it meanwhile
            taken += (yield self._post(command_id, imei, text, msisdn))
        return taken

    @inlineCallbacks
    def _post(self, command_id: int, imei: str, text: str, msisdn: str) -> Any:
        headers = Headers({b"Content-Type": [b"application/json"], b"User-Agent": [b"telediag-sms"]})
        if self.config.token:
            headers.addRawHeader(self.config.token_header, self.config.token)
        request = self._http.post(self.config.url, data=sms_body(msisdn, text), headers=headers,
                                  allow_redirects=False, unbuffered=True)
        request.addCallback(read_excerpt, MAX_RESPONSE_EXCERPT)
        timed(request, self.config.timeout_s, self.clock)
        self._requests.add(request)
        permanent = False
        try:
            code, excerpt = yield request
            error = None if 200 <= code < 300 else f"the SMS gateway answered {code}: {excerpt[:100]!r}"
            permanent = 400 <= code < 500 and code not in RETRYABLE
        except Exception:
            error = describe_failure(Failure(), self.config.timeout_s)
        finally:
            self._requests.discard(request)
        now = self.clock.seconds()
        if error is None:
            yield self.worker.run(queue.sms_accepted, command_id, now)
            self.sent += 1
            self.log.info("command {id} to {imei} sent by SMS", id=command_id, imei=imei)
            return 1
        self.failures += 1
        attempts = (yield self.worker.run(queue.sms_attempts, command_id)) + 1
        if permanent or attempts >= self.config.max_attempts:
            retry_at, error = math.inf, f"SMS given up after {attempts} attempts: {error}"
        else:
            retry_at = now + self.backoff.delay(attempts, self.random.random)
            error = f"SMS attempt {attempts} failed: {error}"
        self.log.info("command {id} to {imei}: {error}", id=command_id, imei=imei, error=error)
        yield self.worker.run(queue.sms_failed, command_id, error, retry_at)
        return 0

