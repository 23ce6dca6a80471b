"""Rendering: Jinja2 templates (autoescape on for every template) and the one stylesheet.

Templates and the stylesheet ship inside the package and are read once at start; nothing is fetched
at run time. The stylesheet's URL carries a hash of its content, so it can be cached for a year and a
new version still reaches every browser at once.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

CSS_PATH = "/static/web.css"


def when(iso: str | None) -> str:
    """An ISO 8601 UTC time as people read it on a page: ``2026-12-05 03:57 UTC``; "never" for none."""
    if not iso:
        return "never"
    return f"{iso[:10]} {iso[11:16]} UTC" if len(iso) >= 16 and iso[10] == "T" else iso


class Pages:
    """The template environment and the static stylesheet (bytes and versioned URL)."""

    def __init__(self) -> None:
        self.environment = Environment(
            loader=PackageLoader("telediag.web", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            auto_reload=False,
        )
        self.environment.filters["when"] = when
        self.css = resources.files("telediag.web").joinpath("static/web.css").read_bytes()
        self.css_url = f"{CSS_PATH}?v={hashlib.sha256(self.css).hexdigest()[:12]}"

    def render(self, name: str, **context: Any) -> bytes:
        """The page ``name`` as UTF-8 bytes."""
        return self.environment.get_template(name).render(css_url=self.css_url, **context).encode("utf-8")

    def message(self, title: str, message: str, link: str | None = None, link_text: str = "") -> bytes:
        """A plain page saying what happened (errors, refusals)."""
        return self.render("message.html", title=title, message=message, link=link, link_text=link_text)
