"""Sessions at the module level, with time from a twisted Clock: idle and absolute expiry, sign-out, purge."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from twisted.internet.task import Clock
from twisted.web.test.requesthelper import DummyRequest

from telediag.api.auth import Principal
from telediag.web.auth import principal_of, remember
from telediag.web.sessions import end_session, purge_expired, resume_session, start_session
from telediag.web.users import create_user
from tests.stores import database_at

IDLE, MAX = 1800.0, 43200.0


@pytest.fixture()
def db(tmp_path: Path) -> sqlite3.Connection:
    connection = database_at(tmp_path / "telediag.sqlite3").connect()
    create_user(connection, "tech", "technical", None, "a long enough password", 0.0)
    yield connection
    connection.close()


def test_only_the_hash_is_stored_and_each_session_has_its_own_csrf(db: sqlite3.Connection) -> None:
    first, second = start_session(db, 1, 0.0), start_session(db, 1, 0.0)
    rows = db.execute("SELECT token_hash, csrf_token FROM web_sessions ORDER BY id").fetchall()
    assert [bytes(r[0]) for r in rows] == [hashlib.sha256(t.encode()).digest() for t in (first, second)]
    assert rows[0][1] != rows[1][1] and len(rows[0][1]) >= 43
    session = resume_session(db, first, 1.0, IDLE, MAX)
    assert session is not None and session.principal == Principal("technical", None)
    assert session.csrf_matches(rows[0][1]) and not session.csrf_matches(rows[1][1])
    assert not session.csrf_matches(None) and not session.csrf_matches("")
    assert resume_session(db, first + "x", 1.0, IDLE, MAX) is None
    assert resume_session(db, "", 1.0, IDLE, MAX) is None


def test_idle_timeout_counts_from_the_last_use(db: sqlite3.Connection) -> None:
    clock = Clock()
    token = start_session(db, 1, clock.seconds())
    for _ in range(5):  # used every 25 minutes: stays alive well past one idle period
        clock.advance(IDLE - 300)
        assert resume_session(db, token, clock.seconds(), IDLE, MAX) is not None
    clock.advance(IDLE)
    assert resume_session(db, token, clock.seconds(), IDLE, MAX) is None
    assert db.execute("SELECT count(*) FROM web_sessions").fetchone()[0] == 0  # gone, not just refused


def test_absolute_lifetime_ends_even_a_busy_session(db: sqlite3.Connection) -> None:
    clock = Clock()
    token = start_session(db, 1, clock.seconds())
    while clock.seconds() + 600 < MAX:
        clock.advance(600)
        assert resume_session(db, token, clock.seconds(), IDLE, MAX) is not None
    clock.advance(600)
    assert resume_session(db, token, clock.seconds(), IDLE, MAX) is None


def test_sign_out_and_purge(db: sqlite3.Connection) -> None:
    token = start_session(db, 1, 0.0)
    session = resume_session(db, token, 1.0, IDLE, MAX)
    assert session is not None
    end_session(db, session.id)
    assert resume_session(db, token, 2.0, IDLE, MAX) is None
    start_session(db, 1, 0.0)
    live = start_session(db, 1, IDLE)
    assert purge_expired(db, IDLE + 1, IDLE, MAX) == 1
    assert resume_session(db, live, IDLE + 2, IDLE, MAX) is not None


def test_principal_of_a_request(db: sqlite3.Connection) -> None:
    request = DummyRequest([b""])
    assert principal_of(request) is None
    session = resume_session(db, start_session(db, 1, 0.0), 1.0, IDLE, MAX)
    remember(request, session)
    assert principal_of(request) == Principal("technical", None)
    remember(request, None)
    assert principal_of(request) is None
