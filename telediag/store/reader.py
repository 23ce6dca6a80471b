"""Read side of the store for the CLI, the API and the console."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from telediag.store.database import Connection, Database
from telediag.store.rows import ROW_COLUMNS, normalised_records


class Reader:
    """Read side of the store for the CLI and the API."""

    def __init__(self, database: Database) -> None:
        self._db = database.connect(readonly=True)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @property
    def connection(self) -> Connection:
        """The read-only connection, for read helpers of other rooms (registry, diagnostics)."""
        return self._db

    def records(
        self, imei: str, since: float | None = None, until: float | None = None
    ) -> Iterable[dict[str, Any]]:
        """Normalised records of one device, oldest fix first, within ``[since, until)``."""
        query = f"SELECT {', '.join(ROW_COLUMNS)} FROM records WHERE imei = ?"
        params: list[Any] = [imei]
        if since is not None:
            query += " AND coalesce(fix_time, server_time) >= ?"
            params.append(since)
        if until is not None:
            query += " AND coalesce(fix_time, server_time) < ?"
            params.append(until)
        query += " ORDER BY coalesce(fix_time, server_time), id"
        return normalised_records(self._db.execute(query, params), ROW_COLUMNS)

    def device_state(self, imei: str) -> dict[str, Any] | None:
        """The persisted state of one device, or None if it was never seen."""
        cursor = self._db.execute("SELECT * FROM device_state WHERE imei = ?", (imei,))
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip((d[0] for d in cursor.description), row, strict=True))

    def count_records(self, imei: str | None = None) -> int:
        """How many records are stored (for one device, or in all)."""
        if imei is None:
            count: int = self._db.execute("SELECT count(*) FROM records").fetchone()[0]
        else:
            count = self._db.execute("SELECT count(*) FROM records WHERE imei = ?", (imei,)).fetchone()[0]
        return count
