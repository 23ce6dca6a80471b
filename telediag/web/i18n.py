"""The console's languages: message catalogues read with Babel, the language chosen per request.

Catalogues are the ``.po`` files under ``telediag/web/locale/<language>/LC_MESSAGES/messages.po``,
compiled in memory at start (nothing to build, nothing fetched). A request's language is, in order:
the ``lang`` query parameter (the switcher's links), the language cookie it sets, the browser's
``Accept-Language``, English. The JSON API's self-check and the CLI use the same catalogues
(:func:`catalogue`), so a self-check reads the same on a page, in JSON and in a terminal.
"""

from __future__ import annotations

import io
from functools import cache
from gettext import NullTranslations
from importlib import resources
from typing import Any, Mapping

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from twisted.web.server import Request

from telediag.diagnostics.selfcheck import translate_selfcheck
from telediag.diagnostics.wording import N_
from telediag.web.pages import Pages, StaticFiles

LANGUAGES = ("en", "pl", "ru", "sv")
"""English first (the source texts); Russian and Swedish because the ticket classifier reads them."""
LANGUAGE_NAMES = {"en": "English", "pl": "Polski", "ru": "Русский", "sv": "Svenska"}
TRANSLATED_BY_VALUE = (
    N_("Wrong username or password."),  # telediag.web.resources.WRONG_CREDENTIALS
)
"""Texts other modules keep as constants and translate by value: marked here so extraction finds them."""
LANGUAGE_COOKIE = b"telediag_lang"
LANGUAGE_COOKIE_MAX_AGE_S = 365 * 86400
DOMAIN = "messages"


def load_translations(language: str) -> NullTranslations:
    """The compiled catalogue of ``language``; English (and a missing catalogue) translate to themselves."""
    if language == "en":
        return NullTranslations()
    source = resources.files("telediag.web").joinpath(f"locale/{language}/LC_MESSAGES/{DOMAIN}.po")
    if not source.is_file():
        return NullTranslations()
    with source.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@cache
def catalogue(language: str) -> NullTranslations:
    """The catalogue of one of LANGUAGES, compiled once per process (English for any other name)."""
    return load_translations(language if language in LANGUAGES else "en")


def localized_selfcheck(selfcheck: Mapping[str, Any], pages: Pages) -> dict[str, Any]:
    """A self-check result (``DiagnosticsView.selfcheck``) with its texts in the page's language.

    Call it on the result as the diagnostics gave it, before ``visible_part``: the role filter copies
    the texts it masks into plain strings, which then stay English.
    """
    return translate_selfcheck(selfcheck, pages.translations)


def negotiate(accept_language: str | None) -> str:
    """The best of LANGUAGES for an ``Accept-Language`` header; English when none fits."""
    if not accept_language:
        return "en"
    preferred: list[tuple[float, str]] = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag:
            preferred.append((-quality + position * 1e-6, tag.strip().replace("_", "-")))
    choice = Locale.negotiate([tag for _, tag in sorted(preferred)], list(LANGUAGES), sep="-")
    return str(choice.language) if choice is not None else "en"


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
