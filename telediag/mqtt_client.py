"""The one MQTT connection both directions share: ingest (``telediag.ingest.mqtt``) and MQTT out
(``telediag.outbound.mqtt``) each open their own with it, so the session, the credentials and the
reconnection behave the same on both.

paho's network thread connects in the background and reconnects by itself after a lost connection
or a failed attempt. Before each of those waits, the wait is drawn from the shared backoff policy
(:class:`~telediag.outbound.backoff.Backoff` over ``reconnect_min_s`` .. ``reconnect_max_s``, full
jitter) and handed to paho as its next delay; a connection the broker accepts starts the count again.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from paho.mqtt.client import Client, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion

from telediag.config import MqttSettings
from telediag.outbound.backoff import Backoff

OnConnect = Callable[[Client, Any, Any, Any, Any], None]
"""paho's ``on_connect(client, userdata, flags, reason, properties)`` (and ``on_disconnect``'s shape)."""


class MqttClient:
    """A paho client with a persistent session on its own network thread. ``on_connect`` and
    ``on_disconnect`` run on that thread; set any other callback on :attr:`paho` before ``start``."""

    def __init__(
        self, settings: MqttSettings, client_id: str, *, manual_ack: bool,
        on_connect: OnConnect | None = None, on_disconnect: OnConnect | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        self.paho = Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, protocol=MQTTv311,
            manual_ack=manual_ack,
        )
        if settings.username:
            self.paho.username_pw_set(settings.username, settings.password or None)
        self.failures = 0
        """Connection attempts failed or connections lost since the broker last accepted one."""
        self._rand = rand
        self._lock = threading.Lock()
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self.paho.on_connect = self._connected
        self.paho.on_disconnect = self._disconnected
        self.paho.on_connect_fail = self._connect_failed

    def start(self) -> None:
        """Connect in the background; paho's thread retries until the broker is there."""
        self.paho.connect_async(self.settings.host, self.settings.port, self.settings.keepalive_s)
        self.paho.loop_start()

    def stop(self) -> None:
        """Disconnect and join paho's thread (blocking: call it off the reactor)."""
        self.paho.disconnect()
        self.paho.loop_stop()

    def is_connected(self) -> bool:
        """The broker accepted the connection and it has not been lost since."""
        return self.paho.is_connected()

    # paho's network thread below

    def _connected(self, client: Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not reason.is_failure:
            with self._lock:
                self.failures = 0
        if self._on_connect is not None:
            self._on_connect(client, userdata, flags, reason, properties)

    def _disconnected(self, client: Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._failed()
        if self._on_disconnect is not None:
            self._on_disconnect(client, userdata, flags, reason, properties)

    def _connect_failed(self, client: Client, userdata: Any) -> None:
        self._failed()

    def _failed(self) -> None:
        """One more failure: paho's next reconnect waits a delay drawn for that many failures."""
        with self._lock:
            self.failures += 1
            delay = self.backoff.delay(self.failures, self._rand)
        self.paho.reconnect_delay_set(delay, delay)  # type: ignore[arg-type]  # paho accepts float seconds
