"""Classify a ticket into a category and an SLA topic, from its findings first and its text second.

Findings are the diagnosis of the customer's own devices, so when a ticket carries any they decide;
the text only overrides them when it says the vehicle was stolen. Without findings the text decides:
customers write in Polish, Russian, Swedish and English, often mixing them, so every keyword table
is tried on every ticket.

Keywords are data: each table maps a language to terms, a term is one or more word stems separated
by spaces, written in lower case. A stem matches a token that starts with it; a stem ending in ``$``
must equal the token. The stems of a term must appear in order within one sentence, with at most
:data:`MAX_GAP` other words between two of them. Tokens and stems are both folded (Polish and
Swedish diacritics removed, ``ё`` read as ``е``), so "kradzież" and "kradziez" match alike; the
diacritics still count for language detection. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

from telediag.diagnostics.catalogue import FINDINGS

Category = Literal["how_to", "feature_inquiry", "system_problem"]
Topic = Literal[
    "critical_server_failure", "stolen_vehicle", "accounts_permissions", "data_update", "system_reports",
    "scheduled_reports_notifications", "consultation", "remote_diagnostics", "violations_check",
]
Language = Literal["pl", "ru", "sv", "en"]
Table = Mapping[str, tuple[str, ...]]

CATEGORIES: tuple[Category, ...] = ("how_to", "feature_inquiry", "system_problem")
TOPICS: tuple[Topic, ...] = (
    "critical_server_failure", "stolen_vehicle", "accounts_permissions", "data_update", "system_reports",
    "scheduled_reports_notifications", "consultation", "remote_diagnostics", "violations_check",
)
LANGUAGES: tuple[Language, ...] = ("pl", "ru", "sv", "en")
MAX_GAP = 2
"""Most words allowed between two stems of one term ("plattformen ligger nere")."""


@dataclass(frozen=True)
class Classification:
    """What a ticket is about, and why (``reasons`` are shown to staff)."""

    category: Category
    topic: Topic
    language: Language | None
    reasons: tuple[str, ...]


_DEVICE_FAULT: tuple[Category, Topic] = ("system_problem", "remote_diagnostics")
FINDING_CLASSES: Mapping[str, tuple[Category, Topic]] = {
    "MASS_OUTAGE": ("system_problem", "critical_server_failure"),
    "DATA_DELAYED": ("system_problem", "data_update"),
    "PROTOCOL_ERRORS": ("system_problem", "data_update"),
    "NO_DATA_AFTER_ACTIVATION": _DEVICE_FAULT,
    "DEVICE_SILENT": _DEVICE_FAULT,
    "APN_MISCONFIGURED": _DEVICE_FAULT,
    "GPS_NO_FIX": _DEVICE_FAULT,
    "GPS_POOR_QUALITY": _DEVICE_FAULT,
    "IGNITION_ALWAYS_ON": _DEVICE_FAULT,
    "IGNITION_NOT_DETECTED": _DEVICE_FAULT,
    "JOURNEY_FALSE_STARTS": _DEVICE_FAULT,
    "EXTERNAL_POWER_LOST": _DEVICE_FAULT,
    "BATTERY_LOW": _DEVICE_FAULT,
    "CLOCK_INVALID": _DEVICE_FAULT,
    # The fix for these is an account or plan setting, done by the customer office.
    "ROAMING_REJECTED": ("how_to", "accounts_permissions"),
    "EU_COVERAGE_INACTIVE": ("how_to", "accounts_permissions"),
    "ACTIVATION_PENDING": ("how_to", "consultation"),
    "LOW_GSM_SIGNAL": ("how_to", "consultation"),
}
"""(category, topic) per finding code."""

INFORMATIONAL_ALONE = frozenset({"LOW_GSM_SIGNAL"})
"""Findings that classify a ticket only when they are its sole finding."""

# ---------------------------------------------------------------------------------------------
# Keyword tables (language -> terms). English contractions are expanded first: "can't" is "can not".

STOLEN: Table = {
    "pl": ("skradz", "skradl", "ukrad", "kradzie", "kradzion", "złodziej"),
    "ru": ("угон", "угна", "украл", "украд", "краж", "похищ", "похит", "вор$", "воры$"),
    "sv": ("stulen", "stulit", "stulna", "stöld", "bilstöld", "fordonsstöld", "stal$", "tjuv", "tillgrep"),
    "en": ("stolen", "stole$", "theft", "thief", "thieves", "hijack", "carjack", "robbed"),
}
IGNORED: Table = {
    "pl": ("przed$ kradzie",),
    "ru": ("от$ угон",),
    "sv": ("stöldskydd",),
    "en": ("anti$ theft", "power$ outage", "power$ cut"),
}
"""Phrases that look like a keyword but are not one ("anti-theft alarm"); removed before matching."""

PLATFORM_DOWN: Table = {
    "pl": ("serwer nie$ dział", "platform nie$ dział", "system nie$ dział", "strona$ nie$ dział",
           "serwer nie$ odpowiada", "serwer niedostęp", "platform niedostęp", "serwer padł",
           "awari serwer", "awari platform", "awari systemu$"),
    "ru": ("сервер не$ работ", "платформ не$ работ", "систем не$ работ", "сайт не$ работ",
           "сервер недоступ", "платформ недоступ", "сайт недоступ", "сервер упал", "сервер лежит",
           "сбой сервер", "сайт не$ открыва"),
    "sv": ("plattform nere$", "server nere$", "system nere$", "tjänsten nere$", "sidan nere$",
           "plattform fungerar inte$", "server fungerar inte$", "server svarar inte$", "driftstörning",
           "driftstopp"),
    "en": ("server down$", "servers down$", "platform down$", "system down$", "site down$", "portal down$",
           "server not$ work", "platform not$ work", "server not$ respond", "platform not$ load", "outage",
           "bad$ gateway", "internal$ server$ error"),
}
LOGIN: Table = {
    "pl": ("zalog", "logow", "login"),
    "ru": ("войти", "зайти", "вход$", "входа$", "логин", "авториз", "залогин"),
    "sv": ("logga", "inlogg"),
    "en": ("log$ in$", "logging$ in$", "login", "logon", "log$ on$", "sign$ in$", "signin"),
}
EVERYONE: Table = {
    "pl": ("nikt$", "nikomu$", "wszyscy$", "wszystkich$", "żaden$", "żadnego$", "żadna$"),
    "ru": ("никто$", "никому$", "все$", "всех$", "ни$ один", "ни$ у$ кого$"),
    "sv": ("ingen$", "inga$", "alla$"),
    "en": ("nobody$", "no$ one$", "noone$", "everyone$", "everybody$", "all$ users", "all$ our$ users",
           "all$ of$ us$", "none$ of$"),
}
ACCOUNTS: Table = {
    "pl": ("hasł", "uprawnie", "dostęp$", "dostępu$", "dostępem$", "dostępy$", "konto$", "konta$",
           "koncie$", "kontem$", "now użytkownik", "dod użytkownik", "rola$", "role$"),
    "ru": ("парол", "доступ$", "доступа$", "доступом$", "доступы$", "доступу$", "учетн$ запис", "аккаунт",
           "прав пользовател", "нов пользовател", "добав пользовател", "роль$", "роли$"),
    "sv": ("lösenord", "behörighet", "åtkomst", "konto$", "kontot$", "användarkonto", "användarnamn",
           "ny$ användare", "lägg till$ användar", "rättighet", "tvåfaktor"),
    "en": ("password", "passwd", "access$", "permission", "rights$", "privilege", "username",
           "user$ account", "new$ user", "add user", "role$", "roles$", "two$ factor", "2fa$", "locked$ out$"),
}
DATA_OUTDATED: Table = {
    "pl": ("nieaktualn", "nie$ aktualiz", "nie$ odświeża", "stare$ dane", "starych$ dan", "opóźni",
           "przestarzał"),
    "ru": ("устаревш", "устарел", "не$ обновл", "старые$ данн", "неактуальн", "задержк", "запаздыва"),
    "sv": ("gamla$ data$", "gamla$ position", "inaktuell", "uppdateras inte$", "inte$ uppdater", "fördröj",
           "försen", "föråldrad"),
    "en": ("outdated", "out$ of$ date$", "stale$", "not$ updat", "stopped updat", "old$ data", "old$ position",
           "delayed", "data late$", "data delay"),
}
FEATURE_REQUEST: Table = {
    "pl": ("czy$ moż dod", "o$ dodani", "dodajcie", "byłoby$", "przydał", "sugesti", "propozycj",
           "now funkcj", "brakuje$ funkcj"),
    "ru": ("можно$ ли$ добав", "добавьте", "хотел бы$", "было$ бы$", "предлож", "нов функци",
           "нельзя$ ли$", "не$ могли$ бы$ добав", "пожелани"),
    "sv": ("kan$ ni$ lägga till$", "skulle ni$ kunna lägga", "vore$", "önsk", "förslag", "skulle vilja ha$",
           "ny$ funktion", "saknar funktion"),
    "en": ("could$ you$ add", "can$ you$ add", "would$ you$ add", "please$ add$", "would$ be$ great",
           "would$ be$ nice", "would$ be$ useful", "would$ be$ helpful", "would$ be$ good", "feature$ request",
           "is$ it$ possible to$ add", "would$ like to$ have$", "suggestion", "new$ feature", "wishlist"),
}
NOTIFICATIONS: Table = {
    "pl": ("powiadom", "alert", "raport cykliczn", "raport automatyczn", "harmonogram", "zaplanowan",
           "e$ mail", "email", "mail", "poczt", "sms", "subskrypc"),
    "ru": ("уведом", "оповещ", "рассылк", "по$ расписани", "на$ почту$", "по$ почте$", "почтой$",
           "e$ mail", "email", "смс", "sms"),
    "sv": ("aviser", "notis", "notifiering", "schemalag", "automatisk rapport", "e$ post$", "mejl", "e$ mail",
           "email", "sms", "påminnelse"),
    "en": ("notification", "notify", "notified", "alert", "scheduled", "automatic$ report", "e$ mail",
           "email", "sms$", "subscription"),
}
VIOLATIONS: Table = {
    "pl": ("narusz", "przekrocz prędkoś", "limit prędkoś", "mandat", "fotoradar", "wykrocz"),
    "ru": ("нарушени", "превышени", "превысил", "штраф"),
    "sv": ("överträd", "hastighetsöverträd", "fortkör", "böter", "bötes", "fartkamera", "hastighetsgräns"),
    "en": ("violation", "speeding", "speed$ limit", "fines$", "fined$", "penalt", "traffic$ offen"),
}
REPORTS: Table = {
    "pl": ("raport", "zestawieni", "statystyk"),
    "ru": ("отчет", "статистик"),
    "sv": ("rapport", "sammanställning", "statistik"),
    "en": ("report$", "reports$", "statistics"),
}
DEVICE_OFFLINE: Table = {
    "pl": ("brak$ pozycj", "brak$ lokalizac", "brak$ sygnału$ gps", "brak$ danych$ z$", "brak$ danych$ od$", "nie$ wysyła", "nie$ raportuj",
           "nie$ nadaje", "offline"),
    "ru": ("нет$ позици", "нет$ местоположени", "нет$ данных$ от", "не$ переда", "не$ выходит на$ связь",
           "не$ на$ связи$", "оффлайн", "офлайн", "offline"),
    "sv": ("ingen$ position", "inga$ position", "skickar inte$", "rapporterar inte$", "slutat rapportera",
           "slutat skicka", "offline"),
    "en": ("no$ position", "no$ gps$", "no$ location", "not$ reporting", "stopped reporting",
           "stopped sending", "not$ sending", "no$ data$ from$", "offline"),
}
"""Words that on their own say the tracker is not reporting."""
SYMPTOM: Table = {
    "pl": ("nie$ widać", "nie$ widz", "nie$ ma$", "nie$ pokazuj", "nie$ wyświetl", "znikn", "brak$"),
    "ru": ("не$ видн", "не$ виж", "нет$", "не$ отображ", "не$ показыва", "пропал", "исчез"),
    "sv": ("syns inte$", "ser$ inte$", "inte$ se$", "visas inte$", "inte$ synlig", "försvunn", "saknas"),
    "en": ("not$ see", "not$ show", "not$ visible", "not$ appear", "disappeared", "missing"),
}
"""Words that say something cannot be seen: a device fault when a vehicle, map or tracker is named."""
VISIBLE: Table = {
    "pl": ("map", "pozycj", "lokalizac", "pojazd", "samoch", "auto$", "auta$", "autem$", "ciężarów"),
    "ru": ("карт", "позици", "местоположени", "машин", "автомобил", "транспорт"),
    "sv": ("kart", "position", "bil$", "bilen$", "bilar$", "bilarna$", "fordon", "lastbil"),
    "en": ("map$", "maps$", "position", "location", "vehicle", "car$", "cars$", "truck", "van$", "vans$"),
}
HARDWARE: Table = {
    "pl": ("lokalizator", "urządzeni", "gps$", "nadajnik", "tracker", "modu"),
    "ru": ("трекер", "устройств", "gps$", "прибор", "маяч", "блок$"),
    "sv": ("enhet", "gps$", "spårsändare", "tracker", "boxen$"),
    "en": ("tracker", "device", "unit$", "units$", "gps$"),
}
NOT_WORKING: Table = {
    "pl": ("nie$ dział", "przestał dział", "zepsu", "uszkodz"),
    "ru": ("не$ работ", "перестал работ", "сломал", "сломан", "неисправ"),
    "sv": ("fungerar inte$", "funkar inte$", "inte$ fungera", "slutat fungera", "trasig", "sönder$"),
    "en": ("not$ work", "stopped work", "broken$", "faulty", "dead$"),
}
BROKEN: Table = {
    "pl": NOT_WORKING["pl"] + ("błęd", "błąd", "niepoprawn", "nieprawidłow", "brak$", "brakuje", "pust",
                               "nie$ przychodz", "nie$ dochodz", "nie$ generuj", "nie$ otrzymuj", "źle$",
                               "nie$ zgadza", "przestał", "nie$ ma$", "nie$ widać",
                               "nie$ pokazuj"),
    "ru": NOT_WORKING["ru"] + ("ошибк", "ошибочн", "неправильн", "неверн", "нет$", "пуст", "не$ приход",
                               "не$ пришл", "не$ формир", "не$ генер", "не$ получа", "отсутств",
                               "не$ совпада", "перестал", "не$ видн", "не$ отображ",
                               "не$ показыва"),
    "sv": NOT_WORKING["sv"] + ("fel$", "felaktig", "felet$", "saknas", "tom$", "tomma$", "tomt$",
                               "kommer inte$", "inte$ kommer", "visar inte$", "stämmer inte$", "får$ inte$",
                               "inte$ fått", "slutat", "syns inte$", "visas inte$"),
    "en": NOT_WORKING["en"] + ("wrong", "incorrect", "missing", "error", "empty", "blank", "bug$", "bugs$",
                               "fail", "not$ arriv", "not$ receiv", "not$ generat", "stopped", "no$ longer$",
                               "not$ show", "not$ appear"),
}
"""Words that say a report, alert or record is wrong: makes those topics a system problem."""
HOW_TO: Table = {
    "pl": ("jak$", "w$ jaki$ sposób", "gdzie$", "czy$ da$ się$", "czy$ mogę"),
    "ru": ("как$", "каким$ образом", "где$", "подскажите", "можно$ ли$"),
    "sv": ("hur$", "var$ hittar", "går$ det$ att$", "kan$ jag$", "vart$"),
    "en": ("how$", "where$ can$", "where$ do$", "is$ it$ possible", "can$ i$"),
}


@dataclass(frozen=True)
class _Rule:
    """One text rule: if any table (or every table of one group) matches, the topic is decided."""

    what: str
    topic: Topic
    category: Category | None
    """None: system_problem when a :data:`BROKEN` word is present, else how_to."""
    any_of: tuple[Table, ...] = ()
    all_of: tuple[tuple[Table, ...], ...] = ()


# First match wins: the specific and urgent before the general.
_RULES: tuple[_Rule, ...] = (
    _Rule("stolen vehicle", "stolen_vehicle", "system_problem", (STOLEN,)),
    _Rule("platform down", "critical_server_failure", "system_problem", (PLATFORM_DOWN,),
          ((LOGIN, EVERYONE),)),
    _Rule("data outdated", "data_update", "system_problem", (DATA_OUTDATED,)),
    _Rule("accounts and permissions", "accounts_permissions", "how_to", (ACCOUNTS, LOGIN)),
    _Rule("feature request", "consultation", "feature_inquiry", (FEATURE_REQUEST,)),
    _Rule("tracker not reporting", "remote_diagnostics", "system_problem", (DEVICE_OFFLINE,),
          ((SYMPTOM, HARDWARE), (NOT_WORKING, HARDWARE))),
    _Rule("scheduled reports and notifications", "scheduled_reports_notifications", None, (NOTIFICATIONS,)),
    _Rule("violations", "violations_check", None, (VIOLATIONS,)),
    _Rule("reports", "system_reports", None, (REPORTS,)),
    # After the reports: "no report for the vehicle" is about the report, "no vehicle on the map" is not.
    _Rule("vehicle not visible", "remote_diagnostics", "system_problem", (), ((SYMPTOM, VISIBLE),)),
    _Rule("something not working", "remote_diagnostics", "system_problem", (NOT_WORKING,)),
    _Rule("how-to question", "consultation", "how_to", (HOW_TO,)),
)

# ---------------------------------------------------------------------------------------------
# Normalising and matching

_FOLD_FIRST = str.maketrans({"ł": "l", "ø": "o", "æ": "ae", "đ": "d", "ё": "е"})
_CONTRACTION = re.compile(
    r"\b(can|don|doesn|didn|isn|aren|wasn|weren|won|couldn|wouldn|shouldn|haven|hasn)['’]?t\b|\b(can)(not)\b")
_EXPANDED = {"can": "can", "don": "do", "doesn": "does", "didn": "did", "isn": "is", "aren": "are",
             "wasn": "was", "weren": "were", "won": "will", "couldn": "could", "wouldn": "would",
             "shouldn": "should", "haven": "have", "hasn": "has"}
_SENTENCE_END = re.compile(r"[.!?;\n\r]+")
_WORD = re.compile(r"\w+")


def _fold(word: str) -> str:
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


@dataclass(frozen=True)
class _Term:
    pieces: tuple[tuple[str, bool], ...]
    """(folded stem, must equal the whole word)."""


def _compile_term(term: str) -> _Term:
    pieces = []
    for stem in term.split():
        exact = stem.endswith("$")
        pieces.append((_fold(stem.rstrip("$")), exact))
    return _Term(tuple(pieces))


_COMPILED: dict[int, tuple[Table, tuple[_Term, ...]]] = {}


def _terms(table: Table) -> tuple[_Term, ...]:
    """The compiled terms of a table (kept with the table, so a reused id cannot mix them up)."""
    cached = _COMPILED.get(id(table))
    if cached is None or cached[0] is not table:
        cached = (table, tuple(_compile_term(t) for lang in LANGUAGES for t in table.get(lang, ())))
        _COMPILED[id(table)] = cached
    return cached[1]


def _piece_matches(piece: tuple[str, bool], token: str) -> bool:
    stem, exact = piece
    return bool(token) and (token == stem if exact else token.startswith(stem))


def _find(term: _Term, tokens: Sequence[str]) -> tuple[int, ...] | None:
    """Indices of the tokens that match ``term`` in order, with at most MAX_GAP words between."""

    def extend(at: int, rest: tuple[tuple[str, bool], ...]) -> tuple[int, ...] | None:
        if not rest:
            return ()
        for nxt in range(at + 1, min(len(tokens), at + 2 + MAX_GAP)):
            if _piece_matches(rest[0], tokens[nxt]):
                tail = extend(nxt, rest[1:])
                if tail is not None:
                    return (nxt, *tail)
        return None

    for start, token in enumerate(tokens):
        if _piece_matches(term.pieces[0], token):
            tail = extend(start, term.pieces[1:])
            if tail is not None:
                return (start, *tail)
    return None


def _sentences(text: str) -> tuple[_Sentence, ...]:
    text = _CONTRACTION.sub(_expand, unicodedata.normalize("NFKC", text).casefold())
    result = []
    for chunk in _SENTENCE_END.split(text):
        words = tuple(_WORD.findall(chunk))
        if not words:
            continue
        folded = [_fold(w) for w in words]
        for term in _terms(IGNORED):
            while (hit := _find(term, folded)) is not None:
                for i in hit:
                    folded[i] = ""
        result.append(_Sentence(words, tuple(folded)))
    return tuple(result)


def _match(table: Table, sentence: _Sentence) -> list[str]:
    """The words of ``sentence`` that matched any term of ``table``."""
    found: list[str] = []
    for term in _terms(table):
        hit = _find(term, sentence.folded)
        if hit is not None:
            phrase = " ".join(sentence.words[i] for i in hit)
            if phrase not in found:
                found.append(phrase)
    return found


def _match_rule(rule: _Rule, sentences: Sequence[_Sentence]) -> list[str]:
    found: list[str] = []
    for sentence in sentences:
        for table in rule.any_of:
            found += [w for w in _match(table, sentence) if w not in found]
        for group in rule.all_of:
            parts = [_match(table, sentence) for table in group]
            if all(parts):
                found += [w for part in parts for w in part if w not in found]
    return found


def _match_any(table: Table, sentences: Sequence[_Sentence]) -> list[str]:
    found: list[str] = []
    for sentence in sentences:
        found += [w for w in _match(table, sentence) if w not in found]
    return found


def _quoted(words: Sequence[str], limit: int = 4) -> str:
    """Words for a reason, without those already shown inside a longer phrase, each once."""
    unique = list(dict.fromkeys(words))
    shown = [w for w in unique if not any(o != w and set(w.split()) <= set(o.split()) for o in unique)]
    return ", ".join(f'"{w}"' for w in shown[:limit])


# ---------------------------------------------------------------------------------------------
# Language detection

_PL_LETTERS = frozenset("ąćęłńóśźż")
_SV_LETTERS = frozenset("åäö")
_PL_WORDS = frozenset(_fold(w) for w in (
    "nie", "jest", "są", "się", "że", "czy", "jak", "na", "w", "z", "ze", "od", "po", "już", "oraz", "ale",
    "bo", "mamy", "nasz", "nasze", "nasza", "naszego", "proszę", "prosimy", "dzień", "dobry", "został",
    "została", "zostało", "było", "samochód", "pojazd", "pojazdu", "mapie", "dla", "przez", "tylko", "nam",
    "jestem", "witam", "pozdrawiam", "dziękuję", "można", "dane", "danych", "brak", "pozycji", "raport",
    "lokalizator", "wczoraj", "dzisiaj"))
_SV_WORDS = frozenset(_fold(w) for w in (
    "och", "inte", "är", "jag", "vi", "det", "att", "på", "med", "som", "har", "kan", "en", "ett", "bilen",
    "bilar", "hej", "sedan", "igår", "ni", "vår", "våra", "vårt", "ingen", "inga", "också", "eller", "från",
    "om", "hur", "varför", "tack", "mvh", "fordonet", "kartan", "när", "mitt", "vore", "bra"))
_EN_WORDS = frozenset((
    "the", "is", "are", "was", "were", "and", "not", "our", "my", "you", "with", "have", "has", "please",
    "hello", "hi", "for", "from", "this", "that", "since", "what", "how", "there", "it", "of", "in", "can",
    "could", "would", "does", "did", "vehicle", "car", "truck", "yesterday", "today", "thanks", "thank",
    "dear", "an", "be", "your", "why", "when", "where"))
_TIE_ORDER: tuple[Language, ...] = ("ru", "pl", "sv", "en")
"""On a tie the customer's own language beats English, which many write as a second language."""


def _is_cyrillic(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff"


def _is_latin_letter(ch: str) -> bool:
    return ch.isalpha() and ch < "\u0250"


def _language(text: str) -> tuple[Language | None, tuple[str, ...]]:
    """The language and the words that showed it."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    score: dict[Language, int] = dict.fromkeys(LANGUAGES, 0)
    evidence: dict[Language, list[str]] = {lang: [] for lang in LANGUAGES}

    def count(lang: Language, word: str, points: int) -> None:
        score[lang] += points
        evidence[lang].append(word)

    for word in words:
        letters = set(word)
        if any(_is_cyrillic(ch) for ch in word):
            count("ru", word, 2)
        elif letters & _PL_LETTERS:
            count("pl", word, 2)
        elif letters & _SV_LETTERS:
            count("sv", word, 2)
        else:
            folded = _fold(word)
            if folded in _PL_WORDS:
                count("pl", word, 1)
            if folded in _SV_WORDS:
                count("sv", word, 1)
            if word in _EN_WORDS:
                count("en", word, 1)
    best = max(_TIE_ORDER, key=lambda lang: (score[lang], -_TIE_ORDER.index(lang)))
    if score[best]:
        return best, tuple(evidence[best])
    if any(_is_latin_letter(ch) for word in words for ch in word):
        return "en", ()
    return None, ()


def detect_language(text: str) -> Language | None:
    """``ru``, ``pl``, ``sv`` or ``en`` from script, diacritics and common words; None without letters."""
    return _language(text)[0]


# ---------------------------------------------------------------------------------------------
# Classification

_SEVERITY_RANK = {"info": 0, "warning": 1, "major": 2, "critical": 3}
_ORDER = {code: i for i, code in enumerate(FINDING_CLASSES)}


def _class_rank(category: Category, topic: Topic) -> int:
    if topic == "critical_server_failure":
        return 2
    return 1 if category == "system_problem" else 0


def _finding_rank(code: str) -> tuple[int, int, int]:
    category, topic = FINDING_CLASSES[code]
    spec = FINDINGS.get(code)
    severity = _SEVERITY_RANK[spec.severity] if spec is not None else 0
    return (_class_rank(category, topic), severity, -_ORDER[code])


def _label(category: Category, topic: Topic) -> str:
    return f"{category.replace('_', ' ')}, {topic.replace('_', ' ')}"


def _from_findings(codes: Sequence[str]) -> tuple[str | None, list[str]]:
    """The deciding finding code (or None) and the reasons to show."""
    known: list[str] = []
    reasons: list[str] = []
    for raw in codes:
        code = raw.strip().upper()
        if code in FINDING_CLASSES:
            if code not in known:
                known.append(code)
        elif raw.strip():
            reasons.append(f"finding {raw.strip()} is unknown and was ignored")
    if len(known) > 1:
        known = [c for c in known if c not in INFORMATIONAL_ALONE] or known
    if not known:
        return None, reasons
    decider = max(known, key=_finding_rank)
    title = FINDINGS[decider].title if decider in FINDINGS else decider
    reasons.insert(0, f"finding {decider} ({title}) -> {_label(*FINDING_CLASSES[decider])}")
    others = [c for c in known if c != decider]
    if others:
        reasons.insert(1, f"the most severe of the findings {', '.join([decider, *others])}")
    return decider, reasons


def _from_text(sentences: Sequence[_Sentence]) -> tuple[Category, Topic, list[str]]:
    for rule in _RULES:
        words = _match_rule(rule, sentences)
        if not words:
            continue
        reason = f"text {_quoted(words)} -> {rule.what}"
        category = rule.category
        if category is None:
            broken = _match_any(BROKEN, sentences)
            if broken:
                category = "system_problem"
                reason += f"; {_quoted(broken)} says it is wrong or broken -> system problem"
            else:
                category = "how_to"
                reason += "; nothing says it is broken -> how to"
        return category, rule.topic, [reason]
    return "how_to", "consultation", ["no finding and no keyword matched -> how to, consultation (default)"]


def classify(text: str, finding_codes: Sequence[str] = ()) -> Classification:
    """Category and SLA topic of a ticket from its findings (when any) and its text.

    With findings the most severe decides (critical server failure, then system problems, then
    how-to); ``LOW_GSM_SIGNAL`` counts only as the sole finding. Text saying the vehicle was stolen
    wins over every finding.
    """
    if isinstance(finding_codes, str):
        finding_codes = (finding_codes,)
    sentences = _sentences(text or "")
    language, lang_words = _language(text or "")
    lang_reason = f"language {language}" + (f": {_quoted(lang_words, 3)}" if lang_words else "")
    lang_reasons = (lang_reason,) if language else ()

    text_category, text_topic, text_reasons = _from_text(sentences)
    decider, finding_reasons = _from_findings(finding_codes)
    if text_topic == "stolen_vehicle":
        overridden = [f"the text overrides finding {decider}"] if decider else []
        return Classification("system_problem", "stolen_vehicle", language,
                              (*text_reasons, *overridden, *lang_reasons))
    if decider is not None:
        category, topic = FINDING_CLASSES[decider]
        aside = []
        if (text_category, text_topic) != (category, topic) and "default" not in text_reasons[0]:
            aside = [f"the findings decide over the text ({text_reasons[0]})"]
        return Classification(category, topic, language, (*finding_reasons, *aside, *lang_reasons))
    return Classification(text_category, text_topic, language,
                          (*finding_reasons, *text_reasons, *lang_reasons))
