"""Language detection benchmark: the earlier word-list detector against lingua, on ticket texts.

Prints, for each detector, its accuracy on the classifier's tests (the tickets and language cases of
``tests/telediag/tickets/test_classify.py``) and on the labelled set
``tests/telediag/tickets/data/language_samples.tsv`` (40 texts per supported language, mixed texts,
unsupported languages with the language they should fall back to, texts without letters), the time
per text once the models are loaded, and, each in a fresh process, the time and memory the lingua
variants take to build and to load their models. Every miss is listed.

    .venv/bin/python bench/language_detection_bench.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lingua  # noqa: E402

from telediag.tickets.classifier import language  # noqa: E402
from telediag.tickets.classifier.matcher import WORD, fold  # noqa: E402

SAMPLES = ROOT / "tests" / "telediag" / "tickets" / "data" / "language_samples.tsv"
Sample = tuple[str | None, str, str]
"""(expected answer or None, language written, text)."""
Detector = Callable[[str], str | None]

# ---------------------------------------------------------------------------------------------
# The baseline: the word-list detector lingua replaced (script, diacritics and common words).

_PL_LETTERS = frozenset("ąćęłńóśźż")
_SV_LETTERS = frozenset("åäö")
_PL_WORDS = frozenset(fold(w) for w in (
    "nie", "jest", "są", "się", "że", "czy", "jak", "na", "w", "z", "ze", "od", "po", "już", "oraz", "ale",
    "bo", "mamy", "nasz", "nasze", "nasza", "naszego", "proszę", "prosimy", "dzień", "dobry", "został",
    "została", "zostało", "było", "samochód", "pojazd", "pojazdu", "mapie", "dla", "przez", "tylko", "nam",
    "jestem", "witam", "pozdrawiam", "dziękuję", "można", "dane", "danych", "brak", "pozycji", "raport",
    "lokalizator", "wczoraj", "dzisiaj"))
_SV_WORDS = frozenset(fold(w) for w in (
    "och", "inte", "är", "jag", "vi", "det", "att", "på", "med", "som", "har", "kan", "en", "ett", "bilen",
    "bilar", "hej", "sedan", "igår", "ni", "vår", "våra", "vårt", "ingen", "inga", "också", "eller", "från",
    "om", "hur", "varför", "tack", "mvh", "fordonet", "kartan", "när", "mitt", "vore", "bra"))
_EN_WORDS = frozenset((
    "the", "is", "are", "was", "were", "and", "not", "our", "my", "you", "with", "have", "has", "please",
    "hello", "hi", "for", "from", "this", "that", "since", "what", "how", "there", "it", "of", "in", "can",
    "could", "would", "does", "did", "vehicle", "car", "truck", "yesterday", "today", "thanks", "thank",
    "dear", "an", "be", "your", "why", "when", "where"))
_TIE_ORDER = ("ru", "pl", "sv", "en")


def word_lists(text: str) -> str | None:
    """Two points for a Cyrillic word or one with Polish or Swedish letters, one for a common word."""
    words = WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    score = dict.fromkeys(_TIE_ORDER, 0)
    for word in words:
        letters = set(word)
        if any("\u0400" <= ch <= "\u04ff" for ch in word):
            score["ru"] += 2
        elif letters & _PL_LETTERS:
            score["pl"] += 2
        elif letters & _SV_LETTERS:
            score["sv"] += 2
        else:
            folded = fold(word)
            score["pl"] += folded in _PL_WORDS
            score["sv"] += folded in _SV_WORDS
            score["en"] += word in _EN_WORDS
    best = max(_TIE_ORDER, key=lambda lang: (score[lang], -_TIE_ORDER.index(lang)))
    if score[best]:
        return best
    if any(ch.isalpha() and ch < "\u0250" for word in words for ch in word):
        return "en"
    return None


# ---------------------------------------------------------------------------------------------
# Lingua variants

_CODES = {**language.SUPPORTED, **language.FALLBACK}
VARIANTS: dict[str, tuple[tuple[lingua.Language, ...], bool]] = {
    "lingua, 4 supported": (tuple(language.SUPPORTED), False),
    "lingua, 4 supported, low accuracy": (tuple(language.SUPPORTED), True),
    "lingua, 4 + de, fi (telediag)": ((*language.SUPPORTED, *language.FALLBACK), False),
    "lingua, 4 + de, fi, low accuracy": ((*language.SUPPORTED, *language.FALLBACK), True),
}


def _builder(name: str) -> lingua.LanguageDetectorBuilder:
    languages, low = VARIANTS[name]
    builder = lingua.LanguageDetectorBuilder.from_languages(*languages)
    return builder.with_low_accuracy_mode() if low else builder


def lingua_variant(name: str) -> Detector:
    detector = _builder(name).build()

    def detect(text: str) -> str | None:
        found = detector.detect_language_of(text[:language.MAX_CHARS])
        return None if found is None else _CODES[found]

    return detect


# ---------------------------------------------------------------------------------------------
# Data and measuring

def labelled() -> list[Sample]:
    rows: list[Sample] = []
    for line in SAMPLES.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line:
            continue
        expected, written, text = line.split("\t", 2)
        rows.append((None if expected == "-" else expected, written, text))
    return rows


def from_tests() -> list[Sample]:
    sys.path.insert(0, str(ROOT))
    from tests.telediag.tickets import test_classify as t

    rows: list[Sample] = [(lang, lang, text) for lang, text, _, _ in t.TICKETS]
    for mark in t.test_mixed_language_text.pytestmark + t.test_detect_language.pytestmark:
        if mark.name == "parametrize":
            for case in mark.args[1]:
                expected = case[-1]
                rows.append((expected, "mixed" if len(case) == 3 else (expected or "-"), case[0]))
    return rows


def subsets(rows: Sequence[Sample]) -> dict[str, list[Sample]]:
    groups: dict[str, list[Sample]] = {"all": list(rows)}
    for row in rows:
        written = row[1]
        key = written if written in ("pl", "ru", "sv", "en", "mixed") else "none" if written == "-" else "unsupported"
        groups.setdefault(key, []).append(row)
    return groups


def per_text_us(detect: Detector, rows: Sequence[Sample], repeat: int) -> float:
    """Microseconds per text, the best of three rounds of ``repeat`` passes."""
    texts = [text for _, _, text in rows]
    rounds = []
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeat):
            for text in texts:
                detect(text)
        rounds.append((time.perf_counter() - started) / (repeat * len(texts)) * 1e6)
    return min(rounds)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_cost(name: str) -> None:
    """In a fresh process: build time, first-text time (model loading) and memory of one variant."""
    before = _rss_mb()
    started = time.perf_counter()
    detector = _builder(name).build()
    built = time.perf_counter() - started
    firsts = []
    for text in ("Lokalizator nie działa", "Bilen syns inte på kartan", "Tracker offline", "не работает трекер"):
        started = time.perf_counter()
        detector.detect_language_of(text)
        firsts.append(time.perf_counter() - started)
    started = time.perf_counter()
    _builder(name).with_preloaded_language_models().build()
    rest = time.perf_counter() - started
    figures = (f"{built * 1e3:.2f}", f"{firsts[0] * 1e3:.0f}", f"{sum(firsts) * 1e3:.0f}", f"{rest * 1e3:.0f}",
               f"{_rss_mb() - before:.0f}")
    print("\t".join(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_cost(args.child)
        return

    sets = {"classifier tests": from_tests(), "labelled set": labelled()}
    detectors: dict[str, Detector] = {"word lists (before)": word_lists}
    detectors.update({name: lingua_variant(name) for name in VARIANTS})
    detectors["telediag detect_language"] = language.detect_language
    for detect in detectors.values():  # load the models before timing
        for rows in sets.values():
            for _, _, text in rows:
                detect(text)

    misses: list[str] = []
    for set_name, rows in sets.items():
        groups = subsets(rows)
        print(f"\n{set_name}: {len(rows)} texts")
        print(f"  {'detector':36s}" + "".join(f"{g:>12s}" for g in groups) + f"{'us/text':>10s}")
        for name, detect in detectors.items():
            cells = []
            for group in groups.values():
                ok = sum(detect(text) == expected for expected, _, text in group)
                cells.append(f"{ok:>5d}/{len(group):<3d} ")
            speed = per_text_us(detect, rows, args.repeat)
            print(f"  {name:36s}" + "".join(f"{c:>12s}" for c in cells) + f"{speed:>10.1f}")
            misses += [f"  {set_name} | {name} | {written}: {text!r} -> {detect(text)} (expected {expected})"
                       for expected, written, text in rows if detect(text) != expected]
    print("\nmisses:")
    print("\n".join(misses) or "  none")

    print("\ncost in a fresh process (ms, MB):")
    print(f"  {'variant':36s}{'build':>8s}{'1st text':>10s}{'4 texts':>9s}{'preload rest':>14s}{'RSS +MB':>9s}")
    for name in VARIANTS:
        out = subprocess.run([sys.executable, __file__, "--child", name], check=True, capture_output=True, text=True)
        built, first, four, rest, rss = out.stdout.split()
        print(f"  {name:36s}{built:>8s}{first:>10s}{four:>9s}{rest:>14s}{rss:>9s}")
    print("  (1st text loads the models a text needs; 4 texts, one per language; preload rest: the remaining "
          "models; RSS after all)")


if __name__ == "__main__":
    main()
