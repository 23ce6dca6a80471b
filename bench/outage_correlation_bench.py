"""Outage correlation: what one ticket run costs when nothing is failing, when an operator outage begins,
and the pure grouping on many onsets. Prints figures; not part of the tests.

Correlation runs on every ticket run (after each event-driven diagnostics run, even with no finding
changed), so the quiet case is the one that matters most: it reads the rejects since the lookback
(the ``connectivity_by_type`` index) and the correlated findings, and stops there below
``mass_outage_min_devices`` devices.

    .venv/bin/python bench/outage_correlation_bench.py                  # 20,000 devices, 1,000 rejected
    .venv/bin/python bench/outage_correlation_bench.py --devices 100000 --rejected 5000
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from protocols.record import iso_utc, parse_iso_utc
from telediag.config import SlaConfig, TicketsConfig
from telediag.diagnostics.connectivity_events import ConnectivityEvent
from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from telediag.store.connectivity import save_events
from telediag.store.sqlite import SQLiteDatabase
from telediag.tickets import outages
from telediag.tickets.desk import TicketDesk
from telediag.tickets.outages import Onset, Rules

NOW = parse_iso_utc("2026-11-16T07:00:00Z")


def cpu(work: object) -> float:
    start = time.process_time()
    work()  # type: ignore[operator]
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--rejected", type=int, default=1_000)
    args = parser.parse_args()
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as folder:
        database = SQLiteDatabase(Path(folder) / "telediag.sqlite3")
        db = database.connect()
        iccid = [f"8948{i:015d}" for i in range(args.devices)]
        save(db, [parse_entry({"imei": f"35{i:013d}", "protocol": "teltonika", "account": f"A{i % 200}",
                               "iccid": iccid[i], "apn": f"apn{i % 50}.example", "home_country": "PL",
                               "activated_at": iso_utc(NOW - 90 * 86400)}) for i in range(args.devices)],
             NOW - 30 * 86400, "import")
        # a day of healthy network life: one attach a device an hour for the last 12 hours
        save_events(db, [ConnectivityEvent(at=NOW - 12 * 3600 + h * 3600 + rng.uniform(0, 3600), type="attach",
                                           iccid=iccid[i], mcc=260, mnc=1 + i % 3)
                         for i in range(args.devices) for h in range(12)], NOW)
        desk = TicketDesk(SlaConfig(), TicketsConfig())
        quiet = min(cpu(lambda: desk.on_findings(db, [], NOW)) for _ in range(20))  # no reject, no finding
        print(f"{args.devices} devices, {12 * args.devices} events: a quiet ticket run costs {quiet * 1000:.2f} ms CPU")
        rejected = rng.sample(range(args.devices), args.rejected)
        save_events(db, [ConnectivityEvent(at=NOW + 60 + rng.uniform(0, 60), type="attach_reject", cause=17,
                                           iccid=iccid[i], mcc=260, mnc=3) for i in rejected], NOW + 120)
        first = cpu(lambda: desk.on_findings(db, [], NOW + 180))
        again = min(cpu(lambda: desk.on_findings(db, [], NOW + 240)) for _ in range(5))
        parents = db.execute("SELECT count(*) FROM tickets WHERE problem = 'MASS_OUTAGE'").fetchone()[0]
        children = db.execute("SELECT count(*) FROM tickets WHERE problem = 'NETWORK_REJECTED'").fetchone()[0]
        print(f"{args.rejected} devices rejected within a minute: {parents} parent(s), {children} children; "
              f"the run that opens them {first:.2f} s CPU, each later run {again * 1000:.1f} ms CPU")
        db.close()
    rules = Rules(10, 1800.0, 12 * 3600.0)
    onsets = [Onset(f"{i}", NOW - rng.uniform(0, 12 * 3600), "DEVICE_SILENT",
                    (("operator", f"2600{i % 7}"), ("apn", f"apn{i % 50}"), ("area", f"{i % 300}")))
              for i in range(10_000)]
    grouped = cpu(lambda: outages.outages(onsets, rules))
    print(f"grouping 10,000 onsets spread over 12 h under 357 keys: {grouped:.2f} s CPU")


if __name__ == "__main__":
    main()
