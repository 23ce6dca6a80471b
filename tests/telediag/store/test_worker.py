"""The database worker: jobs in order on one thread with one lazily opened connection, errors in the
Deferred, and a stop that waits for the work, closes the connection on its thread and never blocks
the reactor."""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from telediag.store.worker import DatabaseWorker, WorkerStopped, database_worker
from tests.stores import database_at


class Recorded:
    """A stand-in connection that notes which thread opened and closed it."""

    def __init__(self) -> None:
        self.opened_on = threading.get_ident()
        self.closed_on: int | None = None

    def close(self) -> None:
        self.closed_on = threading.get_ident()


class WorkerTests(unittest.TestCase):
    timeout = 10

    def worker(self) -> tuple[DatabaseWorker[Recorded], list[Recorded]]:
        opened: list[Recorded] = []

        def open_connection() -> Recorded:
            opened.append(Recorded())
            return opened[-1]

        worker = DatabaseWorker(reactor, open_connection, "telediag-test-worker")
        self.addCleanup(worker.stop)
        return worker, opened

    @defer.inlineCallbacks
    def test_jobs_run_in_submission_order_on_one_thread_with_one_connection(self) -> Any:
        worker, opened = self.worker()
        self.assertEqual(opened, [])  # nothing opens before the first job
        seen: list[tuple[int, int, Recorded]] = []
        jobs = [worker.run(lambda db, n: seen.append((n, threading.get_ident(), db)) or n, n) for n in range(50)]
        results = yield defer.gatherResults(jobs)
        self.assertEqual(results, list(range(50)))
        self.assertEqual([n for n, _, _ in seen], list(range(50)))
        self.assertEqual(len(opened), 1)
        self.assertEqual({thread for _, thread, _ in seen}, {opened[0].opened_on})
        self.assertNotEqual(opened[0].opened_on, threading.get_ident())  # never the reactor thread
        self.assertEqual({id(db) for _, _, db in seen}, {id(opened[0])})
        self.assertEqual(worker.in_flight, 0)

    @defer.inlineCallbacks
    def test_an_error_reaches_the_deferred_and_later_jobs_still_run(self) -> Any:
        worker, _ = self.worker()

        def broken(db: Recorded) -> None:
            raise ValueError("no such table: nowhere")

        failing = worker.run(broken)
        after = worker.run(lambda db: "after")
        with self.assertRaises(ValueError):
            yield failing
        self.assertEqual((yield after), "after")

    @defer.inlineCallbacks
    def test_a_connection_that_fails_to_open_fails_the_job_and_is_tried_again(self) -> Any:
        attempts: list[int] = []

        def open_connection() -> Recorded:
            attempts.append(1)
            if len(attempts) == 1:
                raise OSError("store unavailable")
            return Recorded()

        worker = DatabaseWorker(reactor, open_connection, "telediag-test-worker")
        self.addCleanup(worker.stop)
        with self.assertRaises(OSError):
            yield worker.run(lambda db: None)
        self.assertEqual((yield worker.run(lambda db: "open now")), "open now")

    @defer.inlineCallbacks
    def test_stop_waits_for_work_in_flight_then_closes_the_connection_on_its_thread(self) -> Any:
        worker, opened = self.worker()
        release = threading.Event()
        running = worker.run(lambda db: release.wait(5) and "finished")
        follow_up: list[str] = []
        running.addCallback(lambda _: worker.run(lambda db: follow_up.append("follow-up")))
        stopping = worker.stop()
        yield deferLater(reactor, 0.05, lambda: None)
        self.assertFalse(stopping.called)
        self.assertIsNone(opened[0].closed_on)
        release.set()
        yield stopping
        self.assertTrue(running.called)
        self.assertEqual(follow_up, ["follow-up"])  # work its callbacks submitted ran before the close
        self.assertEqual(opened[0].closed_on, opened[0].opened_on)
        with self.assertRaises(WorkerStopped):
            yield worker.run(lambda db: None)
        yield worker.stop()  # stopping again is harmless

    @defer.inlineCallbacks
    def test_stop_does_not_block_the_reactor(self) -> Any:
        worker, _ = self.worker()
        release = threading.Event()
        worker.run(lambda db: release.wait(5))
        joined_on: list[int] = []
        real_stop = worker._pool.stop

        def stop_pool() -> None:
            joined_on.append(threading.get_ident())
            real_stop()

        worker._pool.stop = stop_pool  # type: ignore[method-assign]
        stopping = worker.stop()
        ticks = []
        for _ in range(3):  # the reactor keeps running timers while the stop waits
            yield deferLater(reactor, 0.01, lambda: ticks.append(1))
        self.assertEqual(len(ticks), 3)
        reactor.callLater(0.01, release.set)
        yield stopping
        self.assertEqual(len(joined_on), 1)
        self.assertNotEqual(joined_on[0], threading.get_ident())  # the thread is joined off the reactor

    @defer.inlineCallbacks
    def test_a_worker_never_used_stops_at_once(self) -> Any:
        worker, opened = self.worker()
        yield worker.stop()
        self.assertEqual(opened, [])

    @defer.inlineCallbacks
    def test_a_database_worker_reads_and_writes_the_store(self) -> Any:
        folder = Path(tempfile.mkdtemp(prefix="telediag-worker-"))
        self.addCleanup(shutil.rmtree, folder, True)
        database = database_at(folder / "telediag.sqlite3")
        writer = database_worker(reactor, database, "telediag-test-writer")
        self.addCleanup(writer.stop)
        yield writer.run(lambda db: db.execute("INSERT INTO accounts (name) VALUES (?)", ("ACME",)))
        reader = database_worker(reactor, database, "telediag-test-reader", readonly=True)
        self.addCleanup(reader.stop)
        names = yield reader.run(lambda db: [row[0] for row in db.execute("SELECT name FROM accounts")])
        self.assertEqual(names, ["ACME"])
        yield writer.stop()
        yield reader.stop()
