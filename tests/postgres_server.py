"""A throwaway PostgreSQL 15 for the tests: Debian's server binaries, a temporary folder, 127.0.0.1.

Use it from any test or fixture::

    from tests.postgres_server import fresh_database
    dsn = fresh_database()          # a new empty database on this process's server

or request the ``postgres_dsn`` fixture after a conftest imported it::

    from tests.postgres_server import postgres_dsn, postgres_server  # noqa: F401 (pytest fixtures)

The first call starts one server per test process (each pytest-xdist worker has its own): ``initdb``
into a temporary folder, then ``postgres`` listening on a free 127.0.0.1 port only (its unix socket
in the same folder), trust authentication for this local use, fsync off for speed. Under root (as in
CI) the folder belongs to Debian's ``postgres`` system user and the binaries run as that user
(``setpriv``), since PostgreSQL refuses to run as root; otherwise they run as the caller. The server
stops at the end of the session (``postgres_server`` fixture), at exit, and with the process that
started it (parent-death signal) if that one is killed. A fresh database is a ``CREATE DATABASE`` from
``template1``: empty, and the store's first connection runs the schema scripts (about 0.15 s more).
``fresh_database(migrated=True)`` copies a database migrated once per server instead (the first
connection has nothing to run). Both copy the template's files (``STRATEGY = FILE_COPY``: with fsync
off, about half the server's work of PostgreSQL 15's default, which writes every page of the copy
through the WAL). Without PostgreSQL 15 the helper fails, naming ``make servers``.

A stopped server's folder is removed by a detached ``rm``, and the folders of servers whose process
was killed by the next process that starts a server, in a background thread: a folder holds tens of
thousands of files (each database some 480), and deleting them is not worth holding up a test run.
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

BIN_DIR = Path(os.environ.get("TELEDIAG_PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVICE_USER = "postgres"
SUPERUSER = "postgres"
MIGRATED_TEMPLATE = "telediag_migrated"
FOLDER_PREFIX = "telediag-pg-"
OWNER_FILE = "owner.pid"
SWEEPING = "sweeping-"
"""Names a folder being removed: ``telediag-pg-sweeping-<pid of the remover>-<old name>``."""
START_TIMEOUT_S = 30.0
SETTINGS = {
    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
    "max_connections": "200", "shared_buffers": "64MB", "log_min_messages": "warning",
}


class PostgresMissing(RuntimeError):
    """Debian's PostgreSQL 15 is not installed."""


class PostgresServer:
    """One running server in its own temporary folder."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.settings = {**SETTINGS, **(settings or {})}
        for binary in ("initdb", "postgres"):
            if not (BIN_DIR / binary).is_file():
                raise PostgresMissing(
                    f"PostgreSQL 15 not found ({BIN_DIR / binary} is missing): run `make servers` "
                    "(installs Debian's postgresql-15)")
        _start_sweeping()
        self.folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
        (self.folder / OWNER_FILE).write_text(str(os.getpid()))
        self._as_user = self._user_prefix()
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        self._template = False
        self._init()
        self._start()

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        return self.folder / "postgres.log"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def fresh_database(self, migrated: bool = False) -> str:
        """A new database, empty or (``migrated``) with telediag's schema already in it; its dsn."""
        with self._lock:
            name = f"test_{os.getpid()}_{next(self._names)}"
            template = self._migrated_template() if migrated else "template1"
        with psycopg.connect(self.dsn(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY = FILE_COPY".encode())
        return self.dsn(name)

    def _migrated_template(self) -> str:
        """A database with the current schema, made once, that migrated databases are copies of."""
        if not self._template:
            from telediag.store.postgresql import PostgresDatabase

            with psycopg.connect(self.dsn(), autocommit=True) as admin:
                admin.execute(f"CREATE DATABASE {MIGRATED_TEMPLATE}".encode())
            PostgresDatabase(self.dsn(MIGRATED_TEMPLATE)).connect().close()
            self._template = True
        return MIGRATED_TEMPLATE

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then remove the folder in a detached ``rm -rf``: with every
        database of a test run in it, that takes seconds that a run need not wait for (an ``rm``
        that is killed leaves the rest to the next sweep)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        try:  # the shell puts ``rm`` in the background and returns: nothing is left to wait for
            subprocess.run(["sh", "-c", 'rm -rf -- "$1" &', "sh", str(self.folder)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                           check=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            shutil.rmtree(self.folder, ignore_errors=True)

    def _user_prefix(self) -> list[str]:
        """``setpriv`` to the ``postgres`` user under root (dying with this process), else the caller."""
        death = ["--pdeathsig", "TERM"]
        if os.geteuid() != 0:
            return ["setpriv", *death, "--"]
        try:
            user = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise PostgresMissing(f"no `{SERVICE_USER}` user to run PostgreSQL as: run `make servers`") from None
        os.chown(self.folder, user.pw_uid, user.pw_gid)
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", *death, "--"]

    def _init(self) -> None:
        result = subprocess.run(
            [*self._as_user, str(BIN_DIR / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "-A", "trust",
             "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"],
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed ({result.returncode}): {result.stderr.strip()}")

    def _start(self) -> None:
        for _ in range(3):  # a free port can be taken by someone else before the server binds it
            self.port = _free_port()
            options = [arg for name, value in self.settings.items() for arg in ("-c", f"{name}={value}")]
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [*self._as_user, str(BIN_DIR / "postgres"), "-D", str(self.data_dir), "-h", "127.0.0.1",
                     "-p", str(self.port), "-k", str(self.folder), *options],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            if self._wait_ready():
                return
        raise RuntimeError(f"PostgreSQL did not start; its log: {self.log_path.read_text(errors='replace')[-2000:]}")

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                psycopg.connect(self.dsn(), connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        self.process.kill()
        self.process.wait()
        return False


_server: PostgresServer | None = None
_server_lock = threading.Lock()
_sweep_lock = threading.Lock()


def server() -> PostgresServer:
    """This process's server, started on first use."""
    global _server
    with _server_lock:
        if _server is None:
            _server = PostgresServer()
            atexit.register(stop_server)
        return _server


def stop_server() -> None:
    """Stop this process's server if it runs (the next :func:`server` call starts a new one)."""
    global _server
    with _server_lock:
        running, _server = _server, None
    if running is not None:
        running.stop()


def fresh_database(migrated: bool = False) -> str:
    """A new database on this process's server, empty or (``migrated``) with telediag's schema; its dsn
    (``postgresql://...``)."""
    return server().fresh_database(migrated)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's server, stopped when the session ends."""
    yield server()
    stop_server()


@pytest.fixture()
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A new empty database for one test."""
    return postgres_server.fresh_database()


_sweeper: threading.Thread | None = None


def _start_sweeping() -> None:
    """Remove abandoned folders (:func:`_sweep_abandoned`) in a daemon thread, once per process."""
    global _sweeper
    with _sweep_lock:
        if _sweeper is None:
            _sweeper = threading.Thread(target=_sweep_abandoned, name="telediag-pg-sweeper", daemon=True)
            _sweeper.start()


def _sweep_abandoned() -> None:
    """Remove the folders of servers whose test process is gone without cleaning up (killed, or an
    xdist worker that ended without running its exit handlers; the server itself died with it).

    Each folder is first renamed to a name carrying this process's id: only one of the processes that
    start at once (xdist's workers) removes it, and one that dies half-way leaves it to a later sweep."""
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        if _owner_alive(folder):
            continue
        claimed = folder.with_name(f"{FOLDER_PREFIX}{SWEEPING}{os.getpid()}-{folder.name}")
        try:
            folder.rename(claimed)
        except OSError:  # another process claimed it first
            continue
        shutil.rmtree(claimed, ignore_errors=True)


def _owner_alive(folder: Path) -> bool:
    """Whether the process that owns ``folder`` (its server's, or its remover's) still runs; an
    unreadable owner counts as alive (a folder being set up, or not ours to judge)."""
    try:
        if folder.name.startswith(FOLDER_PREFIX + SWEEPING):
            owner = int(folder.name[len(FOLDER_PREFIX + SWEEPING):].split("-", 1)[0])
        else:
            owner = int((folder / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return True
    try:
        os.kill(owner, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
