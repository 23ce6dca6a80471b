"""Text to search terms: words, lower case, without stop words, each reduced to its Snowball stem.

Stemming is done here, in Python, for every language (snowballstemmer: the same Snowball algorithms
PostgreSQL's ``english``, ``russian`` and ``swedish`` configurations use, plus Polish, which
PostgreSQL has no configuration for). The stored and the asked terms are therefore the same on SQLite
(FTS5) and PostgreSQL (``to_tsvector('simple', ...)``), so both backends find the same articles and
a score means the same thing on either.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import snowballstemmer

ALGORITHMS = {"en": "english", "pl": "polish", "ru": "russian", "sv": "swedish"}
"""Snowball stemmer per article language."""
LANGUAGES = tuple(ALGORITHMS)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
MAX_TERMS = 400
"""Terms taken from one text to ask with (a ticket with a pasted log asks with its start)."""

STOP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset("""a about after again all also am an and any are as at be been before being but by can
        could did do does doing for from had has have having he her here hi hello his how i if in into is it
        its it's just me my no nor not of on once only or other our out please regards so some such than
        thank thanks that the their them then there these they this those to too up us very was we were what
        when where which while who why will with would you your dear team hey best kind since yet get got
        i'm we're don't doesn't isn't""".split()),
    "pl": frozenset("""a aby ale bo by być był była było były czy dla do dzień dobry dziękuję dzięki gdy go
        i ich ja jak jaki jest jestem jeśli jej już każdy kiedy kto który która które lub ma mam mamy mi mnie
        może mój moja moje na nad nam nas nasz nasza nasze nie nim niż o od oraz po pod pozdrawiam proszę przez
        przy się są ta tak tam te tego tej ten to tu tylko u w we witam z za ze że żeby też bardzo jego jej
        będzie był mieć co""".split()),
    "ru": frozenset("""а без бы был была были было в вам вас весь во вот все всё вы где да для до его ее её
        если есть еще ещё же за здравствуйте и из или им их к как когда кто ли либо мне мой мы на над нам нас
        наш не нет ни но о об от по под пожалуйста при с со спасибо так также то тот у уже чем что чтобы эта
        эти это я добрый день меня можно""".split()),
    "sv": frozenset("""att av blir de dem den denna deras det detta du där efter eller en ett för från
        har hade hej hur här i inte jag kan med men mig min mitt mot mvh nu när och om oss på sig sin sitt
        som så tack till under upp ut var vi vid vår våra är åt""".split()),
}
"""Words that say nothing about what a ticket asks (greetings, pronouns, particles)."""
_KEEP_SHORT = frozenset({"gps", "apn", "sim", "eu", "sms", "12", "24", "4g", "2g", "3g", "lte"})


@functools.cache
def _stemmer(language: str) -> snowballstemmer.BaseStemmer:  # cached: building one compiles tables
    return snowballstemmer.stemmer(ALGORITHMS[language])


def words(text: str) -> list[str]:
    """The words of ``text`` (NFKC, case-folded; Russian ``ё`` read as ``е``)."""
    folded = unicodedata.normalize("NFKC", text or "").casefold().replace("ё", "е")
    return _WORD.findall(folded)


def terms(text: str, language: str, limit: int = MAX_TERMS) -> list[str]:
    """The search terms of ``text`` written in ``language`` (in order, repeats kept: they count).

    Stop words go; one-letter words go except digits; every word is stemmed with the language's
    Snowball stemmer. A language without a stemmer is treated as English.
    """
    language = language if language in ALGORITHMS else "en"
    stop = STOP_WORDS[language]
    kept = [w.replace("’", "'") for w in words(text) if w not in stop and (len(w) > 1 or w.isdigit())][:limit]
    stems = _stemmer(language).stemWords([w.split("'")[0] for w in kept])
    return [s for s in stems if s and (len(s) > 1 or s.isdigit())]


def joined(text: str, language: str) -> str:
    """:func:`terms` as one space-separated string, as the store keeps and indexes them."""
    return " ".join(terms(text, language, limit=100_000))
