"""What the admin pages read: users and tokens a page at a time, and a snapshot of what the service is
connected to, turned into one status per integration.

Creating and disabling users and tokens is not here: the pages call ``telediag.web.users`` and
``telediag.api.tokens``, the functions ``telediag users`` and ``telediag tokens`` run, so a user or a
token made on a page obeys the same rules as one made on the command line. Nothing here ever reads a
password hash or a token hash.

The integration status is built in two steps: :func:`snapshot` reads the store and the data
directory on a reader thread (sizes, counts, cursors), then :func:`integrations` turns it and the
typed configuration sections into statuses, pure and cheap, so it can be tested without a service.
Addresses are shown as origins (scheme, host, port) and secrets (tokens, passwords, signing keys)
never at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from protocols.record import iso_utc
from telediag.config import Config, InfluxSettings, MetricsSettings, MqttSettings
from telediag.outbound.influx import CURSOR_NAME, read_cursor
from telediag.store.database import Connection, Database
from telediag.store.reader import Reader
from telediag.tickets import outbox
from telediag.tickets.model import ACTIVE_STATES

PAGE_SIZE = 100
"""Users or tokens one admin page lists; the page links to the next."""
INFLUX_STALL_S = 300.0
"""An export with rows waiting whose cursor has not moved for this long needs attention."""
Gettext = Callable[[str], str]


def _paged(db: Connection, table: str, page: int) -> tuple[int, int, int]:
    total = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return total, max(1, -(-total // PAGE_SIZE)), (page - 1) * PAGE_SIZE


def users_page(page: int) -> Callable[[Reader], dict[str, Any]]:
    """Reader-thread work: one page of users, oldest first, with their live sessions
    (``{"users", "total", "page", "pages"}``). Sign-ins are not stored apart from sessions, so the
    latest sign-in shown is that of the newest session still live."""

    def run(reader: Reader) -> dict[str, Any]:
        db = reader.connection
        total, pages, offset = _paged(db, "users", page)
        rows = db.execute(
            "SELECT u.username, u.role, u.account, u.created_at, u.disabled_at, "
            "(SELECT max(s.created_at) FROM web_sessions s WHERE s.user_id = u.id), "
            "(SELECT count(*) FROM web_sessions s WHERE s.user_id = u.id) "
            "FROM users u ORDER BY u.id LIMIT ? OFFSET ?", (PAGE_SIZE, offset)).fetchall()
        users = [{"username": username, "role": role, "account": account, "created_at": iso_utc(created),
                  "disabled_at": iso_utc(disabled), "signed_in_at": iso_utc(signed_in), "sessions": sessions}
                 for username, role, account, created, disabled, signed_in, sessions in rows]
        return {"users": users, "total": total, "page": page, "pages": pages}

    return run


def tokens_page(page: int) -> Callable[[Reader], dict[str, Any]]:
    """Reader-thread work: one page of API tokens, newest first, without their hashes
    (``{"tokens", "total", "page", "pages"}``)."""

    def run(reader: Reader) -> dict[str, Any]:
        db = reader.connection
        total, pages, offset = _paged(db, "api_tokens", page)
        rows = db.execute("SELECT id, role, account, label, created_at, revoked_at FROM api_tokens "
                          "ORDER BY id DESC LIMIT ? OFFSET ?", (PAGE_SIZE, offset)).fetchall()
        tokens = [{"id": token_id, "role": role, "account": account, "label": label,
                   "created_at": iso_utc(created), "revoked_at": iso_utc(revoked)}
                  for token_id, role, account, label, created, revoked in rows]
        return {"tokens": tokens, "total": total, "page": page, "pages": pages}

    return run


@dataclass(frozen=True)
class Snapshot:
    """What the store and the data directory said at one moment."""

    database_bytes: int | None
    schema_version: int
    newest_record_id: int
    devices: int
    open_tickets: int
    users: int
    live_tokens: int
    influx_cursor: int
    influx_moved_at: float | None
    webhooks_pending: int
    webhooks_given_up: int
    webhooks_oldest_pending_at: float | None
    listening: list[dict[str, Any]] | None
    """The listeners this process bound (``listening.json``), None when it did not write one."""
    store_name: str = "SQLite"
    store_location: str = ""


def snapshot(config: Config, database: Database) -> Callable[[Reader], Snapshot]:
    """Reader-thread work: sizes, counts and cursors for the integration status."""

    def run(reader: Reader) -> Snapshot:
        db = reader.connection

        def one(sql: str, *args: Any) -> Any:
            return db.execute(sql, args).fetchone()[0]

        marks = ", ".join("?" * len(ACTIVE_STATES))
        moved = db.execute("SELECT updated_at FROM export_cursors WHERE name = ?", (CURSOR_NAME,)).fetchone()
        return Snapshot(
            database_bytes=database.size_bytes(),
            schema_version=database.schema_version(db),
            newest_record_id=one("SELECT coalesce(max(id), 0) FROM records"),
            devices=one("SELECT count(*) FROM devices"),
            open_tickets=one(f"SELECT count(*) FROM tickets WHERE state IN ({marks})", *ACTIVE_STATES),
            users=one("SELECT count(*) FROM users WHERE disabled_at IS NULL"),
            live_tokens=one("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL"),
            influx_cursor=read_cursor(db),
            influx_moved_at=moved[0] if moved else None,
            webhooks_pending=outbox.pending_count(db),
            webhooks_given_up=outbox.given_up_count(db),
            webhooks_oldest_pending_at=one(
                "SELECT min(created_at) FROM webhook_outbox WHERE delivered_at IS NULL AND next_attempt_at < ?",
                outbox.GAVE_UP),
            listening=_listening(config.store.listening_path),
            store_name=database.dialect.title,
            store_location=database.describe(),
        )

    return run


def _listening(path: Path) -> list[dict[str, Any]] | None:
    """The listeners ``telediag serve`` wrote once bound, if this process wrote them (a file left by an
    earlier run says nothing about this one)."""
    try:
        written = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(written, dict) or written.get("pid") != os.getpid():
        return None
    listeners = written.get("listeners")
    return [entry for entry in listeners if isinstance(entry, dict)] if isinstance(listeners, list) else None


@dataclass(frozen=True)
class Integration:
    """One thing the service is connected to, as the status page shows it."""

    key: str
    """Stable hook: ``store``, ``listeners``, ``influxdb``, ``mqtt``, ``webhooks``, ``metrics``, ``tickets``."""
    name: str
    state: str
    """``ok``, ``attention`` or ``off`` (not configured)."""
    summary: str
    facts: list[tuple[str, str]] = field(default_factory=list)


def origin(url: str) -> str:
    """A URL as scheme, host and port only: paths and queries of webhook URLs often carry secrets."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def size_text(count: int) -> str:
    """Bytes in the unit people read (1 decimal above a kibibyte)."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def integrations(config: Config, seen: Snapshot, now: float, *, metrics: Any, desk: Any,
                 gettext: Gettext) -> list[Integration]:
    """The status of each integration from the configuration and a snapshot (pure)."""
    _ = gettext
    found = [
        Integration("store", _("Store"), "ok", _("{backend}, answering").format(backend=seen.store_name), [
            (_("Location"), seen.store_location),
            (_("Size with its log"), _("unknown") if seen.database_bytes is None else size_text(seen.database_bytes)),
            (_("Schema version"), str(seen.schema_version)),
            (_("Newest record id"), str(seen.newest_record_id)),
            (_("Trackers registered"), str(seen.devices)),
        ]),
        _listeners(config, seen, _),
        _influx(config.influxdb, seen, now, _),
        _mqtt(config.mqtt, _),
        _webhooks(config, seen, now, _),
        _metrics(config.metrics, metrics, _),
    ]
    if desk is None:
        found.append(Integration("tickets", _("Ticket desk"), "off", _("not configured: tickets are not served")))
    else:
        found.append(Integration("tickets", _("Ticket desk"), "ok", _("serving tickets"), [
            (_("Unresolved tickets"), str(seen.open_tickets)),
            (_("SLA calendar"), f"{config.sla.timezone}"),
        ]))
    return found


def _listeners(config: Config, seen: Snapshot, _: Gettext) -> Integration:
    configured = [(protocol, endpoint) for protocol, endpoints in config.listen.items() for endpoint in endpoints]
    facts = [(protocol, endpoint) for protocol, endpoint in configured]
    if seen.listening is None:
        return Integration("listeners", _("Ingest listeners"), "attention" if configured else "off",
                           _("configured, but this process has not reported them bound (ingest runs elsewhere "
                             "or is still starting)") if configured else _("not configured"), facts)
    bound = [(f"{entry.get('protocol')} ({entry.get('transport')})", _("port %(port)s") % {"port": entry.get("port")})
             for entry in seen.listening]
    return Integration("listeners", _("Ingest listeners"), "ok",
                       _("%(count)s listeners bound") % {"count": len(seen.listening)}, bound)


def _influx(settings: InfluxSettings, seen: Snapshot, now: float, _: Gettext) -> Integration:
    if not settings.enabled:
        return Integration("influxdb", _("InfluxDB export"), "off", _("not configured"))
    lag = max(0, seen.newest_record_id - seen.influx_cursor)
    stalled = lag > 0 and (seen.influx_moved_at is None or now - seen.influx_moved_at > INFLUX_STALL_S)
    facts = [(_("Server"), origin(settings.url)), (_("Organisation"), settings.org), (_("Bucket"), settings.bucket),
             (_("Exported up to record"), str(seen.influx_cursor)), (_("Records waiting"), str(lag)),
             (_("Cursor last moved"), iso_utc(seen.influx_moved_at) or _("never"))]
    summary = (_("records are waiting and the export has not moved for over %(minutes)s minutes")
               % {"minutes": int(INFLUX_STALL_S // 60)}) if stalled else _("exporting")
    return Integration("influxdb", _("InfluxDB export"), "attention" if stalled else "ok", summary, facts)


def _mqtt(settings: MqttSettings, _: Gettext) -> Integration:
    if not settings.enabled:
        return Integration("mqtt", _("MQTT"), "off", _("not configured"))
    on, off = _("on"), _("off")
    return Integration("mqtt", _("MQTT"), "ok", _("broker configured (the connection state is in the service log)"), [
        (_("Broker"), f"{settings.host}:{settings.port}"),
        (_("Telemetry ingest"), f"{on}: {settings.topic_prefix}/+/telemetry" if settings.ingest_enabled else off),
        (_("Findings and ticket events out"),
         f"{on}: {settings.topic_prefix}/accounts/…" if settings.publish_enabled else off),
    ])


def _webhooks(config: Config, seen: Snapshot, now: float, _: Gettext) -> Integration:
    hooks = config.webhooks
    waiting = [(_("Waiting for delivery"), str(seen.webhooks_pending)),
               (_("Given up (need an operator)"), str(seen.webhooks_given_up))]
    if seen.webhooks_oldest_pending_at is not None:
        waiting.append((_("Oldest waiting since"), iso_utc(seen.webhooks_oldest_pending_at) or ""))
    if not hooks.enabled:
        state = "attention" if seen.webhooks_pending or seen.webhooks_given_up else "off"
        return Integration("webhooks", _("Webhooks"), state, _("not configured"), waiting if state != "off" else [])
    facts = [(_("Receiver"), origin(url)) for url in hooks.urls] + waiting
    state = "attention" if seen.webhooks_given_up else "ok"
    summary = (_("some events were given up") if seen.webhooks_given_up
               else _("delivering") if not seen.webhooks_pending else _("delivering, events waiting"))
    return Integration("webhooks", _("Webhooks"), state, summary, facts)


def _metrics(settings: MetricsSettings, exporter: Any, _: Gettext) -> Integration:
    facts = [(_("Bearer token required"), _("yes") if settings.token else _("no"))]
    registry = getattr(exporter, "registry", None)
    stored = registry.get_sample_value("telediag_records_stored_total") if registry is not None else None
    if registry is None or stored is None:
        facts.append((_("Ingest and commit counters"), _("not available (no ingest in this process)")))
    else:
        backlog = registry.get_sample_value("telediag_commit_backlog_records")
        facts += [(_("Records stored since start"), f"{stored:.0f}"),
                  (_("Records waiting for their commit"), f"{backlog or 0:.0f}")]
    return Integration("metrics", _("Prometheus metrics"), "ok", _("served at /metrics"), facts)
