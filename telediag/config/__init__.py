"""Configuration: one TOML file plus CLI flags, every key with a working default, parsed once.

Every section has one schema in this package (``core``, ``diagnostics``, ``tickets``, ``outbound``),
and :func:`parse_config` converts the whole parsed TOML document into a typed :class:`Config` in one
``msgspec.convert`` call. Unknown sections and keys, wrong types and values out of range are refused
with a message naming the key (``[api] max_body_bytes must be int, got str 'big'``), so a typo never
silently runs the service on defaults. Feature modules receive their typed section and parse nothing.
"""

from __future__ import annotations

import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec

from telediag.config.commands import CommandsConfig, SmsConfig
from telediag.config.core import (
    DEFAULT_LISTEN,
    ApiConfig,
    IngestConfig,
    StoreConfig,
    UdpEndpoint,
    WebConfig,
    check_listen,
)
from telediag.config.diagnostics import Thresholds
from telediag.config.mail import MailConfig, MailIntakeConfig, NotificationsConfig
from telediag.config.outbound import InfluxSettings, MetricsSettings, MqttSettings, WebhookConfig
from telediag.config.schema import ConfigError, decode_path, describe, unknown_key
from telediag.config.tickets import DEFAULT_TOPICS, SlaConfig, TicketsConfig
from telediag.ingest.sockets import UnsharableEndpoint, shared_address

__all__ = [
    "DEFAULT_LISTEN", "DEFAULT_TOPICS", "ApiConfig", "Config", "ConfigError", "IngestConfig", "InfluxSettings",
    "MetricsSettings", "MqttSettings", "SlaConfig", "StoreConfig", "Thresholds", "TicketsConfig", "UdpEndpoint",
    "WebConfig", "WebhookConfig", "check_available", "load_config", "parse_config", "parse_section",
]

@dataclass(frozen=True)
class Config:
    """The whole service configuration: one typed section per TOML table."""

    store: StoreConfig = field(default_factory=StoreConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    web: WebConfig = field(default_factory=WebConfig)
    listen: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_LISTEN))
    """Protocol name -> Twisted endpoint strings (``udp:PORT[:interface=ADDR]`` for UDP)."""
    diagnostics: Thresholds = field(default_factory=Thresholds)
    sla: SlaConfig = field(default_factory=SlaConfig)
    tickets: TicketsConfig = field(default_factory=TicketsConfig)
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    influxdb: InfluxSettings = field(default_factory=InfluxSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    mail: MailConfig = field(default_factory=MailConfig)
    notifications: NotificationsConfig = field(default_factory=NotificationsConfig)
    mail_intake: MailIntakeConfig = field(default_factory=MailIntakeConfig)
    commands: CommandsConfig = field(default_factory=CommandsConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)

    def __post_init__(self) -> None:
        check_listen(self.listen)

    @property
    def database_path(self) -> Path:
        """The SQLite file under the data directory."""
        return self.store.database_path


def parse_config(raw: Mapping[str, Any]) -> Config:
    """A Config from an already parsed TOML document; ConfigError naming the first bad key."""
    unknown = unknown_key(raw, Config)
    if unknown is not None:
        raise ConfigError(unknown)
    try:
        return msgspec.convert(raw, Config, dec_hook=decode_path)
    except msgspec.ValidationError as error:
        raise ConfigError(describe(error, Config, raw)) from None


def parse_section(name: str, raw: Mapping[str, Any]) -> Any:
    """One section from its table alone, through the same schema and checks as the whole file
    (``parse_section("mqtt", {"host": "broker"})`` is ``parse_config({"mqtt": {...}}).mqtt``)."""
    return getattr(parse_config({name: raw}), name)


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


def check_available(config: Config) -> None:
    """Refuse what the schema accepts but this version cannot run yet (a later version implements it)."""
    if config.ingest.workers > 1:
        if not hasattr(socket, "SO_REUSEPORT"):
            raise ConfigError(f"[ingest] workers = {config.ingest.workers} needs SO_REUSEPORT, which this system "
                              "lacks; use 1 (the default)")
        for protocol, endpoints in config.listen.items():
            for endpoint in endpoints:
                try:
                    shared_address(protocol, endpoint)
                except UnsharableEndpoint as error:
                    raise ConfigError(f"[ingest] workers = {config.ingest.workers}: [listen] {error}") from None
