"""The sections of what leaves the service: ``[webhooks]``, ``[mqtt]``, ``[influxdb]`` and ``[metrics]``.

Each is off until its address is given (``urls``, ``host``, ``url``); ``[metrics]`` is always served.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from telediag.config.schema import NonNegative, NonNegativeInt, Positive, PositiveInt, Section, check_http_url
from telediag.ingest.mqtt_schema import MAX_PAYLOAD_BYTES, MAX_RECORDS


@dataclass(frozen=True)
class WebhookConfig(Section):
    """The ``[webhooks]`` section. No URL (the default) means webhooks are off."""


    urls: tuple[str, ...] = ()
    secret: str = field(default="", repr=False)
    timeout_s: Positive = 10.0
    max_attempts: NonNegativeInt = 0
    """0: retry forever (an event is never dropped); N: after N failed attempts the row is given up."""
    backoff_initial_s: Positive = 1.0
    backoff_max_s: Positive = 300.0
    """Retry backoff (``telediag.outbound.backoff``): a random wait below a ceiling that doubles from
    the initial value up to the maximum."""
    poll_interval_s: Positive = 1.0
    batch: PositiveInt = 50
    keep_delivered_s: NonNegative = 7 * 86400.0

    @property
    def enabled(self) -> bool:
        """Whether there is anywhere to deliver to."""
        return bool(self.urls)

    def check(self) -> None:
        for url in self.urls:
            check_http_url("urls", url)
            if urlsplit(url).username is not None:
                raise ValueError(f"urls: {url!r} has user:password@, which is never sent")
            if url.startswith("https:") and importlib.util.find_spec("OpenSSL") is None:
                raise ValueError(f"urls: {url!r} needs TLS support: install twisted[tls]")
        if len(set(self.urls)) != len(self.urls):
            raise ValueError("urls lists a URL twice (it would get every event twice)")
        if self.urls and not self.secret:
            raise ValueError("secret is required when urls are set (receivers verify with it)")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must not be smaller than backoff_initial_s")


@dataclass(frozen=True)
class MqttSettings(Section):
    """The ``[mqtt]`` section: one broker for telemetry in and notifications out."""


    host: str = ""
    """Broker host; empty disables MQTT altogether."""
    port: int = 1883
    client_id: str = "telediag"
    """Ingest session id (persistent: keep it stable); the publisher uses ``<client_id>-out``."""
    username: str = ""
    password: str = field(default="", repr=False)
    subscribe: bool = True
    """Ingest telemetry from ``<topic_prefix>/+/telemetry``."""
    topic_prefix: str = "telediag/v1"
    qos: Literal[0, 1] = 1
    """Subscription QoS: 1 is at-least-once with acknowledgement after commit; 0 may lose messages."""
    keepalive_s: PositiveInt = 60
    reconnect_min_s: Positive = 1.0
    reconnect_max_s: Positive = 60.0
    """Reconnect backoff (``telediag.outbound.backoff``): a random wait below a ceiling that doubles
    from the minimum up to the maximum, started again after a good connection."""
    publish: bool = True
    """Publish finding transitions and ticket events per account."""
    max_payload_bytes: PositiveInt = MAX_PAYLOAD_BYTES
    max_records_per_message: PositiveInt = MAX_RECORDS
    stop_timeout_s: Positive = 10.0
    """On stop, how long to wait for commits in flight so their messages are acknowledged."""
    publish_queue_limit: PositiveInt = 10_000
    """Notifications held in memory while the broker is away; past this new ones are dropped."""

    def check(self) -> None:
        if self.host != self.host.strip():
            raise ValueError("host must not have spaces around it")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be 1..65535, got {self.port}")
        if not self.client_id:
            raise ValueError("client_id must not be empty")
        if self.password and not self.username:
            raise ValueError("password needs a username")
        prefix = self.topic_prefix
        if not prefix or prefix.startswith("/") or prefix.endswith("/") or any(c in prefix for c in "+#\0"):
            raise ValueError(f"topic_prefix {prefix!r} must be a topic without wildcards or outer slashes")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must not be less than reconnect_min_s")

    @property
    def enabled(self) -> bool:
        """A broker is configured."""
        return bool(self.host)

    @property
    def ingest_enabled(self) -> bool:
        """Telemetry is ingested from the broker."""
        return self.enabled and self.subscribe

    @property
    def publish_enabled(self) -> bool:
        """Findings and ticket events are published to the broker."""
        return self.enabled and self.publish

    @property
    def publisher_client_id(self) -> str:
        """The publisher's own client id (two connections must never share one)."""
        return f"{self.client_id}-out"


@dataclass(frozen=True)
class InfluxSettings(Section):
    """The ``[influxdb]`` section. No URL (the default) means the export is off."""


    url: str = ""
    token: str = field(default="", repr=False)
    org: str = ""
    bucket: str = ""
    batch_size: PositiveInt = 5000
    """Rows per write request."""
    poll_interval_s: Positive = 1.0
    retry_initial_s: Positive = 1.0
    retry_max_s: Positive = 60.0
    """Retry backoff as for webhooks; a longer ``Retry-After`` from the server wins (up to the maximum)."""
    timeout_ms: PositiveInt = 10_000

    @property
    def enabled(self) -> bool:
        """Whether there is a server to export to."""
        return bool(self.url)

    def check(self) -> None:
        if self.url:
            check_http_url("url", self.url)
            for key in ("org", "bucket"):
                if not getattr(self, key):
                    raise ValueError(f"{key} is required when url is set (VictoriaMetrics accepts any name)")
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_max_s must not be smaller than retry_initial_s")


@dataclass(frozen=True)
class MetricsSettings(Section):
    """The ``[metrics]`` section."""


    token: str = field(default="", repr=False)
    """When set, ``/metrics`` wants ``Authorization: Bearer <token>``; empty means no token."""
    store_cache_s: NonNegative = 5.0
    """Findings and tickets are counted in the store at most this often."""
