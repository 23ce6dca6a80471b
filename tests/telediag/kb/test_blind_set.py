"""The first blind set (``blind_tickets.jsonl``) was written after the matcher, the classifier and the
starter articles were settled and measured once (``bench/kb_bench.py --blind``); since then it is
tuning data. These tests keep its stated composition so the published figures stay comparable; they set
no quality floor."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

BLIND = Path(__file__).with_name("blind_tickets.jsonl")
STARTER = Path(__file__).resolve().parents[3] / "telediag" / "kb" / "starter" / "articles.jsonl"
CATEGORIES = {"how_to", "system_problem", "feature_inquiry"}


def blind() -> list[dict[str, Any]]:
    return [json.loads(line) for line in BLIND.read_text(encoding="utf-8").splitlines() if line.strip()]


def starter_groups() -> set[str]:
    """An article's group is its id without the language suffix, as tickets are labelled."""
    rows = [json.loads(line) for line in STARTER.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {row["id"].removesuffix("-" + row["language"]) for row in rows}


def test_every_ticket_has_the_labelled_fields() -> None:
    rows = blind()
    assert len(rows) == 48
    for row in rows:
        assert set(row) == {"text", "language", "category", "article", "split"}
        assert row["text"].strip() and row["split"] == "blind"
        assert row["category"] in CATEGORIES
        assert row["language"] in {"en", "pl", "ru", "sv"}
        assert row["article"] is None or row["category"] == "how_to"


def test_the_set_has_the_stated_composition() -> None:
    rows = blind()
    en_pl = [row for row in rows if row["language"] in ("en", "pl")]
    answered = collections.Counter(row["language"] for row in en_pl
                                   if row["category"] == "how_to" and row["article"] is not None)
    assert answered == {"en": 12, "pl": 12}
    assert sum(row["category"] == "how_to" and row["article"] is None for row in en_pl) == 4
    assert sum(row["category"] == "system_problem" for row in en_pl) == 8
    assert sum(row["category"] == "feature_inquiry" for row in en_pl) == 8
    assert sum(row["language"] in ("ru", "sv") for row in rows) == 4


def test_every_labelled_article_is_a_starter_article_and_each_is_asked_in_both_languages() -> None:
    groups = starter_groups()
    labelled = collections.Counter((row["article"], row["language"]) for row in blind() if row["article"])
    assert {article for article, _ in labelled} <= groups
    assert all(labelled[(group, language)] >= 1 for group in groups for language in ("en", "pl"))


def test_no_ticket_repeats_a_labelled_ticket_or_an_article_title() -> None:
    labelled = BLIND.with_name("labelled_tickets.jsonl").read_text(encoding="utf-8").splitlines()
    known = {json.loads(line)["text"].casefold() for line in labelled if line.strip()}
    titles = [json.loads(line)["title"].casefold()
              for line in STARTER.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in blind():
        text = row["text"].casefold()
        assert text not in known
        assert not any(title in text for title in titles)
