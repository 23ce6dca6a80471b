"""Language detection on labelled ticket texts: the supported languages, mixed text, and fallbacks."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from telediag.tickets.classifier import language
from telediag.tickets.classify import classify

SAMPLES = Path(__file__).parent / "data" / "language_samples.tsv"
KNOWN_MISSES = {
    "Geofence larmar inte",  # two English-looking words of three
    "Vozidlo není vidět na mapě",  # Czech: taken for Polish, the only supported Slavic Latin-script language
    "Automobilis nerodomas žemėlapyje",  # Lithuanian: taken for Swedish
}
"""Texts the detector gets wrong today (see bench/language_detection_bench.py); a fix shows as XPASS."""


def _rows() -> list[tuple[str | None, str, str]]:
    rows = []
    for line in SAMPLES.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            expected, written, text = line.split("\t", 2)
            rows.append((None if expected == "-" else expected, written, text))
    return rows


ROWS = _rows()


def test_the_labelled_set_has_forty_texts_per_supported_language() -> None:
    counts = Counter(written for _, written, _ in ROWS)
    assert all(counts[lang] == 40 for lang in ("pl", "ru", "sv", "en"))
    assert counts["mixed"] >= 5 and counts["-"] >= 3
    assert sum(n for w, n in counts.items() if w not in ("pl", "ru", "sv", "en", "mixed", "-")) >= 10


@pytest.mark.parametrize(("expected", "written", "text"), [
    pytest.param(*row, marks=pytest.mark.xfail(reason="known miss")) if row[2] in KNOWN_MISSES else row
    for row in ROWS
], ids=[f"{row[1]}:{row[2][:30]}" for row in ROWS])
def test_labelled_text(expected: str | None, written: str, text: str) -> None:
    assert language.detect_language(text) == expected


def test_accuracy_on_the_supported_languages() -> None:
    supported = [row for row in ROWS if row[1] in ("pl", "ru", "sv", "en", "mixed")]
    right = sum(language.detect_language(text) == expected for expected, _, text in supported)
    assert right >= len(supported) - 1


def test_an_unsupported_language_is_answered_in_a_neighbour() -> None:
    found = language.detect("Tracker zeigt keine Position")
    assert found is not None and (found.language, found.written) == ("en", "de")
    assert language.detect_language("Трекер не працює") == "ru"
    assert language.detect_language("Bilen vises ikke på kartet") == "sv"
    result = classify("Tracker zeigt keine Position")
    assert result.language == "en"
    assert any(r.startswith("language en") and "written in de" in r for r in result.reasons)


def test_the_reason_gives_the_language_and_its_confidence() -> None:
    reasons = classify("не работает трекер").reasons
    assert reasons[-1] == "language ru (confidence 1.00)"


def test_text_without_letters_never_reaches_the_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise AssertionError("detector used")

    monkeypatch.setattr(language, "_detector", refuse)
    for text in ("", "   ", "356307042441013", "12:00 !!! 0.0 -"):
        assert language.detect(text) is None
        assert classify(text).language is None


def test_a_long_ticket_is_read_from_its_start() -> None:
    pasted_log = "\n".join(f"2026-03-01T10:{i % 60:02d}:00Z imei=356307042441013 status=ok" for i in range(400))
    text = "Lokalizator nie wysyła pozycji, poniżej log:\n" + pasted_log
    assert len(text) > language.MAX_CHARS
    assert language.detect_language(text) == "pl"


def test_the_detector_is_built_on_first_use() -> None:
    code = (
        "from telediag.tickets import classify\n"
        "from telediag.tickets.classifier import language\n"
        "before = language._detector.cache_info().currsize\n"
        "found = classify.classify('не работает трекер').language\n"
        "print(before, language._detector.cache_info().currsize, found)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["0", "1", "ru"]
