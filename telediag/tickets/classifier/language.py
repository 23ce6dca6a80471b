"""The language a ticket is written in, to answer in: Polish, Russian, Swedish or English.

Lingua (statistical n-gram models shipped inside its wheel, nothing fetched at run time) decides among
the supported languages and two it recognises only to fall back from: German and Finnish texts are
answered in English rather than taken for Swedish, which is what the four languages alone make of
"Tracker zeigt keine Position". Other unsupported languages land on their nearest supported one
(Ukrainian on Russian, Norwegian and Danish on Swedish). Measured against the earlier word-list
detector in ``bench/language_detection_bench.py``.

The detector is built on first use and loads its models with the first text: 1-3 s and ~220 MB RSS
for the six (lingua's high-accuracy models; the low-accuracy ones take ~20 MB but miss more short
texts), holding the GIL meanwhile, so a service calls :func:`preload` at start-up rather than paying
it inside its first ticket. Text without letters never reaches lingua, so automatic tickets (no
text) never load it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import lingua

from telediag.tickets.classifier.keywords import Language

SUPPORTED: dict[lingua.Language, Language] = {
    lingua.Language.POLISH: "pl",
    lingua.Language.RUSSIAN: "ru",
    lingua.Language.SWEDISH: "sv",
    lingua.Language.ENGLISH: "en",
}
FALLBACK: dict[lingua.Language, Language] = {
    lingua.Language.GERMAN: "en",
    lingua.Language.FINNISH: "en",
}
"""Languages recognised only to be answered in another (Latin-script neighbours otherwise taken for Swedish)."""
MAX_CHARS = 2000
"""Detection reads the start of a ticket; a pasted log further down adds time, not accuracy."""


@dataclass(frozen=True)
class Detection:
    """The language to answer in, what the text was recognised as, and lingua's confidence (0..1)."""

    language: Language
    written: str
    """ISO 639-1 code of the recognised language: ``language`` itself, or e.g. ``de`` on a fallback."""
    confidence: float


def _builder() -> lingua.LanguageDetectorBuilder:
    return lingua.LanguageDetectorBuilder.from_languages(*SUPPORTED, *FALLBACK)


@functools.cache
def _detector() -> lingua.LanguageDetector:
    return _builder().build()


def preload() -> None:
    """Load every model now (1-3 s, holding the GIL) instead of inside the first ticket.

    Lingua keeps one copy of each model per process, shared by every detector, so the lazily built
    one finds them loaded.
    """
    _builder().with_preloaded_language_models().build()


def detect(text: str) -> Detection | None:
    """The language of ``text``; None when it has no letters or none lingua can place (e.g. only Chinese)."""
    sample = (text or "")[:MAX_CHARS]
    if not any(ch.isalpha() for ch in sample):
        return None
    values = _detector().compute_language_confidence_values(sample)
    if not values or values[0].value <= 0.0:
        return None
    best = values[0].language
    answer = SUPPORTED.get(best) or FALLBACK[best]
    return Detection(answer, best.iso_code_639_1.name.lower(), values[0].value)


def detect_language(text: str) -> Language | None:
    """``pl``, ``ru``, ``sv`` or ``en`` to answer ``text`` in; None without letters."""
    found = detect(text)
    return found.language if found else None
