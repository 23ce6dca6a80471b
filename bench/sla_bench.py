"""SLA due-time benchmark: how many due times per second the business calendar computes.

Prints due_times/s for random creation instants over 2026-2027 on the default (Moscow, RU holidays)
calendar, the same with the Warsaw calendar (DST), and one 10-year ``add``/``between`` pair, the
worst case the periodic sweep could meet.

    .venv/bin/python bench/sla_bench.py [--tickets 20000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telediag.config import SlaConfig, parse_section  # noqa: E402
from telediag.tickets.sla import due_times  # noqa: E402

START, END = 1767225600.0, 1830297600.0  # 2026-01-01 .. 2028-01-01 UTC


def rate(config: SlaConfig, tickets: int, rng: random.Random) -> float:
    """due_times calls per second over random creation instants and topics."""
    calendar = config.calendar()
    topics = sorted(config.topics)
    created = [(rng.uniform(START, END), rng.choice(topics)) for _ in range(tickets)]
    started = time.perf_counter()
    for at, topic in created:
        due_times(config, calendar, topic, at)
    return tickets / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"moscow  due_times/s: {rate(SlaConfig(), args.tickets, rng):,.0f}")
    warsaw = parse_section("sla", {"timezone": "Europe/Warsaw", "holidays_country": "PL"})
    print(f"warsaw  due_times/s: {rate(warsaw, args.tickets, rng):,.0f}")
    calendar = SlaConfig().calendar()
    started = time.perf_counter()
    due = calendar.add(START, 2500 * calendar.workday_seconds)
    calendar.between(START, due)
    print(f"10-year add+between: {(time.perf_counter() - started) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
