"""One answer of a console page: status, body, headers and cookies, built by the pages and sent by the
web resource with the security headers every page carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telediag.web.pages import Pages


@dataclass
class Page:
    """One answer: status, body, headers and cookies to set (name, value, max-age, path)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[tuple[bytes, bytes, int, bytes]] = field(default_factory=list)


def redirect(location: str) -> Page:
    """303 See Other: after a form, the browser asks for ``location`` with GET."""
    return Page(303, b"", {"Location": location})


def not_found(pages: "Pages") -> Page:
    """The 404 page: what a path that does not exist, or is not this person's to see, answers."""
    return Page(404, pages.message(pages.gettext("Not found"), pages.gettext("There is no such page."), "/",
                                   pages.gettext("Home")))


FRAGMENT_HEADER = "X-Telediag-Fragment"
"""Marks an answer as a piece of a page for ``static/live.js`` to put in place (never a whole page)."""


def fragment(body: bytes) -> Page:
    """A live part of a page (``data-live``), refreshed by ``static/live.js`` without a reload."""
    return Page(200, body, {FRAGMENT_HEADER: "1"})
