"""The registered tracker's store that the engine tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from telediag.store.writer import Store
from tests.stores import database_at
from tests.telediag.diagnostics.test_engine import IMEI, START


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(database_at(tmp_path / "telediag.sqlite3"))
    save(store._db, [parse_entry({
        "imei": IMEI, "protocol": "teltonika", "account": "Acme", "iccid": "8948000000000000001",
        "apn": "fleet.example", "roaming": "true", "coverage": "domestic", "home_country": "PL",
        "activated_at": "2026-01-01T00:00:00Z", "report_interval_s": "60",
    })], START, "import")
    yield store
    store.close()
