"""An article as people write it (JSON lines, the API, the console form), checked before it is stored.

Every problem of an article is reported at once, in words that say what to change; the limits are
explicit so a form, a file and the API refuse the same things.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telediag.diagnostics.catalogue import FINDINGS
from telediag.kb.text import LANGUAGES
from telediag.problems import Problems

ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,79}")
"""An article id: lower-case ASCII letters, digits, ``.``, ``_`` and ``-``, at most 80 characters."""
MAX_TITLE = 200
MAX_BODY = 20_000
"""Characters of Markdown in one article (a long how-to is about 4,000)."""
MAX_TAGS = 20
MAX_TAG = 40
FIELDS = ("id", "language", "title", "body", "tags", "finding_codes", "published", "group")
REQUIRED = ("id", "language", "title", "body")


class InvalidArticle(Problems):
    """An article with problems; ``problems`` lists each."""


@dataclass(frozen=True)
class Article:
    """One article in one language; ``group`` links the languages of one article."""

    id: str
    language: str
    title: str
    body: str
    tags: tuple[str, ...] = ()
    finding_codes: tuple[str, ...] = ()
    published: bool = True
    group: str = ""

    def document(self) -> dict[str, Any]:
        """The article as the API and ``kb import`` write it."""
        return {"id": self.id, "language": self.language, "title": self.title, "body": self.body,
                "tags": list(self.tags), "finding_codes": list(self.finding_codes), "published": self.published,
                "group": self.group}


def default_group(article_id: str, language: str) -> str:
    """The group of an article that names none: its id without a ``-xx``/``.xx``/``_xx`` language suffix,
    so ``apn-teltonika-en`` and ``apn-teltonika-pl`` are one article in two languages."""
    for separator in "-._":
        suffix = f"{separator}{language}"
        if article_id.endswith(suffix) and len(article_id) > len(suffix):
            return article_id[: -len(suffix)]
    return article_id


def _text(item: Mapping[str, Any], key: str, limit: int, problems: list[str], one_line: bool = False) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        problems.append(f"{key} must be text" if key in item else f"{key} is missing")
        return ""
    value = value.strip()
    if not value:
        problems.append(f"{key} is empty")
    elif len(value) > limit:
        problems.append(f"{key} has {len(value)} characters; at most {limit}")
    if "\x00" in value:
        problems.append(f"{key} contains a NUL character")
    if one_line and ("\n" in value or "\r" in value):
        problems.append(f"{key} must be one line")
    return value


def _list(item: Mapping[str, Any], key: str, problems: list[str]) -> list[str]:
    value = item.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{key} must be a list of texts")
        return []
    return [v.strip() for v in value if v.strip()]


def parse_article(item: Any) -> Article:
    """An :class:`Article` from a JSON object; InvalidArticle listing every problem otherwise."""
    if not isinstance(item, dict):
        raise InvalidArticle(["an article must be a JSON object"])
    problems: list[str] = []
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        problems.append(f"unknown field(s) {', '.join(k[:40] for k in unknown[:10])}; known: {', '.join(FIELDS)}")
    article_id = item.get("id")
    if not isinstance(article_id, str) or not ID.fullmatch(article_id):
        problems.append("id must be 1-80 lower-case letters, digits, '.', '_' or '-' (e.g. \"apn-teltonika-en\")"
                        if "id" in item else "id is missing")
        article_id = ""
    language = item.get("language")
    if language not in LANGUAGES:
        problems.append(f"language must be one of {', '.join(LANGUAGES)}" if "language" in item
                        else "language is missing")
        language = ""
    title = _text(item, "title", MAX_TITLE, problems, one_line=True)
    body = _text(item, "body", MAX_BODY, problems)
    tags = _list(item, "tags", problems)
    if len(tags) > MAX_TAGS:
        problems.append(f"at most {MAX_TAGS} tags")
    problems += [f"tag {tag[:50]!r} is longer than {MAX_TAG} characters" for tag in tags if len(tag) > MAX_TAG]
    codes = [code.upper() for code in _list(item, "finding_codes", problems)]
    problems += [f"finding code {code[:40]} is unknown (see DESIGN.md, Finding codes)" for code in codes
                 if code not in FINDINGS]
    published = item.get("published", True)
    if not isinstance(published, bool):
        problems.append("published must be true or false")
        published = True
    group = item.get("group")
    if group is not None and (not isinstance(group, str) or not ID.fullmatch(group)):
        problems.append("group must look like an id (lower-case letters, digits, '.', '_' or '-')")
        group = None
    if problems:
        raise InvalidArticle(problems)
    return Article(article_id, language, title, body, tuple(dict.fromkeys(tags)), tuple(dict.fromkeys(codes)),
                   published, group or default_group(article_id, language))
