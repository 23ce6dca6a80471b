"""The data directory holds contacts, MSISDNs and every position: only the service's user may read it.

Modes are set explicitly, not left to the umask: the directory 0700, the database, its WAL and
shared-memory files and the key files 0600, also when an older version or a restore left them open.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
"""Files SQLite keeps beside the database; it creates them with the database file's own mode."""


def private_directory(path: Path) -> Path:
    """Create ``path`` (and parents) if needed and make it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIRECTORY_MODE)
    if stat.S_IMODE(path.stat().st_mode) != DIRECTORY_MODE:
        os.chmod(path, DIRECTORY_MODE)
    return path


def private_file(path: Path) -> None:
    """Create ``path`` empty if missing, and make it 0600 whatever the umask.

    An existing file is changed by name only, never opened: closing any descriptor of a database file
    would drop the POSIX locks SQLite holds on it in this process (SQLite's own warning), and another
    connection could then delete the WAL under a live writer.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) != FILE_MODE:
            os.chmod(path, FILE_MODE)
        return
    try:
        os.fchmod(descriptor, FILE_MODE)
    finally:
        os.close(descriptor)


def private_database(path: Path) -> None:
    """The database file (created if missing) and the companions that exist, all 0600, in a 0700 directory."""
    private_directory(path.parent)
    private_file(path)
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.chmod(companion, FILE_MODE)
