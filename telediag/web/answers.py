"""One answer of a console page: status, body, headers and cookies, built by the pages and sent by the
web resource with the security headers every page carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telediag.web.paging import MAX_PAGE

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


def not_found(pages: Pages) -> Page:
    """The 404 page: what a path that does not exist, or is not this person's to see, answers."""
    return Page(404, pages.message(pages.gettext("Not found"), pages.gettext("There is no such page."), "/",
                                   pages.gettext("Home")))


def bad_request(pages: Pages, message: str, back: str, back_text: str) -> Page:
    """The 400 page: what is wrong with the request, and a link back to where it can be asked again."""
    return Page(400, pages.message(pages.gettext("Bad request"), message, back, back_text))


def bad_page_number(pages: Pages, back: str, back_text: str) -> Page:
    """The 400 page for a ``?page=`` value that is not a page number (``paging.page_number``)."""
    return bad_request(pages, pages.gettext("The page number must be a whole number from 1 to %(max)s.")
                       % {"max": MAX_PAGE}, back, back_text)


FRAGMENT_HEADER = "X-Telediag-Fragment"
"""Marks an answer as a piece of a page for ``static/live.js`` to put in place (never a whole page)."""


def fragment(body: bytes) -> Page:
    """A live part of a page (``data-live``), refreshed by ``static/live.js`` without a reload."""
    return Page(200, body, {FRAGMENT_HEADER: "1"})
