"""The store as a Twisted service: opened at start, written by one batch committer, closed at stop
after everything queued is committed.

The store opens in ``startService`` rather than when the service tree is built: twistd builds the
tree before it forks into the background, and a SQLite connection must never cross a fork.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from telediag.config import StoreConfig
from telediag.store.committer import BatchCommitter
from telediag.store.database import Connection, Database, open_database
from telediag.store.permissions import private_directory
from telediag.store.worker import DatabaseWorker, database_worker
from telediag.store.writer import Store

REGISTRY_REFRESH_S = 1.0
"""How often the registry is read again for devices others registered (the CLI, the API, other nodes)."""


class StoreService(Service):
    """``StoreService(config, reactor)``: the committer exists from the start, the store from ``startService``.

    ``fresh_start`` (the default) marks every device disconnected at start; an ingest worker started
    beside others (``[ingest] workers``) passes False, as devices are still connected to the others.
    """

    log = Logger()

    def __init__(self, config: StoreConfig, reactor: Any, fresh_start: bool = True) -> None:
        self.config = config
        self.fresh_start = fresh_start
        self.database: Database = open_database(config)
        self.reactor = reactor
        self.committer = BatchCommitter(
            reactor,
            max_records=config.batch_max_records,
            max_delay_s=config.batch_max_delay_ms / 1000.0,
            queue_limit=config.queue_limit_records,
        )
        self.registered: set[str] = set()
        """Registered IMEIs: read at start and every ``REGISTRY_REFRESH_S`` off the reactor; the pipeline
        adds the ones it registers itself."""
        self._registry_rows = -1
        self._registry: DatabaseWorker[Connection] | None = None
        self._refresh = LoopingCall(self.refresh_registry)
        self._refresh.clock = reactor

    def startService(self) -> None:
        if self.database.backend == "sqlite":
            private_directory(self.config.data_dir)
        store = Store(self.database)
        if self.fresh_start:
            store.mark_all_disconnected(self.reactor.seconds())
        self.registered.update(store.registered_imeis())
        self._registry = database_worker(self.reactor, self.database, "telediag-registry", readonly=True)
        self.committer.start(store)
        self._refresh.start(REGISTRY_REFRESH_S, now=False)
        Service.startService(self)

    def refresh_registry(self) -> defer.Deferred[None]:
        """Add the IMEIs registered since the last read; the list is read only when the registry's
        row count changed. A failed read is logged and the next one tries again."""
        if self._registry is None:
            return defer.succeed(None)
        reading = self._registry.run(_registry_if_changed, self._registry_rows)
        done = reading.addCallback(self._registry_read)
        done.addErrback(lambda failure: self.log.failure("reading the device registry failed", failure))
        return done

    def _registry_read(self, read: tuple[int, set[str]] | None) -> None:
        if read is not None:
            self._registry_rows, imeis = read
            self.registered.update(imeis)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Commit everything queued, then close the store."""
        Service.stopService(self)
        if self._refresh.running:
            self._refresh.stop()
        if self._registry is not None:
            yield self._registry.stop()
            self._registry = None
        yield self.committer.stop()
        self.log.info("store closed: {stored} records stored in {commits} commits",
                      stored=self.committer.records_stored, commits=self.committer.commits)


def _registry_if_changed(db: Connection, rows_known: int) -> tuple[int, set[str]] | None:
    """Worker thread: (row count, every IMEI) of the registry, or None when its count is ``rows_known``."""
    rows: int = db.execute("SELECT count(*) FROM devices").fetchone()[0]
    if rows == rows_known:
        return None
    return rows, {imei for (imei,) in db.execute("SELECT imei FROM devices")}
