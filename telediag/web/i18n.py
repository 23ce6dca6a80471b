"""The console's language per request: pages rendered with the catalogues of ``telediag.languages``.

A request's language is, in order: the ``lang`` query parameter (the switcher's links), the language
cookie it sets, the browser's ``Accept-Language``, English. The JSON API's self-check and the CLI use
the same catalogues, so a self-check reads the same on a page, in JSON and in a terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.web.server import Request

from telediag.diagnostics.selfcheck import translate_selfcheck
from telediag.diagnostics.wording import N_
from telediag.languages import LANGUAGES, catalogue, negotiate
from telediag.web.pages import Pages, StaticFiles

TRANSLATED_BY_VALUE = (
    N_("Wrong username or password."),  # telediag.web.resources.WRONG_CREDENTIALS
)
"""Texts other modules keep as constants and translate by value: marked here so extraction finds them."""
LANGUAGE_COOKIE = b"telediag_lang"
LANGUAGE_COOKIE_MAX_AGE_S = 365 * 86400


def localized_selfcheck(selfcheck: Mapping[str, Any], pages: Pages) -> dict[str, Any]:
    """A self-check result (``DiagnosticsView.selfcheck``) with its texts in the page's language.

    Call it on the result as the diagnostics gave it, before ``visible_part``: the role filter copies
    the texts it masks into plain strings, which then stay English.
    """
    return translate_selfcheck(selfcheck, pages.translations)


class Languages:
    """One ``Pages`` per language, built at start; picks the one for each request."""

    def __init__(self) -> None:
        static = StaticFiles()
        self.pages = {language: Pages(catalogue(language), language, static) for language in LANGUAGES}

    def choose(self, request: Request) -> tuple[str, bool]:
        """The request's language, and whether it came from the query (so the cookie should remember it)."""
        asked = (request.args or {}).get(b"lang", [b""])[0].decode("ascii", "replace")
        if asked in self.pages:
            return asked, True
        remembered = (request.getCookie(LANGUAGE_COOKIE) or b"").decode("ascii", "replace")
        if remembered in self.pages:
            return remembered, False
        header = request.getHeader("accept-language")
        return negotiate(header), False
