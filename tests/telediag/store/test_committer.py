"""The batch committer's listeners: what is about to be committed is told before the rows are in the
store, what was committed after."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.trial import unittest

from protocols.record import Record
from telediag.store.committer import BatchCommitter
from telediag.store.writer import Change, RecordBatch, Store
from tests.stores import database_at

IMEI = "356307042441013"
AT = 1_790_000_000.0


class CommitterListenerTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_flush_listeners_hear_a_batch_before_its_rows_are_stored_commit_listeners_after(self) -> Any:
        data_dir = Path(tempfile.mkdtemp(prefix="telediag-committer-"))
        self.addCleanup(shutil.rmtree, data_dir, True)
        store = Store(database_at(data_dir / "telediag.sqlite3"))
        reader = database_at(data_dir / "telediag.sqlite3").connect(readonly=True)
        self.addCleanup(reader.close)
        committer = BatchCommitter(reactor)
        committer.start(store)
        heard: list[tuple[str, int, int]] = []

        def stored() -> int:
            return int(reader.execute("SELECT count(*) FROM records").fetchone()[0])

        def flushing(changes: list[Change]) -> None:
            heard.append(("flush", len(changes), stored()))

        def committed(changes: list[Change], inserted: int) -> None:
            heard.append(("commit", inserted, stored()))

        committer.add_flush_listener(flushing)
        committer.add_listener(committed)
        record = Record(imei=IMEI, protocol="teltonika", fix_time=AT, valid=True, lat=52.23, lon=21.01)
        yield committer.submit(RecordBatch(IMEI, "teltonika", [record], AT + 1))
        yield committer.stop()
        self.assertEqual(heard[:2], [("flush", 1, 0), ("commit", 1, 1)])
