"""The languages telediag speaks: the message catalogues (``telediag/locale/<language>/LC_MESSAGES/
messages.po``, read with Babel and compiled in memory, nothing to build) and the choice of a language
from an ``Accept-Language`` header. Shared by the console, the JSON API and the command line.
"""

from __future__ import annotations

import io
from functools import cache
from gettext import NullTranslations
from importlib import resources

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("en", "pl", "ru", "sv")
"""English first (the source texts); Russian and Swedish because the ticket classifier reads them."""
LANGUAGE_NAMES = {"en": "English", "pl": "Polski", "ru": "Русский", "sv": "Svenska"}
DOMAIN = "messages"


def load_translations(language: str) -> NullTranslations:
    """The compiled catalogue of ``language``; English (and a missing catalogue) translate to themselves."""
    if language == "en":
        return NullTranslations()
    source = resources.files("telediag").joinpath(f"locale/{language}/LC_MESSAGES/{DOMAIN}.po")
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
