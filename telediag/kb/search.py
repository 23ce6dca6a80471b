"""Find the articles that answer a ticket: the database's full-text index picks candidates, one scoring
rule (BM25 over weighted fields, in Python) ranks them the same on every backend.

SQLite finds candidates with FTS5 and counts term frequencies in its ``fts5vocab`` table; PostgreSQL
with a GIN index over ``to_tsvector('simple', ...)`` of the same stemmed terms. Both index terms that
:mod:`telediag.kb.text` stemmed, so both find the same candidates; the final score is computed here
from the candidates' stored terms, so a confidence threshold means the same on either.

The score is a confidence in [0, 1]: the share of the ticket's informative terms (each weighted by
how rare it is among articles, IDF) that the article holds, saturating with repeats (BM25's k1) and
weighted by where it holds them (title and tags, ticket texts staff answered with it, body), with
the terms no article holds counting at :data:`UNKNOWN_SHARE` against it; an
article whose finding codes the ticket's devices show gets :data:`FINDING_BOOST` on top.

Words of one synonym group (:mod:`telediag.kb.lexicon`) count as one term on both sides. A ticket that
names a tracker family (Teltonika, Concox, Queclink, ...) is never matched with another family's
article (one whose title or tags name only other families), and that family's articles get
:data:`FAMILY_BOOST`.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from telediag.kb.text import terms
from telediag.kb.vocabulary import canonical, families, variants
from telediag.store.database import Connection

MAX_CANDIDATES = 40
"""Articles the full-text index hands to the scoring rule."""
ASKED_TERMS = 8
"""The rarest terms of a ticket the index is asked with: a common term finds half the articles and adds
little to any score, but ranking every article it finds would cost more than the rest of the match."""
RANKED_BUDGET = 1500
"""About how many articles the index may rank for one ticket: rarer terms are asked first, and a term
that would push the count past this stays out of the question (it still counts in the score)."""
FIELD_WEIGHTS = {"title_terms": 3.0, "body_terms": 1.0, "learned_terms": 2.0}
K1 = 1.2
B = 0.3
AVERAGE_TERMS = 250.0
"""The weighted length of a typical article (a fixed value: no scan of every article per ticket)."""
FINDING_BOOST = 0.5
"""Added to the confidence of an article that explains a finding the ticket's devices show."""
FAMILY_BOOST = 0.2
UNKNOWN_SHARE = 0.5
"""A ticket term no article holds counts against every article as this share of a typical known term:
a question mostly about something no article mentions is answered with less confidence."""
"""Added to the confidence of an article about the tracker family the ticket names."""
_PG_VECTOR = "to_tsvector('simple'::regconfig, title_terms || ' ' || body_terms || ' ' || learned_terms)"
"""Exactly the expression of the PostgreSQL index ``kb_articles_search``."""


@dataclass(frozen=True)
class Match:
    """One article found for a text, with its confidence and what decided it."""

    id: str
    group: str
    title: str
    score: float
    matched: tuple[str, ...]
    """The ticket's terms the article holds."""
    findings: tuple[str, ...]
    """The ticket's finding codes the article explains."""


def _is_sqlite(db: Connection) -> bool:
    return isinstance(db, sqlite3.Connection)


def _candidates(db: Connection, wanted: Sequence[str], language: str) -> list[int]:
    if not wanted:
        return []
    if _is_sqlite(db):
        query = " OR ".join('"' + term.replace('"', '""') + '"' for term in wanted)
        rows = db.execute(
            "SELECT a.key FROM kb_search JOIN kb_articles a ON a.key = kb_search.rowid "
            "WHERE kb_search MATCH ? AND a.language = ? AND a.published = 1 "
            "ORDER BY bm25(kb_search, 3.0, 1.0, 2.0) LIMIT ?", (query, language, MAX_CANDIDATES))
    else:
        query = " | ".join("'" + term.replace("'", "''").replace("\\", "") + "'" for term in wanted)
        rows = db.execute(
            f"SELECT key FROM kb_articles WHERE language = ? AND published = 1 "
            f"AND {_PG_VECTOR} @@ to_tsquery('simple'::regconfig, ?) "
            f"ORDER BY ts_rank({_PG_VECTOR}, to_tsquery('simple'::regconfig, ?)) DESC, key LIMIT ?",
            (language, query, query, MAX_CANDIDATES))
    return [int(r[0]) for r in rows]


def _by_findings(db: Connection, codes: Sequence[str], language: str) -> list[int]:
    keys: list[int] = []
    for code in codes:
        keys += [int(r[0]) for r in db.execute(
            "SELECT key FROM kb_articles WHERE language = ? AND published = 1 AND finding_codes LIKE ?",
            (language, f'%"{code}"%'))]
    return keys


def _document_counts(db: Connection, wanted: Sequence[str]) -> tuple[int, dict[str, int]]:
    """The number of articles and, per term, how many hold it (every language: stems rarely collide)."""
    total = int(db.execute("SELECT count(*) FROM kb_articles").fetchone()[0])
    if not wanted:
        return total, {}
    marks = ", ".join("?" * len(wanted))
    if _is_sqlite(db):
        rows = db.execute(f"SELECT term, doc FROM kb_search_terms WHERE term IN ({marks})", tuple(wanted))
        return total, {term: int(doc) for term, doc in rows}
    counts = {}
    for term in wanted:  # one index lookup each
        query = "'" + term.replace("'", "''").replace("\\", "") + "'"
        counts[term] = int(db.execute(
            f"SELECT count(*) FROM kb_articles WHERE {_PG_VECTOR} @@ to_tsquery('simple'::regconfig, ?)",
            (query,)).fetchone()[0])
    return total, counts


def idf(total: int, holding: int) -> float:
    """BM25's inverse document frequency (never negative)."""
    return math.log(1.0 + (total - holding + 0.5) / (holding + 0.5))


def _families_of(title: str, tags: str) -> frozenset[str]:
    return families(" ".join((title, *orjson.loads(tags))))


def search(
    db: Connection, text: str, language: str, finding_codes: Sequence[str] = (), limit: int = 5,
) -> list[Match]:
    """The published articles in ``language`` that best answer ``text``, best first (at most ``limit``)."""
    same = canonical(language)
    alternatives = variants(language)
    wanted = list(dict.fromkeys(same.get(term, term) for term in terms(text, language)))
    codes = list(dict.fromkeys(c.upper() for c in finding_codes))
    total, stems_holding = _document_counts(db, [v for term in wanted for v in alternatives.get(term, (term,))])
    holding = {term: min(total, sum(stems_holding.get(v, 0) for v in alternatives.get(term, (term,))))
               for term in wanted}
    weights = {term: idf(total, holding[term]) for term in wanted if holding[term] > 0}
    asked: list[str] = []
    found_by = 0
    for term in sorted(weights, key=lambda term: (holding[term], term))[:ASKED_TERMS]:
        if len(asked) >= 2 and found_by + holding[term] > RANKED_BUDGET:
            break
        asked.append(term)
        found_by += holding[term]
    asked_stems = [v for term in asked for v in alternatives.get(term, (term,))]
    keys = list(dict.fromkeys(_candidates(db, asked_stems, language) + _by_findings(db, codes, language)))
    if not keys:
        return []
    named = families(text)
    unknown = sum(1 for term in wanted if holding[term] == 0)
    typical = sum(weights.values()) / len(weights) if weights else 0.0
    best = (sum(weights.values()) + UNKNOWN_SHARE * typical * unknown) * (K1 + 1.0)
    marks = ", ".join("?" * len(keys))
    rows = db.execute(
        f"SELECT id, group_id, title, tags, finding_codes, {', '.join(FIELD_WEIGHTS)} FROM kb_articles "
        f"WHERE key IN ({marks})", tuple(keys)).fetchall()
    found: list[Match] = []
    for article_id, group, title, tags, article_codes, *fields in rows:
        about = _families_of(title, tags) if named else frozenset()
        if about and not about & named:
            continue
        counts: dict[str, float] = {}
        length = 0.0
        for weight, field in zip(FIELD_WEIGHTS.values(), fields, strict=True):
            field_terms = field.split()
            length += weight * len(field_terms)
            for stem in field_terms:
                term = same.get(stem, stem)
                if term in weights:
                    counts[term] = counts.get(term, 0.0) + weight
        norm = K1 * (1.0 - B + B * length / AVERAGE_TERMS)
        raw = sum(weights[t] * tf * (K1 + 1.0) / (tf + norm) for t, tf in counts.items())
        explains = tuple(c for c in codes if c in orjson.loads(article_codes))
        score = ((raw / best if best else 0.0) + (FINDING_BOOST if explains else 0.0)
                 + (FAMILY_BOOST if about & named else 0.0))
        found.append(Match(article_id, group, title, round(min(score, 1.0), 4),
                           tuple(t for t in wanted if t in counts), explains))
    found.sort(key=lambda m: (-m.score, m.id))
    return found[:limit]
