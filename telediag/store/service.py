"""The store as a Twisted service: opened at start, written by one batch committer, closed at stop
after everything queued is committed.

The store opens in ``startService`` rather than when the service tree is built: twistd builds the
tree before it forks into the background, and a SQLite connection must never cross a fork.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger

from telediag.config import StoreConfig
from telediag.store.committer import BatchCommitter
from telediag.store.database import Database, open_database
from telediag.store.permissions import private_directory
from telediag.store.reader import Reader
from telediag.store.writer import Store


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
        """IMEIs registered when the store opened; the pipeline adds the ones it registers later."""
        self._reader: Reader | None = None

    def startService(self) -> None:
        if self.database.backend == "sqlite":
            private_directory(self.config.data_dir)
        store = Store(self.database)
        if self.fresh_start:
            store.mark_all_disconnected(self.reactor.seconds())
        self.registered.update(store.registered_imeis())
        self._reader = Reader(self.database)
        self.committer.start(store)
        Service.startService(self)

    def is_registered(self, imei: str) -> bool:
        """Whether the registry has ``imei`` now (the CLI or the API may have added it since start).

        One indexed lookup on the reactor thread, asked only for an IMEI the pipeline does not know yet.
        """
        if self._reader is None:
            return False
        query = "SELECT 1 FROM devices WHERE imei = ?"
        return self._reader.connection.execute(query, (imei,)).fetchone() is not None

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Commit everything queued, then close the store."""
        Service.stopService(self)
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        yield self.committer.stop()
        self.log.info("store closed: {stored} records stored in {commits} commits",
                      stored=self.committer.records_stored, commits=self.committer.commits)
