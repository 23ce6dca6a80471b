"""The second blind set (``blind2_tickets.jsonl``) was written without reading the matcher, the classifier,
the labelled sets or the article bodies, so it measures how the knowledge base meets tickets nobody tuned
for. These tests keep its stated composition so figures measured on it stay comparable; they set no
quality floor."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
BLIND2 = HERE / "blind2_tickets.jsonl"
STARTER = Path(__file__).resolve().parents[3] / "telediag" / "kb" / "starter" / "articles.jsonl"
CATEGORIES = {"how_to", "system_problem", "feature_inquiry"}


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def blind2() -> list[dict[str, Any]]:
    return rows_of(BLIND2)


def starter_ids() -> set[tuple[str, str]]:
    """(group, language) of every starter article; a ticket is labelled with the group, the id without
    its language suffix."""
    return {(row["id"].removesuffix("-" + row["language"]), row["language"]) for row in rows_of(STARTER)}


def test_every_ticket_has_the_labelled_fields() -> None:
    rows = blind2()
    assert len(rows) == 60
    for row in rows:
        assert set(row) == {"text", "language", "category", "article", "split"}
        assert isinstance(row["text"], str) and row["text"].strip()
        assert row["split"] == "blind2"
        assert row["category"] in CATEGORIES
        assert row["language"] in {"en", "pl", "ru", "sv"}
        assert row["article"] is None or row["category"] == "how_to"


def test_the_set_has_the_stated_composition() -> None:
    rows = blind2()
    en_pl = [row for row in rows if row["language"] in ("en", "pl")]
    answered = collections.Counter(row["language"] for row in en_pl
                                   if row["category"] == "how_to" and row["article"] is not None)
    assert answered == {"en": 14, "pl": 14}
    assert sum(row["category"] == "how_to" and row["article"] is None for row in en_pl) == 4
    assert sum(row["category"] == "system_problem" for row in en_pl) == 10
    assert sum(row["category"] == "feature_inquiry" for row in en_pl) == 10
    assert sum(row["language"] in ("ru", "sv") for row in rows) == 8


def test_every_labelled_article_exists_in_the_ticket_language_and_each_is_asked_in_en_and_pl() -> None:
    existing = starter_ids()
    labelled = collections.Counter((row["article"], row["language"]) for row in blind2() if row["article"])
    assert set(labelled) <= existing
    groups = {group for group, _ in existing}
    assert all(labelled[(group, language)] >= 1 for group in groups for language in ("en", "pl"))


def test_no_ticket_repeats_another_set_or_contains_an_article_title() -> None:
    known: set[str] = set()
    for name in ("labelled_tickets.jsonl", "blind_tickets.jsonl"):
        if (HERE / name).exists():
            known |= {row["text"].casefold() for row in rows_of(HERE / name)}
    titles = [row["title"].casefold() for row in rows_of(STARTER)]
    texts = [row["text"].casefold() for row in blind2()]
    assert len(set(texts)) == len(texts)
    for text in texts:
        assert text not in known
        assert not any(title in text for title in titles)
