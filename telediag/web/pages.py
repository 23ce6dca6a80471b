"""Rendering: Jinja2 templates (autoescape on for every template) and the one stylesheet.

Templates and the stylesheet ship inside the package and are read once at start; nothing is fetched
at run time. The stylesheet's URL carries a hash of its content, so it can be cached for a year and a
new version still reaches every browser at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from gettext import NullTranslations
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined


def when(iso: str | None, never: str = "never") -> str:
    """An ISO 8601 UTC time as people read it on a page: ``2026-12-05 03:57 UTC``; ``never`` for none."""
    if not iso:
        return never
    return f"{iso[:10]} {iso[11:16]} UTC" if len(iso) >= 16 and iso[10] == "T" else iso


def with_language(query: Mapping[str, str] | None, language: str) -> str:
    """The query string of the same page in another language (the switcher keeps filters and paging)."""
    kept = {name: value for name, value in (query or {}).items() if name != "lang"}
    return "?" + urlencode({**kept, "lang": language})


class StaticFiles:
    """The files under ``static/`` (stylesheet, scripts), read once, each with a URL that carries a hash
    of its content."""

    def __init__(self) -> None:
        folder = resources.files("telediag.web").joinpath("static")
        self.files: dict[str, bytes] = {entry.name: entry.read_bytes() for entry in folder.iterdir()
                                        if entry.is_file() and not entry.name.startswith(".")}
        self.urls = {name: f"/static/{name}?v={hashlib.sha256(body).hexdigest()[:12]}"
                     for name, body in self.files.items()}

    def get(self, name: str) -> bytes | None:
        """The file's bytes; None for a name that is not one of them."""
        return self.files.get(name)


class Pages:
    """The template environment in one language, and the static files."""

    def __init__(self, translations: NullTranslations | None = None, language: str = "en",
                 static: StaticFiles | None = None) -> None:
        self.language = language
        self.translations = translations or NullTranslations()
        self.static = static or StaticFiles()
        self.environment = Environment(
            loader=PackageLoader("telediag.web", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            auto_reload=False,
            extensions=["jinja2.ext.i18n"],
        )
        self.environment.install_gettext_translations(self.translations, newstyle=True)  # type: ignore[attr-defined]
        never = self.translations.gettext("never")
        self.environment.filters["when"] = lambda iso: when(iso, never)
        self.environment.globals["with_language"] = with_language
        self.css = self.static.files["web.css"]
        self.css_url = self.static.urls["web.css"]

    def gettext(self, message: str) -> str:
        """``message`` in this page's language (English when there is no translation)."""
        return self.translations.gettext(message)

    def render(self, name: str, **context: Any) -> bytes:
        """The page ``name`` as UTF-8 bytes."""
        return self.environment.get_template(name).render(
            css_url=self.css_url, static=self.static.urls, language=self.language, **context).encode("utf-8")

    def message(self, title: str, message: str, link: str | None = None, link_text: str = "") -> bytes:
        """A plain page saying what happened (errors, refusals)."""
        return self.render("message.html", title=title, message=message, link=link, link_text=link_text)
