"""The console's areas: each top-level path segment (``/tickets``, ``/fleet``, ...) is answered by one
object with one job, so a page family lives in its own module and the web resource only routes.

The web resource has already resolved the session (every area needs one), checked the CSRF token of a
state-changing request and read its form; an area answers ``None`` for a path it does not know, which
the resource turns into the 404 page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from telediag.web.answers import Page
from telediag.web.pages import Pages
from telediag.web.sessions import Session


@dataclass(frozen=True)
class PageRequest:
    """One signed-in request as an area sees it: who, what, and the pages in the person's language."""

    session: Session
    method: bytes
    """``GET`` (``HEAD`` arrives as ``GET``) or ``POST``."""
    segments: list[str]
    """The decoded path, e.g. ``["devices", "356307042441013"]``."""
    pages: Pages
    """Templates rendered in the language chosen for this request."""
    form: dict[str, str] = field(default_factory=dict)
    """A POST's fields (CSRF already checked); empty for GET."""
    query: dict[str, str] = field(default_factory=dict)
    """The query string's first value per name."""

    def render(self, template: str, **context: Any) -> bytes:
        """A page of this person's console: the template with the session (navigation, CSRF field)."""
        return self.pages.render(template, session=self.session, path="/" + "/".join(self.segments),
                                 query=self.query, **context)

    def gettext(self, message: str) -> str:
        """``message`` in this request's language."""
        return self.pages.gettext(message)


class Area(Protocol):
    """A family of pages under one first path segment."""

    async def answer(self, request: PageRequest) -> Page | None:
        """The page for ``request``; None when the path is not one of this area's (a 404)."""
        ...
