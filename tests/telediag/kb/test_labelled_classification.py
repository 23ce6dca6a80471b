"""Classification on the labelled tickets (how-to questions, feature inquiries and problem reports in
Polish, Russian, Swedish and English, written for this purpose): the held-out half, never used to tune
the keyword tables, must be classified at least 90% right. ``bench/kb_bench.py`` prints the figures."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest

from telediag.tickets.classifier.matcher import match_text

LABELLED = Path(__file__).with_name("labelled_tickets.jsonl")
FLOOR = 0.9


def labelled(split: str | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row for row in rows if split in (None, row["split"])]


def test_the_set_has_a_hundred_tickets_in_every_language_and_category_split_in_halves() -> None:
    rows = labelled()
    assert len(rows) >= 100
    mix = collections.Counter((row["language"], row["category"]) for row in rows)
    assert all(mix[(language, category)] >= 3 for language in ("en", "pl", "ru", "sv")
               for category in ("how_to", "feature_inquiry", "system_problem"))
    halves = collections.Counter(row["split"] for row in rows)
    assert set(halves) == {"tuning", "held_out"} and abs(halves["tuning"] - halves["held_out"]) <= 5


@pytest.mark.parametrize("split", ["tuning", "held_out"])
def test_categories_are_right_at_least_nine_times_in_ten(split: str) -> None:
    rows = labelled(split)
    wrong = [(row["text"], row["category"], match_text(row["text"]).category) for row in rows
             if match_text(row["text"]).category != row["category"]]
    assert 1 - len(wrong) / len(rows) >= FLOOR, wrong
