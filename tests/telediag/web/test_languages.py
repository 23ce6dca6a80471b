"""The console's languages: negotiation, the catalogues (complete, no fuzzy or empty entries, placeholders
that format), the self-check said in Polish with device commands kept literal, over the real API and
console, and the CLI's ``selfcheck --lang``."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from twisted.internet import defer, task

from protocols.record import iso_utc
from telediag import cli
from telediag.config import Thresholds
from telediag.diagnostics.connectivity_events import parse_event
from telediag.diagnostics.engine import DiagnosticsEngine, EngineView
from telediag.diagnostics.hints import hint
from telediag.diagnostics.selfcheck import _detail, render_text, translate_selfcheck
from telediag.diagnostics.wording import ENGLISH, N_, Nn_, said
from telediag.languages import LANGUAGES, catalogue, negotiate
from telediag.store.connectivity import save_events
from telediag.store.writer import RecordBatch, Store
from telediag.web.i18n import TRANSLATED_BY_VALUE
from telediag.web.resources import WRONG_CREDENTIALS
from telediag.web.users import create_user
from tests.stores import database_at
from tests.telediag.api.support import ACME, ICCID_A, IMEI_A, IMEI_A2, LAT_A, LON_A, T0, ApiTestCase, record
from tests.telediag.web.support import PASSWORD, cookie_value, form_sign_in, hidden_csrf, session_of, set_cookies

PROJECT_ROOT = Path(__file__).resolve().parents[3]
LOCALE = PROJECT_ROOT / "telediag" / "locale"
TRANSLATED = tuple(language for language in LANGUAGES if language != "en")
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "Nn_": (1, 2), "FindingSpec": (6,), "ChartSpec": (2,)}
"""What ``make messages`` passes to ``pybabel extract`` (-k N_ -k Nn_:1,2 -k FindingSpec:6 -k ChartSpec:2)."""
NOW = T0 + 400

POWER_HINT = {
    "pl": "Lokalizator stracił zasilanie z pojazdu i działa na wewnętrznym akumulatorze.",
    "ru": "Трекер потерял питание от автомобиля и работает от встроенного аккумулятора.",
    "sv": "Spårsändaren har förlorat strömmen från fordonet och går på sitt interna batteri.",
}
"""The first sentence of the fix for EXTERNAL_POWER_LOST in each language."""


def catalogue_of(language: str) -> Catalog:
    with (LOCALE / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


# Negotiation ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("header, language", [
    ("pl-PL,pl;q=0.9,en-US;q=0.8,en;q=0.7", "pl"),
    ("sv-SE", "sv"),
    ("de-DE,de;q=0.9,ru;q=0.5", "ru"),
    ("en-GB,pl;q=0.9", "en"),
    ("ru;q=0.3, sv;q=0.8", "sv"),
    ("fr-FR,fr;q=0.9,de;q=0.8", "en"),
    ("*", "en"),
    ("", "en"),
    (None, "en"),
    ("pl;q=abc, !!!, sv", "sv"),
])
def test_accept_language_picks_the_best_console_language(header: str | None, language: str) -> None:
    assert negotiate(header) == language


# Catalogues ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("language", TRANSLATED)
def test_every_catalogue_entry_is_translated_and_none_is_fuzzy(language: str) -> None:
    catalog = catalogue_of(language)
    assert catalog.num_plurals == {"pl": 3, "ru": 3, "sv": 2}[language]
    entries = [message for message in catalog if message.id]
    assert len(entries) > 300
    for message in entries:
        assert not message.fuzzy, f"{language}: fuzzy {message.id!r}"
        forms = message.string if isinstance(message.id, tuple) else (message.string,)
        assert len(forms) == (catalog.num_plurals if isinstance(message.id, tuple) else 1), message.id
        assert all(form and form.strip() for form in forms), f"{language}: untranslated {message.id!r}"


_PERCENT = re.compile(r"%\((\w+)\)[sd]")
_BRACES = re.compile(r"\{(\w*)[^{}]*\}")


def _uses_braces(message: Any) -> bool:
    """Self-check texts are ``str.format`` messages; everything else is %-formatted (Jinja's newstyle
    gettext formats every template string with %, even one without placeholders)."""
    return any(path.startswith("telediag/diagnostics/") for path, _ in message.locations)


@pytest.mark.parametrize("language", TRANSLATED)
def test_placeholders_of_every_translation_match_its_source_and_format(language: str) -> None:
    catalog = catalogue_of(language)
    for message in (m for m in catalog if m.id):
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        forms = message.string if isinstance(message.id, tuple) else (message.string,)
        braces = _uses_braces(message)
        pattern = _BRACES if braces else _PERCENT
        wanted = {name for source in sources for name in pattern.findall(source)}
        found = [set(pattern.findall(form)) for form in forms]
        if isinstance(message.id, tuple):  # a singular form may leave the number out, as English does
            assert set().union(*found) == wanted and all(names <= wanted for names in found), message.id
        else:
            assert found[0] == wanted, f"{language}: {message.id!r} -> {message.string!r}"
        values = {name: "x" for name in wanted}
        for form in forms:
            if braces:
                form.format(**values)
            else:
                form % values  # noqa: B018 (a stray % raises here, as it would on the page)


def extracted_messages() -> dict[str, str | tuple[str, ...]]:
    """Every message ``make messages`` extracts right now, from the templates and the Python modules of
    babel.cfg, by msgid (its singular for plural messages)."""
    with (PROJECT_ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)

    def only_the_package(path: str) -> bool:
        relative = os.path.relpath(path, PROJECT_ROOT)
        name = os.path.basename(path)
        return (relative == "telediag" or relative.startswith("telediag" + os.sep)) and not name.startswith(
            (".", "_"))

    found: dict[str, str | tuple[str, ...]] = {}
    for _filename, _line, message, _comments, _context in extract_from_dir(
            PROJECT_ROOT, method_map, options_map, KEYWORDS, ("Translators:",), directory_filter=only_the_package):
        key = message if isinstance(message, str) else message[0]
        if key:
            found[key] = message
    return found


def test_every_extracted_text_is_in_every_catalogue() -> None:
    """Fails when a template or module gains a text no catalogue has: run ``make messages`` and translate
    the new entries."""
    extracted = extracted_messages()
    assert len(extracted) > 300
    assert "Set the APN to \"{apn}\": send the SMS \"{sms}\" to the tracker's number (some firmware wants " \
           "\"{sms_with_password}\" with the SMS password), then \"{reset}\"." in extracted
    assert "Sign in" in extracted
    for language in TRANSLATED:
        catalog = catalogue_of(language)
        missing = sorted(key for key, message in extracted.items()
                         if catalog.get(key) is None or not catalog.get(key).string
                         or (isinstance(message, tuple) and catalog.get(key).id != tuple(message)))
        assert missing == [], f"{language} lacks {len(missing)} texts (make messages, then translate): {missing}"


# Self-check texts, without the web ------------------------------------------------------------------------------

def test_english_texts_are_plain_strings_that_say_themselves() -> None:
    text = N_("Tracker {imei}: {overall}", imei="356307042441013", overall=N_("PROBLEM"))
    assert text == "Tracker 356307042441013: PROBLEM" and said(text, ENGLISH) == text
    assert json.dumps({"t": text}) == '{"t": "Tracker 356307042441013: PROBLEM"}'
    assert said(text, catalogue("pl")) == "Tracker 356307042441013: PROBLEM"  # not a catalogue entry
    assert said(N_("PROBLEM"), catalogue("ru")) == "ПРОБЛЕМА"
    assert said(42, catalogue("ru")) == 42


def test_a_broken_translation_falls_back_to_english() -> None:
    class Broken:
        def gettext(self, message: str) -> str:
            return "Lokalizator {imie}"

        def ngettext(self, singular: str, plural: str, n: int) -> str:
            return "{count"

    assert said(N_("Tracker {imei}", imei="1"), Broken()) == "Tracker 1"
    assert said(Nn_("{count} journey", "{count} journeys", 3), Broken()) == "3 journeys"


@pytest.mark.parametrize("count, polish, russian", [
    (1, "wykryto 1 krótki fałszywy przejazd", "обнаружена 1 короткая ложная поездка"),
    (3, "wykryto 3 krótkie fałszywe przejazdy", "обнаружены 3 короткие ложные поездки"),
    (5, "wykryto 5 krótkich fałszywych przejazdów", "обнаружено 5 коротких ложных поездок"),
    (21, "wykryto 21 krótkich fałszywych przejazdów", "обнаружена 21 короткая ложная поездка"),
    (None, "wykryto None krótkich fałszywych przejazdów", "обнаружено None коротких ложных поездок"),
])
def test_counts_take_each_language_s_plural_form(count: int | None, polish: str, russian: str) -> None:
    result = {"imei": "1", "checked_at": "t", "overall": "attention", "checks": [
        {"id": "ignition", "status": "warn", "title": "", "hint": None, "finding": "JOURNEY_FALSE_STARTS",
         "detail": _detail("JOURNEY_FALSE_STARTS", {"count": count})}]}
    english = "journey was" if count == 1 else "journeys were"
    assert result["checks"][0]["detail"] == f"{count} short false {english} detected while the vehicle was parked."
    assert polish in translate_selfcheck(result, catalogue("pl"))["checks"][0]["detail"]
    assert russian in translate_selfcheck(result, catalogue("ru"))["checks"][0]["detail"]


def test_evidence_of_an_unexpected_shape_gives_the_finding_s_title_in_the_reader_s_language() -> None:
    detail = _detail("GPS_NO_FIX", {"without_fix_share": None})
    assert detail == "No GPS position while the vehicle is in use."
    assert said(detail, catalogue("pl")) == "Brak pozycji GPS podczas używania pojazdu."


def test_texts_kept_as_constants_elsewhere_are_extracted_here() -> None:
    assert WRONG_CREDENTIALS in TRANSLATED_BY_VALUE
    assert catalogue("sv").gettext(WRONG_CREDENTIALS) == "Fel användarnamn eller lösenord."


@pytest.mark.parametrize("language", TRANSLATED)
def test_device_commands_stay_literal_in_every_language(language: str) -> None:
    texts = catalogue(language)
    teltonika = hint("APN_MISCONFIGURED", "teltonika", {"expected_apn": "fleet.example"}, None)
    gt06 = hint("NO_DATA_AFTER_ACTIVATION", "gt06", {}, {"apn": "m2m.example"})
    unknown_apn = hint("NO_DATA_AFTER_ACTIVATION", "gt06", {}, {})
    clock = hint("CLOCK_INVALID", "teltonika", {}, None)
    said_teltonika, said_gt06 = said(teltonika, texts), said(gt06, texts)
    assert said_teltonika != teltonika and said_gt06 != gt06  # translated ...
    for command in ("  setparam 2001:fleet.example", "setparam 2002:", "setparam 2003:"):
        assert command in teltonika and command in said_teltonika  # ... with the commands as they were
    for command in ("APN,m2m.example#", "APN,666666,m2m.example#", "RESET#"):
        assert command in gt06 and command in said_gt06
    assert '"getgps"' in clock and "getgps" in said(clock, texts)
    placeholder = said(N_("<APN from the SIM contract>"), texts)
    assert placeholder != "<APN from the SIM contract>" and f"APN,{placeholder}#" in said(unknown_apn, texts)


# Over HTTP: the console and the API ----------------------------------------------------------------------------

class LanguageTests(ApiTestCase):
    """The real API and console with the real diagnostics engine, on a store with one tracker that lost its
    power feed (Acme's second tracker) and one whose SIM's data sessions are refused (Acme's first)."""

    def setUp(self) -> None:
        super().setUp()
        path = self.config.database_path
        store = Store(database_at(path))
        for i in range(6):
            cut = dataclasses.replace(record(IMEI_A2, 60 * i, LAT_A, LON_A), ext_voltage_v=0.0)
            store.commit([RecordBatch(IMEI_A2, "teltonika", [cut], T0 + 60 * i + 2)])
        store.close()
        db = database_at(path).connect()
        create_user(db, "alice", "customer", ACME, PASSWORD, 0.0)
        save_events(db, [parse_event({"iccid": ICCID_A, "at": iso_utc(T0 + 100 + i), "type": "pdp_reject",
                                      "cause": 33, "apn": "wrong.apn"}) for i in range(3)], T0 + 200)
        db.commit()
        db.close()
        engine = DiagnosticsEngine(database_at(path), Thresholds())
        self.addCleanup(engine.close)
        engine.check_device(IMEI_A2, NOW)  # stored: the self-check says when it was first noticed
        clock = task.Clock()
        clock.advance(NOW + 60)
        self.diagnostics = EngineView(engine, clock)

    @defer.inlineCallbacks
    def page(self, path: str, headers: dict[str, str] | None = None) -> Any:
        answer = yield self.call("GET", path, headers=headers)
        return answer

    @defer.inlineCallbacks
    def signed_in(self) -> Any:
        """A session cookie for alice (customer of Acme)."""
        answer = yield form_sign_in(self, "alice")
        self.assertEqual(answer.status, 303, answer.data)
        return session_of(answer)

    @defer.inlineCallbacks
    def test_the_sign_in_page_in_polish_for_a_polish_browser(self) -> Any:
        yield self.start()
        answer = yield self.page("/login", {"Accept-Language": "pl-PL,pl;q=0.9,en;q=0.5"})
        self.assertEqual(answer.status, 200)
        html = answer.data.decode()
        self.assertIn('<html lang="pl">', html)
        self.assertIn("<title>Zaloguj się · telediag</title>", html)
        self.assertIn('<label for="username">Nazwa użytkownika</label>', html)
        self.assertIn('<label for="password">Hasło</label>', html)
        self.assertIn('<button type="submit">Zaloguj się</button>', html)
        self.assertIn('<span aria-current="true" lang="pl">Polski</span>', html)
        self.assertIn('<a href="?lang=sv" lang="sv" hreflang="sv">Svenska</a>', html)
        self.assertNotIn("telediag_lang", "".join(set_cookies(answer)))  # a browser's wish is not remembered
        english = yield self.page("/login", {"Accept-Language": "fr-FR,fr;q=0.9"})
        self.assertIn('<html lang="en">', english.data.decode())
        self.assertIn('<label for="password">Password</label>', english.data.decode())

    @defer.inlineCallbacks
    def test_a_refused_password_is_said_in_polish(self) -> Any:
        yield self.start()
        form = yield self.page("/login", {"Accept-Language": "pl"})
        answer = yield self.call("POST", "/login", raw=(
            f"username=alice&password=wrong&csrf_token={hidden_csrf(form.data)}").encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "pl",
                     "Cookie": f"telediag_login_csrf={cookie_value(set_cookies(form)['telediag_login_csrf'])}"})
        self.assertEqual(answer.status, 401)
        self.assertIn('<p class="message" role="alert">Nieprawidłowa nazwa użytkownika lub hasło.</p>',
                      answer.data.decode())

    @defer.inlineCallbacks
    def test_the_switcher_s_language_wins_and_is_remembered(self) -> Any:
        yield self.start()
        answer = yield self.page("/login?lang=sv", {"Accept-Language": "pl", "Cookie": "telediag_lang=ru"})
        self.assertIn('<html lang="sv">', answer.data.decode())
        self.assertIn("Logga in", answer.data.decode())
        remembered = set_cookies(answer)["telediag_lang"]
        self.assertEqual(cookie_value(remembered), "sv")
        self.assertIn("max-age=31536000", remembered.lower())
        later = yield self.page("/login", {"Accept-Language": "pl", "Cookie": "telediag_lang=sv"})
        self.assertIn('<html lang="sv">', later.data.decode())  # the cookie beats the browser's header
        unknown = yield self.page("/login?lang=xx", {"Accept-Language": "ru"})
        self.assertIn('<html lang="ru">', unknown.data.decode())
        self.assertNotIn("telediag_lang", "".join(set_cookies(unknown)))

    @defer.inlineCallbacks
    def test_the_api_self_check_answers_in_the_language_asked(self) -> Any:
        yield self.start()
        path = f"/api/v1/devices/{IMEI_A2}/selfcheck"
        english = yield self.call("GET", path, "customer")
        self.assertEqual((english.status, english.header("Content-Language")), (200, "en"))
        power = {c["id"]: c for c in english.json["checks"]}["power"]
        self.assertEqual((power["status"], power["finding"], power["title"]),
                         ("fail", "EXTERNAL_POWER_LOST", "Power supply"))
        self.assertTrue(power["hint"].startswith("The tracker has lost the vehicle's power"))
        self.assertRegex(power["detail"], r" First noticed 20\d\d-\d\d-\d\d \d\d:\d\d UTC\.$")
        for how in ({"path": f"{path}?lang=pl"}, {"path": path, "headers": {"Accept-Language": "pl-PL,pl;q=0.9"}}):
            polish = yield self.call("GET", how["path"], "customer", headers=how.get("headers"))
            self.assertEqual((polish.status, polish.header("Content-Language")), (200, "pl"))
            body = polish.json
            self.assertEqual(set(body), set(english.json))
            self.assertEqual([(c["id"], c["status"], c["finding"]) for c in body["checks"]],
                             [(c["id"], c["status"], c["finding"]) for c in english.json["checks"]])
            check = {c["id"]: c for c in body["checks"]}["power"]
            self.assertEqual(check["title"], "Zasilanie")
            self.assertTrue(check["hint"].startswith(POWER_HINT["pl"]), check["hint"])
            self.assertIn("Po raz pierwszy zauważono 20", check["detail"])
            self.assertEqual(check["evidence"], power["evidence"])
        refused = yield self.call("GET", f"{path}?lang=de", "customer")
        self.assertError(refused, 400, "invalid_parameter")

    @defer.inlineCallbacks
    def test_the_api_keeps_device_commands_literal_in_swedish_and_russian(self) -> Any:
        yield self.start()
        for language, needs in (("sv", "SIM-kortet kräver"), ("ru", "SIM-карте нужен")):
            answer = yield self.call("GET", f"/api/v1/devices/{IMEI_A}/selfcheck?lang={language}", "technical")
            self.assertEqual(answer.status, 200, answer.data)
            check = {c["id"]: c for c in answer.json["checks"]}["connectivity"]
            self.assertEqual(check["finding"], "APN_MISCONFIGURED")
            self.assertIn(needs, check["detail"])
            for command in ("  setparam 2001:internet", "setparam 2002:", "setparam 2003:"):
                self.assertIn(command, check["hint"])

    @defer.inlineCallbacks
    def test_the_tracker_page_shows_the_self_check_in_polish(self) -> Any:
        yield self.start()
        session = yield self.signed_in()
        answer = yield self.page(f"/devices/{IMEI_A2}?lang=pl", {"Cookie": f"telediag_session={session}"})
        self.assertEqual(answer.status, 200, answer.data)
        html = answer.data.decode()
        self.assertIn('<html lang="pl">', html)
        self.assertIn('data-check="power"', html)
        self.assertIn("Zasilanie", html)
        self.assertIn(POWER_HINT["pl"], html)
        self.assertNotIn("The tracker has lost the vehicle", html)
        home = yield self.page("/", {"Cookie": f"telediag_session={session}; telediag_lang=ru"})
        self.assertIn("Вы вошли как", home.data.decode())
        self.assertIn('data-role="customer">клиент</span>', home.data.decode())


# The command line ----------------------------------------------------------------------------------------------

def test_cli_selfcheck_speaks_polish(tmp_path: Path) -> None:
    path = tmp_path / "telediag.sqlite3"
    from tests.telediag.api.support import populate

    populate(path)
    store = Store(database_at(path))
    cut = dataclasses.replace(record(IMEI_A2, 0, LAT_A, LON_A), ext_voltage_v=0.0)
    store.commit([RecordBatch(IMEI_A2, "teltonika", [cut], T0 + 2)])
    store.close()
    outputs = {}
    for language in ("en", "pl"):
        out = io.StringIO()
        with redirect_stdout(out):
            assert cli.main(["selfcheck", IMEI_A2, "--data-dir", str(tmp_path), "--lang", language]) == 0
        outputs[language] = out.getvalue()
    assert outputs["en"].startswith(f"Tracker {IMEI_A2}: ") and "What to do: " in outputs["en"]
    assert outputs["pl"].startswith(f"Lokalizator {IMEI_A2}: ") and "Co zrobić: " in outputs["pl"]
    assert "[FAIL] Zasilanie: " in outputs["pl"]
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["selfcheck", IMEI_A2, "--data-dir", str(tmp_path), "--lang", "sv", "--json"]) == 0
    checks = {check["id"]: check for check in json.loads(out.getvalue())["checks"]}
    assert checks["power"]["title"] == "Strömförsörjning"
    text = render_text({"imei": "1", "checked_at": "t", "overall": "ok", "checks": []})
    assert text == "Tracker 1: OK (checked t)\n\n"
