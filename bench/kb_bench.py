"""Knowledge base: how well and how fast tickets are answered from articles.

Quality, on the labelled tickets (``tests/telediag/kb/labelled_tickets.jsonl``, held-out half unless
``--split``) against the starter articles: each ticket is classified and matched as a filed customer
ticket is (``telediag.kb.answers.confident``), then counted: how-to questions answered with the right
article (the target is at least 60%), how-to questions answered with a wrong one, and problem reports
and feature inquiries answered at all (the target for problem reports is 0). Russian and Swedish
how-to questions are counted apart (the labelled articles are English and Polish first).
With ``--blind`` the same counts are taken on ``tests/telediag/kb/blind_tickets.jsonl``: 48 tickets written
without looking at the code, measured once and then used for tuning. ``--blind2`` takes them on
``tests/telediag/kb/blind2_tickets.jsonl``: 60 tickets written after that tuning, the figures no tuning has seen.

Speed: the time to match one ticket (``telediag.kb.search.search``) with ``--articles`` articles in
the store (the starter set plus generated ones in English and Polish, 5,000 by default; the target is
under 50 ms per ticket).

    .venv/bin/python bench/kb_bench.py [--split held_out|tuning|all | --blind | --blind2] [--articles 5000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telediag.kb import repository as kb  # noqa: E402
from telediag.kb.answers import confident  # noqa: E402
from telediag.kb.articles import Article  # noqa: E402
from telediag.kb.cli import starter_path  # noqa: E402
from telediag.kb.search import search  # noqa: E402
from telediag.store.sqlite import SQLiteDatabase  # noqa: E402
from telediag.tickets.classifier.matcher import asks  # noqa: E402
from telediag.tickets.classify import classify  # noqa: E402

LABELLED = Path(__file__).resolve().parents[1] / "tests" / "telediag" / "kb" / "labelled_tickets.jsonl"
BLIND = LABELLED.with_name("blind_tickets.jsonl")
BLIND2 = LABELLED.with_name("blind2_tickets.jsonl")
"""60 tickets written after the matcher was tuned on the first blind set, by someone who read only the
articles' titles; measured once (``--blind2``)."""


def quality(db: object, split: str, path: Path = LABELLED) -> dict[str, object]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if split == "all" or r["split"] == split]
    counts = {"how_to_with_article": 0, "right": 0, "wrong_article": 0, "how_to_without_article": 0,
              "answered_without_article": 0, "problems": 0, "problems_answered": 0, "features": 0,
              "features_answered": 0, "how_to_ru_sv": 0, "ru_sv_right": 0, "category_right": 0, "tickets": len(rows)}
    misses = []
    for row in rows:
        kind = classify(row["text"])
        counts["category_right"] += kind.category == row["category"]
        language = kind.language or row["language"]
        sent = confident(search(db, row["text"], language), kind.category, asks(row["text"]))
        if row["category"] == "system_problem":
            counts["problems"] += 1
            counts["problems_answered"] += sent is not None
        elif row["category"] == "feature_inquiry":
            counts["features"] += 1
            counts["features_answered"] += sent is not None
        elif row["language"] not in ("en", "pl"):
            counts["how_to_ru_sv"] += 1
            counts["ru_sv_right"] += sent is not None and sent.group == row["article"]
        elif row["article"] is None:
            counts["how_to_without_article"] += 1
            counts["answered_without_article"] += sent is not None
        else:
            counts["how_to_with_article"] += 1
            if sent is not None and sent.group == row["article"]:
                counts["right"] += 1
            else:
                counts["wrong_article"] += sent is not None
                misses.append((row["text"][:70], row["article"], sent.id if sent else None))
    return {**counts, "misses": misses}


def generated(count: int, seed: int = 7) -> list[Article]:
    """``count`` articles in English and Polish made of the starter articles' words in new orders."""
    rng = random.Random(seed)
    starter = kb.read_jsonl(starter_path())
    vocabulary = {lang: [w for a in starter if a.language == lang for w in a.body.split()] for lang in ("en", "pl")}
    titles = {lang: [w for a in starter if a.language == lang for w in a.title.split()] for lang in ("en", "pl")}
    made = []
    for number in range(count):
        lang = "en" if number % 2 else "pl"
        body = " ".join(rng.choices(vocabulary[lang], k=rng.randint(120, 400)))
        title = " ".join(rng.choices(titles[lang], k=rng.randint(4, 9)))
        made.append(Article(f"generated-{number}-{lang}", lang, title, body, ("generated",), (), True,
                            f"generated-{number}"))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="held_out", choices=["held_out", "tuning", "all"])
    parser.add_argument("--blind", action="store_true",
                        help="measure quality on the first blind set (blind_tickets.jsonl, now tuning data)")
    parser.add_argument("--blind2", action="store_true",
                        help="measure quality on the fresh blind set (blind2_tickets.jsonl), measured once")
    parser.add_argument("--articles", type=int, default=5000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    db = SQLiteDatabase(folder / "telediag.sqlite3").connect()
    kb.save_articles(db, kb.read_jsonl(starter_path()), "bench", time.time())
    classify("warm up the language detector")
    blind = BLIND2 if args.blind2 else BLIND if args.blind else None
    found = quality(db, "all", blind) if blind is not None else quality(db, args.split)
    answerable = found["how_to_with_article"]
    where = f"the blind set {blind.name}" if blind is not None else f"the {args.split} half"
    print(f"quality on {where} ({found['tickets']} tickets), starter articles only:")
    print(f"  categories right: {found['category_right']}/{found['tickets']}")
    print(f"  how-to questions (en, pl) with an article, answered with the right one: {found['right']}/{answerable}"
          f" = {found['right'] / max(1, int(str(answerable))):.0%} (target >= 60%); with a wrong one: "
          f"{found['wrong_article']}")
    print(f"  how-to questions (en, pl) no article covers, answered anyway: {found['answered_without_article']}/"
          f"{found['how_to_without_article']}")
    print(f"  problem reports answered with an article: {found['problems_answered']}/{found['problems']} (target 0)")
    print(f"  feature inquiries answered with an article: {found['features_answered']}/{found['features']}")
    print(f"  how-to questions in ru, sv answered with the labelled article: {found['ru_sv_right']}/"
          f"{found['how_to_ru_sv']}")
    for miss in found["misses"]:  # type: ignore[attr-defined]
        print(f"    not answered right: {miss}")

    extra = max(0, args.articles - len(kb.read_jsonl(starter_path())))
    kb.save_articles(db, generated(extra), "bench", time.time())
    total = db.execute("SELECT count(*) FROM kb_articles").fetchone()[0]
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [(r["text"], r["language"]) for r in rows if r["language"] in ("en", "pl")]
    for text, language in texts[:5]:
        search(db, text, language)
    times = []
    for _ in range(5):
        for text, language in texts:
            started = time.perf_counter()
            search(db, text, language)
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print(f"speed with {total} articles (SQLite FTS5), {len(times)} matches: mean {statistics.mean(times):.2f} ms, "
          f"p95 {times[int(len(times) * 0.95)]:.2f} ms, max {times[-1]:.2f} ms (target < 50 ms)")


if __name__ == "__main__":
    main()
