"""Match a ticket's text against the keyword tables: category and SLA topic, with the words that decided.

Pure: no I/O, no clock, no language model. The rules of :mod:`~telediag.tickets.classifier.keywords`
are tried in order and the first that matches decides. Customers mix languages in one ticket ("Report
не формируется"), so the classifier passes every language; a narrower ``languages`` tries only those
tables (the tests use it to show each language's tables stand on their own).

Tokens and stems are both folded (Polish and Swedish diacritics removed, ``ё`` read as ``е``), so
"kradzież" and "kradziez" match alike; the reasons quote the words as written.

Questions are told from statements (a sentence ending in "?" or starting with a question word): a
rule may look at one kind only (activation asked about; a fault described), and a problem topic found
only in questions that say nothing is wrong ("why do positions arrive late?") is a how-to.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from telediag.tickets.classifier.keywords import (
    BROKEN,
    HOW_TO,
    IGNORED,
    LANGUAGES,
    NEGATION,
    QUESTION_START,
    RULES,
    Category,
    Language,
    Rule,
    Table,
    Topic,
)

MAX_GAP = 2
"""Most words allowed between two stems of one term ("plattformen ligger nere")."""
_ALWAYS_PROBLEMS = frozenset({"stolen_vehicle", "critical_server_failure"})
"""Topics that are a problem however they are phrased ("was my van stolen?")."""
DEFAULT_REASON = "no finding and no keyword matched -> how to, consultation (default)"


@dataclass(frozen=True)
class TextMatch:
    """What the text alone says: category, topic, and one reason quoting the deciding words."""

    category: Category
    topic: Topic
    reason: str
    matched: bool
    """False when no rule matched and the result is the default (how to, consultation)."""


_FOLD_FIRST = str.maketrans({"ł": "l", "ø": "o", "æ": "ae", "đ": "d", "ё": "е"})
_CONTRACTION = re.compile(
    r"\b(can|don|doesn|didn|isn|aren|wasn|weren|won|couldn|wouldn|shouldn|haven|hasn)['’]?t\b|\b(can)(not)\b")
_EXPANDED = {"can": "can", "don": "do", "doesn": "does", "didn": "did", "isn": "is", "aren": "are",
             "wasn": "was", "weren": "were", "won": "will", "couldn": "could", "wouldn": "would",
             "shouldn": "should", "haven": "have", "hasn": "has"}
_SENTENCE = re.compile(r"([^.!?;\n\r]*)([.!?;\n\r]*)")
WORD = re.compile(r"\w+")
"""A word: what the matcher and the reasons count as one token."""


def fold(word: str) -> str:
    """Drop Latin diacritics (Polish, Swedish) and read ``ё`` as ``е``; other Cyrillic marks stay (й)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", word.translate(_FOLD_FIRST)):
        if unicodedata.combining(ch) and out and out[-1] < "\u0250":
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def _expand(match: re.Match[str]) -> str:
    if match.group(2):
        return "can not"
    return f"{_EXPANDED[match.group(1)]} not"


@dataclass(frozen=True)
class _Sentence:
    words: tuple[str, ...]
    """As written (NFKC, lower case), for reasons."""
    folded: tuple[str, ...]
    """Folded for matching; a word inside an :data:`IGNORED` phrase is blank."""
    question: bool = False
    """The sentence asks: it ends with "?" or starts with a question word (:data:`QUESTION_START`)."""


_Piece = tuple[str, bool]
"""(folded stem, must equal the whole word)."""
_Term = tuple[_Piece, ...]


def _compile_term(term: str) -> _Term:
    return tuple((fold(stem.rstrip("$")), stem.endswith("$")) for stem in term.split())


_COMPILED: dict[int, tuple[Table, dict[Language, tuple[_Term, ...]]]] = {}


def _terms(table: Table, languages: Sequence[Language]) -> tuple[_Term, ...]:
    """The compiled terms of a table in ``languages`` (kept with the table, so a reused id cannot mix them up)."""
    cached = _COMPILED.get(id(table))
    if cached is None or cached[0] is not table:
        cached = (table, {lang: tuple(_compile_term(t) for t in table.get(lang, ())) for lang in LANGUAGES})
        _COMPILED[id(table)] = cached
    return tuple(term for lang in languages for term in cached[1][lang])


def _piece_matches(piece: _Piece, token: str) -> bool:
    stem, exact = piece
    return bool(token) and (token == stem if exact else token.startswith(stem))


def _find(term: _Term, tokens: Sequence[str]) -> tuple[int, ...] | None:
    """Indices of the tokens that match ``term`` in order, with at most MAX_GAP words between."""

    def extend(at: int, rest: _Term) -> tuple[int, ...] | None:
        if not rest:
            return ()
        for nxt in range(at + 1, min(len(tokens), at + 2 + MAX_GAP)):
            if _piece_matches(rest[0], tokens[nxt]):
                tail = extend(nxt, rest[1:])
                if tail is not None:
                    return (nxt, *tail)
        return None

    for start, token in enumerate(tokens):
        if _piece_matches(term[0], token):
            tail = extend(start, term[1:])
            if tail is not None:
                return (start, *tail)
    return None


def _sentences(text: str, languages: Sequence[Language]) -> tuple[_Sentence, ...]:
    text = _CONTRACTION.sub(_expand, unicodedata.normalize("NFKC", text).casefold())
    ignored = _terms(IGNORED, languages)
    starts = [term[0] for term in _terms(QUESTION_START, languages)]
    result = []
    for found in _SENTENCE.finditer(text):
        words = tuple(WORD.findall(found[1]))
        if not words:
            continue
        folded = [fold(w) for w in words]
        for term in ignored:
            while (hit := _find(term, folded)) is not None:
                for i in hit:
                    folded[i] = ""
        first = next((w for w in folded if w), "")
        question = "?" in found[2] or any(_piece_matches(piece, first) for piece in starts)
        result.append(_Sentence(words, tuple(folded), question))
    return tuple(result)


def _match(table: Table, sentence: _Sentence, languages: Sequence[Language]) -> list[str]:
    """The words of ``sentence`` that matched any term of ``table``."""
    found: list[str] = []
    for term in _terms(table, languages):
        hit = _find(term, sentence.folded)
        if hit is not None:
            phrase = " ".join(sentence.words[i] for i in hit)
            if phrase not in found:
                found.append(phrase)
    return found


def _counted(rule: Rule, sentences: Sequence[_Sentence]) -> list[_Sentence]:
    """The sentences a rule looks at (:attr:`Rule.where`)."""
    if rule.where == "questions":
        return [s for s in sentences if s.question]
    if rule.where == "statements":
        return [s for s in sentences if not s.question]
    return list(sentences)


def _plain_question(sentence: _Sentence, languages: Sequence[Language]) -> bool:
    """A question that says nothing fails ("why do positions arrive late?", not "why is there no data?")."""
    return sentence.question and not _match(NEGATION, sentence, languages) and not _match(BROKEN, sentence, languages)


def _asks_how(sentences: Sequence[_Sentence], languages: Sequence[Language]) -> bool:
    return any(s.question and _match(HOW_TO, s, languages) for s in sentences)


def _match_rule(rule: Rule, sentences: Sequence[_Sentence], languages: Sequence[Language]) -> list[str]:
    found: list[str] = []
    if rule.unless_asked and _asks_how(sentences, languages):
        return found
    for sentence in _counted(rule, sentences):
        for table in rule.any_of:
            found += [w for w in _match(table, sentence, languages) if w not in found]
        for group in rule.all_of:
            parts = [_match(table, sentence, languages) for table in group]
            if all(parts):
                found += [w for part in parts for w in part if w not in found]
    return found


def _match_any(table: Table, sentences: Sequence[_Sentence], languages: Sequence[Language]) -> list[str]:
    found: list[str] = []
    for sentence in sentences:
        found += [w for w in _match(table, sentence, languages) if w not in found]
    return found


def quoted(words: Sequence[str], limit: int = 4) -> str:
    """Words for a reason, without those already shown inside a longer phrase, each once."""
    unique = list(dict.fromkeys(words))
    shown = [w for w in unique if not any(o != w and set(w.split()) <= set(o.split()) for o in unique)]
    return ", ".join(f'"{w}"' for w in shown[:limit])


def asks(text: str, languages: Sequence[Language] = LANGUAGES) -> bool:
    """Whether the text asks anything: a sentence ending in "?" or starting with a question word."""
    return any(sentence.question for sentence in _sentences(text or "", languages))


def match_text(text: str, languages: Sequence[Language] = LANGUAGES) -> TextMatch:
    """Category and topic from the first rule whose keywords (in ``languages``) appear in ``text``."""
    sentences = _sentences(text or "", languages)
    for rule in RULES:
        words = _match_rule(rule, sentences, languages)
        if not words:
            continue
        reason = f"text {quoted(words)} -> {rule.what}"
        category = rule.category
        if (category == "system_problem" and rule.topic not in _ALWAYS_PROBLEMS and rule.where == "any"
                and all(_plain_question(s, languages) for s in sentences if _match_rule(rule, [s], languages))):
            reason += "; asked as a question that says nothing is wrong -> how to"
            return TextMatch("how_to", rule.topic, reason, True)
        if category is None:
            broken = _match_any(BROKEN, sentences, languages)
            if broken:
                category = "system_problem"
                reason += f"; {quoted(broken)} says it is wrong or broken -> system problem"
            else:
                category = "how_to"
                reason += "; nothing says it is broken -> how to"
        return TextMatch(category, rule.topic, reason, True)
    return TextMatch("how_to", "consultation", DEFAULT_REASON, False)
