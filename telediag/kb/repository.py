"""Articles in the store: save (all or nothing), read, list; the links staff make between a ticket and an
article. No rules here beyond storage and the uniqueness of one language per article group.

Saving stems the article once (:mod:`telediag.kb.text`) into the columns the full-text index covers,
so a search never stems stored text again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from protocols.record import iso_utc
from telediag.kb.articles import Article, InvalidArticle, parse_article
from telediag.kb.text import joined
from telediag.problems import FileRejected
from telediag.store.database import Connection, transaction

MAX_IMPORT_BYTES = 64 * 1024 * 1024
"""A JSON-lines file larger than this is refused before it is read (5,000 articles take about 20 MB)."""
MAX_LEARNED_LINKS = 50
"""Ticket texts (the newest) whose terms an article is also found by."""
COLUMNS = ("id", "group_id", "language", "title", "body", "tags", "finding_codes", "published", "needs_review",
           "review_note", "created_at", "updated_at", "updated_by")


def title_terms(article: Article) -> str:
    """The terms of the title and tags (searched with more weight than the body)."""
    return joined(" ".join((article.title, *article.tags)), article.language)


def read_jsonl(path: Path) -> list[Article]:
    """The articles of a JSON-lines file, one per line; FileRejected naming the line of every problem."""
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise FileRejected([f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB; split it"])
    problems: list[str] = []
    articles: list[Article] = []
    seen: dict[str, int] = {}
    groups: dict[tuple[str, str], tuple[int, str]] = {}
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                article = parse_article(orjson.loads(raw))
            except orjson.JSONDecodeError as error:
                problems.append(f"line {number}: not JSON ({error})")
                continue
            except InvalidArticle as error:
                problems += [f"line {number}: {problem}" for problem in error.problems]
                continue
            if article.id in seen:
                problems.append(f"line {number}: article {article.id} is also on line {seen[article.id]}")
                continue
            seen[article.id] = number
            other = groups.setdefault((article.group, article.language), (number, article.id))
            if other[1] != article.id:
                problems.append(f"line {number}: article {article.id} is a second {article.language} version of "
                                f"group {article.group} (line {other[0]}: {other[1]})")
            articles.append(article)
    if not articles and not problems:
        problems.append("the file has no articles")
    if problems:
        raise FileRejected(problems)
    return articles


def group_conflicts(db: Connection, articles: Sequence[Article]) -> list[str]:
    """Articles that would be a second version in one language of a group (stored, or earlier in
    ``articles``) under another id."""
    problems = []
    batch: dict[tuple[str, str], str] = {}
    for article in articles:
        other = batch.setdefault((article.group, article.language), article.id)
        row = db.execute("SELECT id FROM kb_articles WHERE group_id = ? AND language = ? AND id <> ?",
                         (article.group, article.language, article.id)).fetchone()
        if other == article.id and row is not None and row[0] not in {a.id for a in articles}:
            other = str(row[0])
        if other != article.id:
            problems.append(f"article {article.id}: group {article.group} already has a version in "
                            f"{article.language}, {other}; give another group or edit {other}")
    return problems


def save_articles(db: Connection, articles: Sequence[Article], by: str, now: float) -> dict[str, int]:
    """Insert or update ``articles`` in one transaction (all or none); InvalidArticle on a group conflict.

    Updating an article keeps what it learned from the desk and clears its review flag.
    """
    added = updated = 0
    with transaction(db):
        problems = group_conflicts(db, articles)
        if problems:
            raise InvalidArticle(problems)
        for article in articles:
            exists = db.execute("SELECT 1 FROM kb_articles WHERE id = ?", (article.id,)).fetchone() is not None
            db.execute(
                "INSERT INTO kb_articles (id, group_id, language, title, body, tags, finding_codes, published, "
                "title_terms, body_terms, created_at, updated_at, updated_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "group_id = excluded.group_id, language = excluded.language, title = excluded.title, "
                "body = excluded.body, tags = excluded.tags, finding_codes = excluded.finding_codes, "
                "published = excluded.published, title_terms = excluded.title_terms, "
                "body_terms = excluded.body_terms, needs_review = 0, review_note = NULL, "
                "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                (article.id, article.group, article.language, article.title, article.body,
                 orjson.dumps(list(article.tags)).decode(), orjson.dumps(list(article.finding_codes)).decode(),
                 int(article.published), title_terms(article), joined(article.body, article.language),
                 now, now, by),
            )
            if exists:
                updated += 1
            else:
                added += 1
    return {"articles": len(articles), "added": added, "updated": updated}


def _document(row: Sequence[Any]) -> dict[str, Any]:
    values = dict(zip(COLUMNS, row, strict=True))
    return {
        "id": values["id"], "group": values["group_id"], "language": values["language"], "title": values["title"],
        "body": values["body"], "tags": orjson.loads(values["tags"]),
        "finding_codes": orjson.loads(values["finding_codes"]), "published": bool(values["published"]),
        "needs_review": bool(values["needs_review"]), "review_note": values["review_note"],
        "created_at": iso_utc(values["created_at"]), "updated_at": iso_utc(values["updated_at"]),
        "updated_by": values["updated_by"],
    }


_SELECT = f"SELECT {', '.join(COLUMNS)} FROM kb_articles"


def get_article(db: Connection, article_id: str) -> dict[str, Any] | None:
    """One article as the API shows it (with ``group``, review flag and times), or None."""
    row = db.execute(f"{_SELECT} WHERE id = ?", (article_id,)).fetchone()
    return None if row is None else _document(row)


def translations(db: Connection, group: str) -> list[dict[str, Any]]:
    """``{"id", "language", "title", "published"}`` of every language version of one group."""
    return [{"id": i, "language": language, "title": title, "published": bool(published)}
            for i, language, title, published in db.execute(
                "SELECT id, language, title, published FROM kb_articles WHERE group_id = ? ORDER BY language",
                (group,))]


def list_articles(
    db: Connection, *, language: str | None = None, published_only: bool = False, needs_review: bool | None = None,
    limit: int = 1000, offset: int = 0,
) -> list[dict[str, Any]]:
    """Articles by language, then title."""
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    if language is not None:
        where.append("language = ?")
        params.append(language)
    if published_only:
        where.append("published = 1")
    if needs_review is not None:
        where.append("needs_review = ?")
        params.append(int(needs_review))
    rows = db.execute(f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY language, title, id LIMIT ? OFFSET ?",
                      (*params, limit, offset))
    return [_document(row) for row in rows]


def flag_for_review(db: Connection, article_id: str, note: str, now: float) -> None:
    """Mark an article as worth a look (a customer said it did not help); saving it again clears the flag."""
    db.execute("UPDATE kb_articles SET needs_review = 1, review_note = ? WHERE id = ?", (note[:500], article_id))


def link(db: Connection, ticket_id: int, article_id: str, language: str | None, query_terms: str, by: str,
         now: float) -> bool:
    """Keep that staff answered a ticket with an article (its text's terms teach the article); False if
    the link was there already. Runs inside the caller's transaction."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO kb_links (ticket_id, article_id, language, query_terms, linked_by, linked_at) "
        "VALUES (?, ?, ?, ?, ?, ?)", (ticket_id, article_id, language, query_terms, by, now))
    if cursor.rowcount == 0:
        return False
    relearn(db, [article_id])
    return True


def relearn(db: Connection, article_ids: Iterable[str]) -> None:
    """Recompute the learned terms of articles from their newest links."""
    for article_id in article_ids:
        texts = [r[0] for r in db.execute(
            "SELECT query_terms FROM kb_links WHERE article_id = ? ORDER BY linked_at DESC LIMIT ?",
            (article_id, MAX_LEARNED_LINKS))]
        db.execute("UPDATE kb_articles SET learned_terms = ? WHERE id = ?", (" ".join(texts), article_id))


def links_of(db: Connection, ticket_id: int) -> list[dict[str, Any]]:
    """The articles staff linked to a ticket: ``{"id", "title", "by", "at"}``."""
    return [{"id": i, "title": title, "by": by, "at": iso_utc(at)} for i, title, by, at in db.execute(
        "SELECT l.article_id, a.title, l.linked_by, l.linked_at FROM kb_links l "
        "JOIN kb_articles a ON a.id = l.article_id WHERE l.ticket_id = ? ORDER BY l.linked_at", (ticket_id,))]
