"""The sections of the service itself: ``[store]``, ``[ingest]``, ``[listen]``, ``[api]`` and ``[web]``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from protocols import registry
from telediag.config.schema import ConfigError, NonNegativeInt, Positive, PositiveInt, Section
from telediag.plausibility import Bounds

DATABASE_FILE = "telediag.sqlite3"
LISTENING_FILE = "listening.json"
"""Written to the data directory once every listener is up: pid, and protocol, transport and bound port."""
SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")


@dataclass(frozen=True)
class StoreConfig(Section):
    """Where and how records are committed."""

    data_dir: Path = Path("var")
    synchronous: str = "NORMAL"
    """SQLite ``synchronous`` in WAL mode: NORMAL survives a process crash, FULL also a power cut."""
    batch_max_records: PositiveInt = 2000
    batch_max_delay_ms: Positive = 2.0
    queue_limit_records: PositiveInt = 100_000
    """Records waiting for a commit; past this, connections stop being read until the queue drains."""
    retention_days: NonNegativeInt = 0
    """Records and ingest errors older than this many days are dropped (0: kept for ever)."""
    retention_check_s: Positive = 3600.0
    """How often the retention looks for rows to drop (when ``retention_days`` is set)."""
    backend: Literal["sqlite", "postgresql"] = "sqlite"
    """``sqlite``: one file under ``data_dir``; ``postgresql``: the database at ``dsn``, shared by every
    worker and host."""
    dsn: str = ""
    """The PostgreSQL connection string (``postgresql://user[:password]@host[:port]/database`` or libpq's
    ``key=value`` form); required with ``backend = "postgresql"``. The database must exist, owned by (or
    writable with CREATE by) that user: telediag creates its tables and the ``citext`` extension. Never
    shown with its password."""

    def check(self) -> None:
        if self.synchronous.upper() not in SYNCHRONOUS_LEVELS:
            raise ValueError(f"synchronous must be one of {list(SYNCHRONOUS_LEVELS)}, got {self.synchronous!r}")
        if self.backend == "postgresql" and not self.dsn:
            raise ValueError('dsn is required with backend = "postgresql" (e.g. "postgresql://telediag@host/telediag")')

    @property
    def database_path(self) -> Path:
        """The SQLite file under the data directory."""
        return self.data_dir / DATABASE_FILE

    @property
    def listening_path(self) -> Path:
        """Where the running service says what it bound (``telediag.app`` writes it, the admin page reads it)."""
        return self.data_dir / LISTENING_FILE


@dataclass(frozen=True)
class IngestConfig(Section):
    """Limits and policies that apply to every device connection."""

    idle_timeout_s: Positive = 600.0
    max_frame_bytes: PositiveInt = 64 * 1024
    auto_register: bool = True
    """Unknown IMEIs are registered on first contact; when false they are refused."""
    command_timeout_s: Positive = 30.0
    frame_timeout_s: Positive = 30.0
    """A frame (or an HTTP request) begun must be complete within this long, or the connection closes."""
    max_connections_per_address: PositiveInt = 1000
    """Open device connections from one source address; high because fleets sit behind operator NAT."""
    udp_receive_buffer_bytes: PositiveInt = 4 * 1024 * 1024
    """Kernel receive buffer of each UDP socket, so bursts wait in the kernel instead of being dropped."""
    max_speed_kmh: Positive = 500.0
    """A faster reported speed is impossible for a road vehicle: the fix is stored with ``valid = false``."""
    min_fix_year: PositiveInt = 2000
    """Fix times before this year are implausible (the raw value is kept; it still counts as clock evidence)."""
    max_future_s: Positive = 86400.0
    """Fix times further ahead of the server clock are implausible (raw value kept, clock evidence)."""
    workers: PositiveInt = 1
    """Ingest processes sharing each listening port (SO_REUSEPORT; ``tcp:`` and ``udp:`` endpoints).

    With more than 1 the parent runs the API (and diagnostics, tickets and outbound when elected) and
    starts this many worker processes, each decoding and storing what its share of the connections
    sends. With SQLite every worker writes to the one file and the commits take turns (one writer at a
    time under SQLite's lock): decoding and the network scale with the workers, commits do not; with
    PostgreSQL the workers write at once. Per-address connection limits count per worker.
    """

    def check(self) -> None:
        if not 1970 <= self.min_fix_year <= 2100:
            raise ValueError(f"min_fix_year must be a year from 1970 to 2100, got {self.min_fix_year}")

    @property
    def bounds(self) -> Bounds:
        """The plausibility bounds every record is checked against in the pipeline."""
        return Bounds.from_settings(self.max_speed_kmh, self.min_fix_year, self.max_future_s)


@dataclass(frozen=True)
class ApiConfig(Section):
    """The HTTP API listener."""

    listen: str = "tcp:8080:interface=127.0.0.1"
    max_body_bytes: PositiveInt = 1024 * 1024
    """Largest request body accepted; a bigger declared Content-Length is refused before reading."""
    header_timeout_s: Positive = 10.0
    """A request's line and headers must arrive within this long of its first byte (slowloris)."""
    body_timeout_s: Positive = 30.0
    """A request's declared body must arrive within this long of its headers."""
    max_header_bytes: PositiveInt = 16 * 1024
    """Request line plus headers; more is answered 431."""
    max_headers: PositiveInt = 64
    """Header fields per request; more is answered 431."""
    max_connections_per_address: PositiveInt = 64
    """Open API connections from one source address; past it new ones get 503 and are closed."""


@dataclass(frozen=True)
class WebConfig(Section):
    """The web console's sign-in: session lifetimes and the failed sign-in limits."""

    session_idle_s: Positive = 1800.0
    """A session unused this long ends (the next request goes to the sign-in page)."""
    session_max_s: Positive = 43200.0
    """A session ends this long after sign-in however busy it is; also the cookie's Max-Age."""
    login_failures_per_user: PositiveInt = 5
    """Failed sign-ins for one username within the window before more are refused (429)."""
    login_failures_per_address: PositiveInt = 20
    """Failed sign-ins from one source address within the window before more are refused (429)."""
    login_window_s: Positive = 900.0
    """The sliding window the failures are counted in."""


DEFAULT_LISTEN: Mapping[str, tuple[str, ...]] = {
    "teltonika": ("tcp:5027", "udp:5027"),
    "gt06": ("tcp:5023",),
}


@dataclass(frozen=True)
class UdpEndpoint:
    """A parsed ``udp:PORT[:interface=ADDR]`` string (Twisted has no UDP endpoint strings)."""

    port: int
    interface: str = ""

    @classmethod
    def parse(cls, text: str) -> UdpEndpoint:
        """Parse the string, or raise ConfigError naming it."""
        parts = text.split(":")
        try:
            if parts[0] != "udp" or len(parts) < 2:
                raise ValueError
            port = int(parts[1])
            options = dict(part.split("=", 1) for part in parts[2:])
        except ValueError:
            raise ConfigError(f"bad UDP endpoint {text!r}; expected udp:PORT[:interface=ADDR]") from None
        if set(options) - {"interface"} or not 0 <= port <= 65535:
            raise ConfigError(f"bad UDP endpoint {text!r}; expected udp:PORT[:interface=ADDR]")
        return cls(port, options.get("interface", ""))


def check_listen(listen: Mapping[str, tuple[str, ...]]) -> None:
    """Every protocol is known to the codec registry and listens on a transport it speaks."""
    for protocol, endpoints in listen.items():
        try:
            spec = registry.get(protocol)
        except KeyError as error:
            raise ConfigError(f"[listen] {error.args[0]}") from None
        for endpoint in endpoints:
            transport = "udp" if endpoint.startswith("udp:") else "tcp"
            if transport not in spec.transports:
                raise ConfigError(
                    f"[listen] {protocol} does not speak {transport.upper()} ({endpoint!r}); "
                    f"it speaks {', '.join(spec.transports)}"
                )
            if transport == "udp":
                try:
                    UdpEndpoint.parse(endpoint)
                except ConfigError as error:
                    raise ConfigError(f"[listen] {protocol}: {error}") from None
