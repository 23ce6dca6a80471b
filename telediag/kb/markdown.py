"""Article bodies (Markdown) as HTML that is safe to put in a console page.

markdown-it-py with raw HTML switched off: ``<script>`` or any tag written in an article comes out as
text. Links keep only ``http``, ``https`` and ``mailto`` targets and paths on this site (``/...``,
``#...``); ``javascript:``, ``data:`` and every other scheme are left as plain text. Images are not
rendered (the console's content policy allows images from this site only, and articles are text).
Every link opens as an ordinary link with ``rel="noopener noreferrer"``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

SAFE_LINK = re.compile(r"(?:https?://|mailto:|/(?!/)|#)", re.IGNORECASE)
"""The starts of a link target that stays a link: web and mail addresses, paths on this site."""


def safe_link(url: str) -> bool:
    """Whether ``url`` may be a link target in an article (see :data:`SAFE_LINK`)."""
    stripped = "".join(ch for ch in url.strip() if ch >= " " and ch != "\x7f")
    return bool(SAFE_LINK.match(stripped))


def _link_open(self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    tokens[idx].attrSet("rel", "noopener noreferrer")
    return str(self.renderToken(tokens, idx, options, env))


@functools.cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable(["image", "html_inline", "html_block"])
    md.validateLink = safe_link  # type: ignore[method-assign]
    md.add_render_rule("link_open", _link_open)
    return md


def render(body: str) -> str:
    """The HTML of an article body (Markdown); nothing in it can run a script or load anything."""
    return str(_parser().render(body or ""))


def plain(body: str, limit: int = 400) -> str:
    """The start of an article as plain text (for a suggestion shown in a ticket's timeline)."""
    text = re.sub(r"[`*_#>\[\]]+|\((?:https?|mailto):[^)]*\)", "", body or "")
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
