"""Ticket classification: findings first, then Polish, Russian, Swedish and English text."""

from __future__ import annotations

import dataclasses
import unicodedata

import pytest

from telediag.diagnostics.catalogue import FINDINGS
from telediag.tickets.classifier import keywords as module
from telediag.tickets.classify import (
    CATEGORIES,
    FINDING_CLASSES,
    LANGUAGES,
    TOPICS,
    Classification,
    classify,
    detect_language,
)

SP, HT, FI = "system_problem", "how_to", "feature_inquiry"

TICKETS = [
    # Polish
    ("pl", "Samochód został skradziony w nocy, prosimy o pilne śledzenie", SP, "stolen_vehicle"),
    ("pl", "Ukradli nam ciężarówkę spod magazynu!", SP, "stolen_vehicle"),
    ("pl", "Serwer nie działa, nikt z nas nie może się zalogować", SP, "critical_server_failure"),
    ("pl", "Nie pamiętam hasła do konta, jak je zresetować?", HT, "accounts_permissions"),
    ("pl", "Prosimy o nadanie uprawnień dla nowego użytkownika", HT, "accounts_permissions"),
    ("pl", "Dane w systemie są nieaktualne, ostatnia pozycja sprzed 5 godzin", SP, "data_update"),
    ("pl", "Raport przebiegu za marzec pokazuje błędne dane", SP, "system_reports"),
    ("pl", "Jak wygenerować raport tankowań?", HT, "system_reports"),
    ("pl", "Nie przychodzą powiadomienia e-mail o wjeździe do strefy", SP, "scheduled_reports_notifications"),
    ("pl", "Proszę o sprawdzenie naruszenia: przekroczenie prędkości na A2", HT, "violations_check"),
    ("pl", "Czy można dodać raport zużycia paliwa?", FI, "consultation"),
    ("pl", "Nie widać pojazdu na mapie od wczoraj", SP, "remote_diagnostics"),
    ("pl", "Lokalizator nie działa po wymianie akumulatora", SP, "remote_diagnostics"),
    ("pl", "Brak pozycji od rana", SP, "remote_diagnostics"),
    ("pl", "Nie ma raportu dla pojazdu WX12345", SP, "system_reports"),
    ("pl", "Przekroczenie granicy, brak danych z lokalizatora", SP, "remote_diagnostics"),
    # Russian
    ("ru", "Угнали машину сегодня ночью, срочно нужна помощь", SP, "stolen_vehicle"),
    ("ru", "Автомобиль угнан, включите режим слежения", SP, "stolen_vehicle"),
    ("ru", "Сервер не работает с утра", SP, "critical_server_failure"),
    ("ru", "Никто из сотрудников не может войти в систему", SP, "critical_server_failure"),
    ("ru", "Забыл пароль, как его восстановить?", HT, "accounts_permissions"),
    ("ru", "Нужен доступ для нового диспетчера", HT, "accounts_permissions"),
    ("ru", "Отчёт по пробегу не формируется", SP, "system_reports"),
    ("ru", "Как настроить уведомления о въезде в геозону?", HT, "scheduled_reports_notifications"),
    ("ru", "Проверьте, пожалуйста, нарушение: превышение скорости 12 мая", HT, "violations_check"),
    ("ru", "Устаревшие данные на карте, позиция не обновляется", SP, "data_update"),
    ("ru", "Можно ли добавить отчёт по расходу топлива?", FI, "consultation"),
    ("ru", "Хотелось бы видеть температуру рефрижератора", FI, "consultation"),
    ("ru", "Нет позиции на карте уже два дня", SP, "remote_diagnostics"),
    ("ru", "Трекер не работает после замены аккумулятора", SP, "remote_diagnostics"),
    # Swedish
    ("sv", "Vår bil har blivit stulen i natt, vi behöver spåra den", SP, "stolen_vehicle"),
    ("sv", "Stöld av lastbil, polisen är informerad", SP, "stolen_vehicle"),
    ("sv", "Plattformen ligger nere, ingen av oss kan logga in", SP, "critical_server_failure"),
    ("sv", "Jag har glömt mitt lösenord", HT, "accounts_permissions"),
    ("sv", "Ny kollega behöver behörighet till fordonen", HT, "accounts_permissions"),
    ("sv", "Rapporten för körjournal visar fel körsträcka", SP, "system_reports"),
    ("sv", "Aviseringar via e-post kommer inte fram", SP, "scheduled_reports_notifications"),
    ("sv", "Hur kontrollerar jag fortkörning för en förare?", HT, "violations_check"),
    ("sv", "Gamla data i appen, positionerna uppdateras inte", SP, "data_update"),
    ("sv", "Kan ni lägga till en bränslerapport?", FI, "consultation"),
    ("sv", "Vi önskar en export till Excel", FI, "consultation"),
    ("sv", "Vi kan inte se bilen på kartan sedan igår", SP, "remote_diagnostics"),
    ("sv", "GPS-enheten fungerar inte", SP, "remote_diagnostics"),
    ("sv", "Hur byter jag färg på ikonerna?", HT, "consultation"),
    ("sv", "Hur lägger jag till en ny användare?", HT, "accounts_permissions"),
    # English
    ("en", "Our van was stolen last night, please track it urgently", SP, "stolen_vehicle"),
    ("en", "The platform is down, nobody can log in", SP, "critical_server_failure"),
    ("en", "I forgot my password, how do I reset it?", HT, "accounts_permissions"),
    ("en", "Please give my colleague access to the fleet", HT, "accounts_permissions"),
    ("en", "The monthly mileage report shows wrong distances", SP, "system_reports"),
    ("en", "How do I export a trip report?", HT, "system_reports"),
    ("en", "Email alerts stopped arriving this week", SP, "scheduled_reports_notifications"),
    ("en", "Can you check the speeding violations for driver Smith?", HT, "violations_check"),
    ("en", "The data is outdated, last position from yesterday", SP, "data_update"),
    ("en", "Could you add a fuel report?", FI, "consultation"),
    ("en", "It would be great if the app had a dark mode", FI, "consultation"),
    ("en", "The truck doesn't show on the map", SP, "remote_diagnostics"),
    ("en", "Tracker offline since Monday", SP, "remote_diagnostics"),
    ("en", "The tracker stopped reporting", SP, "remote_diagnostics"),
    ("en", "The report is not showing data for the car", SP, "system_reports"),
    ("en", "Can you add a new user for our driver?", HT, "accounts_permissions"),
    ("en", "How can I change the name of a vehicle?", HT, "consultation"),
]


@pytest.mark.parametrize(("language", "text", "category", "topic"), TICKETS, ids=[t[1][:40] for t in TICKETS])
def test_ticket_text(language: str, text: str, category: str, topic: str) -> None:
    result = classify(text)
    assert (result.category, result.topic, result.language) == (category, topic, language)
    assert result.reasons and result.reasons[0].startswith("text ")


def test_every_language_has_at_least_six_tickets() -> None:
    for language in LANGUAGES:
        assert sum(1 for t in TICKETS if t[0] == language) >= 6


@pytest.mark.parametrize(("text", "topic"), [
    ("Samochod zostal skradziony w nocy", "stolen_vehicle"),
    ("Kradziez auta, prosze o pomoc", "stolen_vehicle"),
    ("Lokalizator nie dziala", "remote_diagnostics"),
    ("Jag har glomt mitt losenord", "accounts_permissions"),
    ("Bilen ar stulen", "stolen_vehicle"),
    ("Отчет по пробегу не формируется", "system_reports"),
    ("SAMOCHÓD ZOSTAŁ SKRADZIONY", "stolen_vehicle"),
    ("Угон! Машину угнали со стоянки", "stolen_vehicle"),
])
def test_diacritics_case_and_inflections(text: str, topic: str) -> None:
    assert classify(text).topic == topic


@pytest.mark.parametrize("text", [
    "Do you have an anti-theft alarm for the van?",
    "Czy oferujecie alarm antykradzieżowy?",
    "Есть ли противоугонная система?",
    "Finns det stöldskydd i enheten?",
])
def test_theft_protection_questions_are_not_stolen_vehicles(text: str) -> None:
    assert classify(text).topic != "stolen_vehicle"


def test_the_reasons_quote_the_deciding_words() -> None:
    result = classify("Raport przebiegu pokazuje błędne dane")
    assert any('"raport"' in r and '"błędne"' in r for r in result.reasons)


# --- findings -------------------------------------------------------------------------------

def test_activation_pending_explains_a_missing_position() -> None:
    result = classify("No position on the map", ["ACTIVATION_PENDING"])
    assert (result.category, result.topic) == ("how_to", "consultation")
    assert result.reasons[0].startswith("finding ACTIVATION_PENDING")
    assert any("decide over the text" in r for r in result.reasons)


def test_stolen_text_beats_device_silent() -> None:
    result = classify("Угнали машину, трекер молчит", ["DEVICE_SILENT"])
    assert (result.category, result.topic) == ("system_problem", "stolen_vehicle")
    assert any("DEVICE_SILENT" in r for r in result.reasons)


def test_stolen_text_beats_even_a_mass_outage() -> None:
    assert classify("Our truck was stolen", ["MASS_OUTAGE"]).topic == "stolen_vehicle"


DEVICE_FINDINGS = ["NO_DATA_AFTER_ACTIVATION", "DEVICE_SILENT", "APN_MISCONFIGURED", "GPS_NO_FIX",
                   "GPS_POOR_QUALITY", "IGNITION_ALWAYS_ON", "IGNITION_NOT_DETECTED", "JOURNEY_FALSE_STARTS",
                   "EXTERNAL_POWER_LOST", "BATTERY_LOW", "CLOCK_INVALID"]


@pytest.mark.parametrize(("code", "category", "topic"), [
    ("ACTIVATION_PENDING", "how_to", "consultation"),
    ("ROAMING_REJECTED", "how_to", "accounts_permissions"),
    ("EU_COVERAGE_INACTIVE", "how_to", "accounts_permissions"),
    ("DATA_DELAYED", "system_problem", "data_update"),
    ("PROTOCOL_ERRORS", "system_problem", "data_update"),
    ("MASS_OUTAGE", "system_problem", "critical_server_failure"),
    ("LOW_GSM_SIGNAL", "how_to", "consultation"),
    *[(code, "system_problem", "remote_diagnostics") for code in DEVICE_FINDINGS],
])
def test_a_single_finding_decides_over_the_text(code: str, category: str, topic: str) -> None:
    result = classify("Could you add a fuel report?", [code])
    assert (result.category, result.topic) == (category, topic)
    assert result.reasons[0].startswith(f"finding {code} ")


@pytest.mark.parametrize(("codes", "topic", "decider"), [
    (["ACTIVATION_PENDING", "DEVICE_SILENT"], "remote_diagnostics", "DEVICE_SILENT"),
    (["ROAMING_REJECTED", "ACTIVATION_PENDING"], "accounts_permissions", "ROAMING_REJECTED"),
    (["ROAMING_REJECTED", "DATA_DELAYED"], "data_update", "DATA_DELAYED"),
    (["DEVICE_SILENT", "MASS_OUTAGE", "APN_MISCONFIGURED"], "critical_server_failure", "MASS_OUTAGE"),
    (["DATA_DELAYED", "GPS_NO_FIX"], "remote_diagnostics", "GPS_NO_FIX"),
    (["LOW_GSM_SIGNAL", "DEVICE_SILENT"], "remote_diagnostics", "DEVICE_SILENT"),
    (["LOW_GSM_SIGNAL", "ROAMING_REJECTED"], "accounts_permissions", "ROAMING_REJECTED"),
])
def test_the_most_severe_finding_wins_in_any_order(codes: list[str], topic: str, decider: str) -> None:
    for ordering in (codes, list(reversed(codes))):
        result = classify("", ordering)
        assert result.topic == topic
        assert result.reasons[0].startswith(f"finding {decider} ")


def test_low_gsm_signal_alongside_another_finding_is_only_information() -> None:
    result = classify("", ["LOW_GSM_SIGNAL", "BATTERY_LOW"])
    assert result.reasons[0].startswith("finding BATTERY_LOW ")


def test_unknown_findings_are_ignored_and_the_text_decides() -> None:
    result = classify("Забыл пароль", ["SOMETHING_NEW"])
    assert result.topic == "accounts_permissions"
    assert any("SOMETHING_NEW" in r for r in result.reasons)


def test_finding_codes_are_read_case_insensitively_and_once() -> None:
    result = classify("", [" device_silent ", "DEVICE_SILENT"])
    assert result.topic == "remote_diagnostics"
    assert not any("most severe" in r for r in result.reasons)


def test_the_finding_table_covers_the_catalogue() -> None:
    assert set(FINDING_CLASSES) == set(FINDINGS)
    for category, topic in FINDING_CLASSES.values():
        assert category in CATEGORIES and topic in TOPICS


# --- empty, mixed and language detection --------------------------------------------------------

@pytest.mark.parametrize("text", ["", "   ", "123 !!!", "\n\n"])
def test_empty_text_is_a_consultation(text: str) -> None:
    result = classify(text)
    assert (result.category, result.topic, result.language) == ("how_to", "consultation", None)
    assert result.reasons


@pytest.mark.parametrize(("text", "topic", "language"), [
    ("Dzień dobry, our car was stolen", "stolen_vehicle", "pl"),
    ("Report не формируется", "system_reports", "ru"),
    ("Hej! Tracker not working, bilen syns inte på kartan", "remote_diagnostics", "sv"),
    ("Hello, lokalizator nie działa", "remote_diagnostics", "pl"),
    ("Please help: машину угнали", "stolen_vehicle", "ru"),
])
def test_mixed_language_text(text: str, topic: str, language: str) -> None:
    result = classify(text)
    assert (result.topic, result.language) == (topic, language)


@pytest.mark.parametrize(("text", "language"), [
    ("Добрый день", "ru"),
    ("Zażółć gęślą jaźń", "pl"),
    ("Samochod zostal w garazu", "pl"),
    ("Vi kan inte se bilen pa kartan", "sv"),
    ("Hälsningar", "sv"),
    ("The tracker is fine", "en"),
    ("GPS FMB920", "en"),
    ("", None),
    ("12345", None),
    ("你好", None),
])
def test_detect_language(text: str, language: str | None) -> None:
    assert detect_language(text) == language


def test_classification_is_frozen() -> None:
    result = classify("test")
    assert isinstance(result, Classification)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.topic = "stolen_vehicle"  # type: ignore[misc]


def test_keyword_tables_are_normalised_data() -> None:
    tables = {name: value for name, value in vars(module).items()
              if name.isupper() and isinstance(value, dict) and set(value) == set(LANGUAGES)}
    assert len(tables) >= 15
    for name, table in tables.items():
        for language in LANGUAGES:
            assert table[language], (name, language)
            for term in table[language]:
                assert term == unicodedata.normalize("NFKC", term).casefold().strip(), (name, term)
                assert all(stem.rstrip("$") for stem in term.split()), (name, term)
