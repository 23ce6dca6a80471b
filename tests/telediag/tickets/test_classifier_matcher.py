"""The text matcher alone: keyword tables to category and topic, pure, with no language detection."""

from __future__ import annotations

import subprocess
import sys

import pytest

from telediag.tickets.classifier.keywords import LANGUAGES, RULES, TOPICS
from telediag.tickets.classifier.matcher import DEFAULT_REASON, TextMatch, fold, match_text, quoted
from tests.telediag.tickets.test_classify import TICKETS


@pytest.mark.parametrize(("language", "text", "category", "topic"), TICKETS, ids=[t[1][:40] for t in TICKETS])
def test_each_language_tables_stand_on_their_own(language: str, text: str, category: str, topic: str) -> None:
    result = match_text(text, (language,))
    assert (result.category, result.topic, result.matched) == (category, topic, True)


def test_mixed_text_needs_the_tables_of_both_languages() -> None:
    text = "Report не формируется"
    alone = match_text(text, ("ru",))  # a fault, but without the English tables not which one
    assert (alone.category, alone.topic, alone.reason) == ("system_problem", "remote_diagnostics",
                                                           'text "не формируется" -> a fault described')
    assert match_text(text, ("en",)).category == "how_to"
    both = match_text(text, ("ru", "en"))
    assert (both.category, both.topic) == ("system_problem", "system_reports")
    assert both == match_text(text)


def test_the_reason_quotes_the_words_as_written() -> None:
    result = match_text("Raport przebiegu pokazuje BŁĘDNE dane")
    assert result.reason == 'text "raport" -> reports; "błędne" says it is wrong or broken -> system problem'


@pytest.mark.parametrize(("text", "category"), [
    ("How do I set up e-mail notifications?", "how_to"),
    ("E-mail notifications stopped arriving", "system_problem"),
    ("Jak ustawić powiadomienia SMS?", "how_to"),
    ("Nie przychodzą powiadomienia SMS", "system_problem"),
])
def test_a_topic_without_its_own_category_is_broken_only_when_the_text_says_so(text: str, category: str) -> None:
    result = match_text(text)
    assert (result.topic, result.category) == ("scheduled_reports_notifications", category)


def test_the_first_rule_wins() -> None:
    # Stolen comes before everything, even words that alone would say "platform down".
    assert match_text("Server down and our truck was stolen").topic == "stolen_vehicle"
    assert match_text("The server is down").topic == "critical_server_failure"


@pytest.mark.parametrize(("text", "topic"), [
    ("Plattformen ligger nere", "critical_server_failure"),  # one word between the stems
    ("Plattformen ligger helt nere", "critical_server_failure"),  # two
    ("Plattformen ligger nu helt nere", "consultation"),  # three: too far apart
    ("Plattformen ligger. Nere", "consultation"),  # not in one sentence
])
def test_the_stems_of_a_term_stay_close_within_one_sentence(text: str, topic: str) -> None:
    assert match_text(text).topic == topic


def test_ignored_phrases_do_not_count() -> None:
    assert match_text("Do you sell an anti-theft alarm?").topic != "stolen_vehicle"
    assert match_text("Anti-theft alarm went off, the van was stolen").topic == "stolen_vehicle"


def test_contractions_are_expanded() -> None:
    assert match_text("The tracker doesn't work").topic == "remote_diagnostics"
    assert match_text("I can't log in").topic == "accounts_permissions"


def test_folding_drops_latin_diacritics_and_reads_yo_as_ye() -> None:
    assert fold("kradzież") == "kradziez"
    assert fold("körjournal") == "korjournal"
    assert fold("łódź") == "lodz"
    assert fold("отчёт") == "отчет"
    assert fold("йод") == "йод"


def test_nothing_matched_is_the_default_consultation() -> None:
    for text in ("", "   ", "12345", "你好"):
        assert match_text(text) == TextMatch("how_to", "consultation", DEFAULT_REASON, False)


def test_quoted_shows_each_word_once_and_not_inside_a_longer_phrase() -> None:
    assert quoted(["nie działa", "nie", "działa", "serwer", "serwer"]) == '"nie działa", "serwer"'


def test_every_rule_names_a_topic_and_tables_in_every_language() -> None:
    for rule in RULES:
        assert rule.topic in TOPICS
        for table in (*rule.any_of, *(t for group in rule.all_of for t in group)):
            assert set(table) == set(LANGUAGES), rule.what


def test_the_matcher_needs_no_language_model() -> None:
    code = ("import sys, telediag.tickets.classifier.matcher as m\n"
            "m.match_text('Tracker offline')\n"
            "print('lingua' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"
