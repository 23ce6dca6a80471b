"""The knowledge base's lexicon (:mod:`telediag.kb.lexicon`) made usable: synonym groups as stems, and
the tracker families a text names.

Synonyms are applied when a ticket is matched, not when an article is stored: a new group works on the
articles already in the store, without stemming them again.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from telediag.kb.lexicon import FAMILIES, SYNONYMS
from telediag.kb.text import terms


@functools.cache
def canonical(language: str) -> Mapping[str, str]:
    """Stem -> the stem that stands for its synonym group (the group's first); stems in no group are absent."""
    found: dict[str, str] = {}
    for group in SYNONYMS.get(language, ()):
        stems = [s for word in group for s in terms(word, language)]
        for stem in stems[1:]:
            found.setdefault(stem, stems[0])
        if stems:
            found.setdefault(stems[0], stems[0])
    return {stem: head for stem, head in found.items() if stem != head or list(found.values()).count(head) > 1}


@functools.cache
def variants(language: str) -> Mapping[str, tuple[str, ...]]:
    """The canonical stem of each group -> every stem of the group (the canonical first)."""
    groups: dict[str, list[str]] = {}
    for stem, head in canonical(language).items():
        groups.setdefault(head, [head])
        if stem != head:
            groups[head].append(stem)
    return {head: tuple(stems) for head, stems in groups.items()}


@functools.cache
def _family_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((family, re.compile(r"(?<![\w-])(?:" + "|".join(patterns) + r")(?![\w])"))
                 for family, patterns in FAMILIES.items())


def families(text: str) -> frozenset[str]:
    """The tracker families (:data:`~telediag.kb.lexicon.FAMILIES`) that ``text`` names."""
    folded = (text or "").casefold()
    return frozenset(family for family, pattern in _family_patterns() if pattern.search(folded))
