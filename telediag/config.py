"""Configuration: one TOML file plus CLI flags, every key with a working default.

Unknown keys and wrong types are refused with a message naming the key, so a typo in a config file
never silently runs the service on defaults.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from protocols import registry
from telediag.plausibility import Bounds
from telediag.diagnostics.thresholds import ThresholdError, Thresholds, parse_thresholds
from telediag.tickets.model import TicketsConfig, TicketsConfigError, parse_tickets
from telediag.tickets.sla import SlaConfig, SlaConfigError, parse_sla
from telediag.tickets.webhooks import WebhookConfig, WebhookConfigError, parse_webhooks


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which key and why."""


@dataclass(frozen=True)
class StoreConfig:
    """Where and how records are committed."""

    data_dir: Path = Path("var")
    synchronous: str = "NORMAL"
    """SQLite ``synchronous`` in WAL mode: NORMAL survives a process crash, FULL also a power cut."""
    batch_max_records: int = 2000
    batch_max_delay_ms: float = 2.0
    queue_limit_records: int = 100_000
    """Records waiting for a commit; past this, connections stop being read until the queue drains."""


@dataclass(frozen=True)
class IngestConfig:
    """Limits and policies that apply to every device connection."""

    idle_timeout_s: float = 600.0
    max_frame_bytes: int = 64 * 1024
    auto_register: bool = True
    """Unknown IMEIs are registered on first contact; when false they are refused."""
    command_timeout_s: float = 30.0
    frame_timeout_s: float = 30.0
    """A frame (or an HTTP request) begun must be complete within this long, or the connection closes."""
    max_connections_per_address: int = 1000
    """Open device connections from one source address; high because fleets sit behind operator NAT."""
    udp_receive_buffer_bytes: int = 4 * 1024 * 1024
    """Kernel receive buffer of each UDP socket, so bursts wait in the kernel instead of being dropped."""
    max_speed_kmh: float = 500.0
    """A faster reported speed is impossible for a road vehicle: the fix is stored with ``valid = false``."""
    min_fix_year: int = 2000
    """Fix times before this year are implausible (the raw value is kept; it still counts as clock evidence)."""
    max_future_s: float = 86400.0
    """Fix times further ahead of the server clock are implausible (raw value kept, clock evidence)."""

    @property
    def bounds(self) -> Bounds:
        """The plausibility bounds every record is checked against in the pipeline."""
        return Bounds.from_settings(self.max_speed_kmh, self.min_fix_year, self.max_future_s)


@dataclass(frozen=True)
class ApiConfig:
    """The HTTP API listener."""

    listen: str = "tcp:8080:interface=127.0.0.1"
    max_body_bytes: int = 1024 * 1024
    """Largest request body accepted; a bigger declared Content-Length is refused before reading."""
    header_timeout_s: float = 10.0
    """A request's line and headers must arrive within this long of its first byte (slowloris)."""
    body_timeout_s: float = 30.0
    """A request's declared body must arrive within this long of its headers."""
    max_header_bytes: int = 16 * 1024
    """Request line plus headers; more is answered 431."""
    max_headers: int = 64
    """Header fields per request; more is answered 431."""
    max_connections_per_address: int = 64
    """Open API connections from one source address; past it new ones get 503 and are closed."""


@dataclass(frozen=True)
class WebConfig:
    """The web console's sign-in: session lifetimes and the failed sign-in limits."""

    session_idle_s: float = 1800.0
    """A session unused this long ends (the next request goes to the sign-in page)."""
    session_max_s: float = 43200.0
    """A session ends this long after sign-in however busy it is; also the cookie's Max-Age."""
    login_failures_per_user: int = 5
    """Failed sign-ins for one username within the window before more are refused (429)."""
    login_failures_per_address: int = 20
    """Failed sign-ins from one source address within the window before more are refused (429)."""
    login_window_s: float = 900.0
    """The sliding window the failures are counted in."""


DEFAULT_LISTEN: dict[str, tuple[str, ...]] = {
    "teltonika": ("tcp:5027", "udp:5027"),
    "gt06": ("tcp:5023",),
}


@dataclass(frozen=True)
class Config:
    """The whole service configuration."""

    store: StoreConfig = field(default_factory=StoreConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    web: WebConfig = field(default_factory=WebConfig)
    listen: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_LISTEN))
    diagnostics: Thresholds = field(default_factory=Thresholds)
    sla: SlaConfig = field(default_factory=lambda: parse_sla({}))
    tickets: TicketsConfig = field(default_factory=TicketsConfig)
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Sections that later parts of the service read (sla, diagnostics, ...), kept as parsed."""

    @property
    def database_path(self) -> Path:
        """The SQLite file under the data directory."""
        return self.store.data_dir / "telediag.sqlite3"


_PASSTHROUGH_SECTIONS = {"sla", "diagnostics", "tickets", "mqtt", "influxdb", "webhooks", "metrics"}
_SYNCHRONOUS_LEVELS = {"OFF", "NORMAL", "FULL", "EXTRA"}


def _section(cls: type, raw: Mapping[str, Any], name: str) -> Any:
    """Build the dataclass ``cls`` from ``raw``, checking key names and value types."""
    defaults = cls()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if not hasattr(defaults, key):
            known = ", ".join(sorted(defaults.__dataclass_fields__))
            raise ConfigError(f"[{name}] has no key {key!r}; known keys: {known}")
        expected = type(getattr(defaults, key))
        if issubclass(expected, Path):
            if not isinstance(value, str) or not value:
                raise ConfigError(f"[{name}] {key} must be a non-empty path string")
            value = Path(value)
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(
                f"[{name}] {key} must be {expected.__name__}, got {type(value).__name__} {value!r}"
            )
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
            raise ConfigError(f"[{name}] {key} must be positive, got {value!r}")
        values[key] = value
    return replace(defaults, **values)


def _listen(raw: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Protocol name -> endpoint strings, checked against the codec registry."""
    listen: dict[str, tuple[str, ...]] = {}
    for protocol, endpoints in raw.items():
        try:
            spec = registry.get(protocol)
        except KeyError as error:
            raise ConfigError(f"[listen] {error.args[0]}") from None
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        if not isinstance(endpoints, list) or not all(isinstance(e, str) for e in endpoints):
            raise ConfigError(f"[listen] {protocol} must be a list of endpoint strings")
        for endpoint in endpoints:
            transport = "udp" if endpoint.startswith("udp:") else "tcp"
            if transport not in spec.transports:
                raise ConfigError(
                    f"[listen] {protocol} does not speak {transport.upper()} ({endpoint!r}); "
                    f"it speaks {', '.join(spec.transports)}"
                )
        listen[protocol] = tuple(endpoints)
    return listen


def parse_config(raw: Mapping[str, Any]) -> Config:
    """A Config from an already parsed TOML document."""
    known = {"store", "ingest", "api", "web", "listen"} | _PASSTHROUGH_SECTIONS
    for section, value in raw.items():
        if section not in known:
            raise ConfigError(f"unknown section [{section}]; known: {', '.join(sorted(known))}")
        if not isinstance(value, dict):
            raise ConfigError(f"[{section}] must be a table")
    store = _section(StoreConfig, raw.get("store", {}), "store")
    if store.synchronous.upper() not in _SYNCHRONOUS_LEVELS:
        raise ConfigError(f"[store] synchronous must be one of {sorted(_SYNCHRONOUS_LEVELS)}")
    listen = _listen(raw["listen"]) if "listen" in raw else dict(DEFAULT_LISTEN)
    from telediag.ingest.mqtt import MqttConfigError, parse_mqtt  # here: they import this module
    from telediag.metrics import parse_metrics_settings
    from telediag.store.influx_export import InfluxConfigError, parse_influxdb

    try:
        diagnostics = parse_thresholds(raw.get("diagnostics", {}))
        sla = parse_sla(raw.get("sla", {}))
        tickets = parse_tickets(raw.get("tickets", {}))
        webhooks = parse_webhooks(raw.get("webhooks", {}))
        parse_mqtt(raw.get("mqtt", {}))
        parse_metrics_settings(raw.get("metrics", {}))
        parse_influxdb(raw.get("influxdb", {}))
    except (ThresholdError, SlaConfigError, TicketsConfigError, WebhookConfigError, MqttConfigError,
            InfluxConfigError) as error:
        raise ConfigError(str(error)) from None
    ingest = _section(IngestConfig, raw.get("ingest", {}), "ingest")
    if not 1970 <= ingest.min_fix_year <= 2100:
        raise ConfigError(f"[ingest] min_fix_year must be a year from 1970 to 2100, got {ingest.min_fix_year}")
    return Config(
        store=store,
        ingest=ingest,
        api=_section(ApiConfig, raw.get("api", {}), "api"),
        web=_section(WebConfig, raw.get("web", {}), "web"),
        listen=listen,
        diagnostics=diagnostics,
        sla=sla,
        tickets=tickets,
        webhooks=webhooks,
        extra={k: v for k, v in raw.items() if k in _PASSTHROUGH_SECTIONS},
    )


def load_config(path: Path | None = None, data_dir: Path | None = None) -> Config:
    """Read ``path`` (or use the embedded defaults) and apply the ``--data-dir`` override."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    config = parse_config(raw)
    if data_dir is not None:
        config = replace(config, store=replace(config.store, data_dir=Path(data_dir)))
    return config
