"""The words that decide a ticket's topic: keyword tables per language and the rules that use them.

Data only, read by :mod:`telediag.tickets.classifier.matcher`. Each table maps a language to terms; a
term is one or more word stems separated by spaces, written in lower case (NFKC, casefolded). A stem
matches a word that starts with it; a stem ending in ``$`` must equal the word. The stems of a term
must appear in order within one sentence, with at most a couple of other words between them. English
contractions are expanded before matching ("can't" is "can not"), and Polish and Swedish diacritics
and Russian ``ё`` are folded on both sides, so the terms may be written with them.

To teach the classifier a new phrase, add it to the table of its language; a new topic or an order
change is a change to :data:`RULES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Category = Literal["how_to", "feature_inquiry", "system_problem"]
Topic = Literal[
    "critical_server_failure", "stolen_vehicle", "accounts_permissions", "data_update", "system_reports",
    "scheduled_reports_notifications", "consultation", "remote_diagnostics", "violations_check",
]
Language = Literal["pl", "ru", "sv", "en"]
Table = Mapping[Language, tuple[str, ...]]
Where = Literal["any", "questions", "statements"]

CATEGORIES: tuple[Category, ...] = ("how_to", "feature_inquiry", "system_problem")
TOPICS: tuple[Topic, ...] = (
    "critical_server_failure", "stolen_vehicle", "accounts_permissions", "data_update", "system_reports",
    "scheduled_reports_notifications", "consultation", "remote_diagnostics", "violations_check",
)
LANGUAGES: tuple[Language, ...] = ("pl", "ru", "sv", "en")
"""The languages customers write in (and the order in which the tables are tried)."""

# ---------------------------------------------------------------------------------------------
# Keyword tables (language -> terms)

STOLEN: Table = {
    "pl": ("skradz", "skradl", "ukrad", "kradzie", "kradzion", "złodziej"),
    "ru": ("угон", "угна", "украл", "украд", "краж", "похищ", "похит", "вор$", "воры$"),
    "sv": ("stulen", "stulit", "stulna", "stöld", "bilstöld", "fordonsstöld", "stal$", "tjuv", "tillgrep"),
    "en": ("stolen", "stole$", "theft", "thief", "thieves", "hijack", "carjack", "robbed"),
}
IGNORED: Table = {
    "pl": ("przed$ kradzie", "nie$ wiem$", "nie$ jestem$ pew"),
    "ru": ("от$ угон", "не$ знаю$", "не$ уверен"),
    "sv": ("stöldskydd", "vet$ inte$", "inte$ säker"),
    "en": ("anti$ theft", "power$ outage", "power$ cut", "do$ not$ know$", "not$ sure$", "no$ idea$"),
}
"""Phrases that look like a keyword but are not one ("anti-theft alarm", "I do not know how"); removed
before matching."""

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
FEATURE_INQUIRY: Table = {
    "pl": ("czy$ obsługuj", "czy$ platform obsługuj", "czy$ system obsługuj", "czy$ wasz obsługuj",
           "czy$ jest możliwoś", "czy$ jest opcj", "czy$ istnieje możliwoś", "czy$ oferuj", "czy$ wasz system",
           "czy$ wasza platform", "planujecie", "czy$ planuj", "w$ planach$", "czy$ macie",
           "czy$ będzie możn", "czy$ wspiera"),
    "ru": ("есть$ ли$", "поддерживаете ли$", "поддерживает ли$", "планируете", "планирует ли$",
           "можно$ ли$ получ", "можно$ ли$ подключ", "есть$ возможност", "предоставляете ли$",
           "вы$ показываете", "показываете ли$", "умеет ли$", "собираетесь ли$"),
    "sv": ("finns$ det$", "stöder ni$", "stödjer ni$", "har$ ni$ stöd", "planerar ni$", "erbjuder ni$",
           "går$ det$ att$ få$", "har$ ni$ integration", "kan$ systemet$", "kommer ni$ att$"),
    "en": ("do$ you$ support", "does$ your support", "does$ it$ support", "does$ the$ platform$ support",
           "does$ the$ system$ support", "do$ you$ offer", "do$ you$ provide", "do$ you$ plan", "are$ you$ planning",
           "any$ plans$", "is$ it$ possible to$ get$", "is$ it$ possible to$ have$", "is$ it$ possible to$ receive",
           "is$ there$ an$ option", "is$ there$ a$ feature", "is$ there$ any$ integration", "can$ your$ system$",
           "can$ your$ platform$", "can$ the$ platform$", "do$ you$ integrate", "will$ you$ support",
           "does$ the$ platform$ have$", "does$ the$ system$ have$", "does$ your platform$ have$",
           "does$ your system$ have$", "does$ your service$ have$", "do$ you$ have$ an$ app", "is$ there$ an$ api$",
           "is$ there$ an$ app$", "is$ there$ a$ mobile$ app$"),
}
"""Questions about what the service can do or will do: a feature inquiry, not a how-to or a fault."""
ACTIVATION: Table = {
    "pl": ("aktywac", "aktywow"),
    "ru": ("активац", "активир"),
    "sv": ("aktiver",),
    "en": ("activat",),
}
"""Asked about in a question, activation is the waiting time after it: a how-to (the activation window)."""
NEGATION: Table = {
    "pl": ("nie$", "brak$", "żaden$", "żadnej$", "żadnego$", "żadnych$", "nigdy$", "nic$"),
    "ru": ("не$", "нет$", "ни$", "никогда$", "ничего$"),
    "sv": ("inte$", "ej$", "ingen$", "inga$", "inget$", "aldrig$", "ingenting$"),
    "en": ("not$", "no$", "never$", "nothing$", "none$", "nowhere$"),
}
"""A statement that says something does not happen is a report of a fault."""
SYMPTOMS: Table = {
    "pl": ("cał noc", "stoi na$", "skacz", "skacze$"),
    "ru": ("всю$ ночь$", "стоит на$", "прыга"),
    "sv": ("hela$ natten$", "står parkerad", "hoppar$"),
    "en": ("all$ night$", "whole$ night$", "while$ parked", "jumps$", "jumping$"),
}
"""Faults said without a negation (a vehicle "driving" all night while parked, positions jumping)."""
QUESTION_START: Table = {
    "pl": ("jak", "gdzie$", "któr", "co$", "dlaczego$", "czemu$", "kiedy$", "ile$", "czy$"),
    "ru": ("как", "где$", "почему$", "зачем$", "когда$", "сколько$", "куда$", "что$", "можно$", "кто$"),
    "sv": ("hur$", "var$", "vilk", "vad$", "varför$", "när$", "kan$", "ska$", "går$", "finns$", "måste$"),
    "en": ("how$", "where$", "which$", "what$", "why$", "when$", "who$", "can$", "could$", "should$", "is$",
           "are$", "do$", "does$", "will$"),
}
"""The first word of a sentence that asks (a sentence ending in "?" asks too)."""
FEATURE_REQUEST: Table = {
    "pl": ("czy$ moż dod", "czy$ mogli dod", "moglibyście dod", "o$ dodani", "dodajcie", "byłoby$", "przydał",
           "sugesti", "propozycj", "now funkcj", "brakuje$ funkcj"),
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
    "pl": ("brak$ pozycj", "brak$ lokalizac", "brak$ sygnału$ gps", "brak$ danych$ z$", "brak$ danych$ od$",
           "nie$ wysyła", "nie$ raportuj", "nie$ nadaje", "offline"),
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
    "pl": ("jak$", "w$ jaki$ sposób", "gdzie$", "czy$ da$ się$", "czy$ mogę", "co$ oznacza", "czy$ to$ normaln",
           "czy$ muszę$", "ile$ trzeba$ czeka"),
    "ru": ("как$", "каким$ образом", "где$", "подскажите", "можно$ ли$", "что$ означа", "это$ нормальн",
           "нужно$ ли$", "надо$ ли$", "сколько$ ждать$"),
    "sv": ("hur$", "var$ hittar", "går$ det$ att$", "kan$ jag$", "vart$", "vad$ betyder", "är$ det$ normalt$",
           "måste$ man$", "måste$ jag$", "behöver$ jag$", "behöver$ vi$"),
    "en": ("how$", "where$ can$", "where$ do$", "is$ it$ possible", "can$ i$", "what$ does$ mean$",
           "what$ do$ mean$", "is$ that$ normal$", "is$ this$ normal$", "is$ it$ normal$", "waiting$ period$",
           "waiting$ time$", "do$ i$ need$", "do$ we$ need$"),
}


@dataclass(frozen=True)
class Rule:
    """One text rule: if any table matches (or every table of one group, in one sentence), the topic is decided."""

    what: str
    """Shown to staff in the reasons."""
    topic: Topic
    category: Category | None
    """None: system_problem when a :data:`BROKEN` word is present, else how_to."""
    any_of: tuple[Table, ...] = ()
    all_of: tuple[tuple[Table, ...], ...] = ()
    where: Where = "any"
    """Which sentences count: all, only questions, or only statements (sentences that do not ask)."""
    unless_asked: bool = False
    """Skipped when a question of the ticket asks how (a how-to with a symptom described beside it)."""


# First match wins: the specific and urgent before the general.
RULES: tuple[Rule, ...] = (
    Rule("stolen vehicle", "stolen_vehicle", "system_problem", (STOLEN,)),
    Rule("platform down", "critical_server_failure", "system_problem", (PLATFORM_DOWN,),
         ((LOGIN, EVERYONE),)),
    Rule("activation asked about", "consultation", "how_to", (ACTIVATION,), where="questions"),
    Rule("feature inquiry", "consultation", "feature_inquiry", (FEATURE_INQUIRY,)),
    Rule("data outdated", "data_update", "system_problem", (DATA_OUTDATED,)),
    Rule("accounts and permissions", "accounts_permissions", "how_to", (ACCOUNTS, LOGIN)),
    Rule("feature request", "consultation", "feature_inquiry", (FEATURE_REQUEST,)),
    Rule("tracker not reporting", "remote_diagnostics", "system_problem", (DEVICE_OFFLINE,),
         ((SYMPTOM, HARDWARE), (NOT_WORKING, HARDWARE))),
    Rule("scheduled reports and notifications", "scheduled_reports_notifications", None, (NOTIFICATIONS,)),
    Rule("violations", "violations_check", None, (VIOLATIONS,)),
    Rule("reports", "system_reports", None, (REPORTS,)),
    # After the reports: "no report for the vehicle" is about the report, "no vehicle on the map" is not.
    Rule("vehicle not visible", "remote_diagnostics", "system_problem", (), ((SYMPTOM, VISIBLE),)),
    Rule("something not working", "remote_diagnostics", "system_problem", (NOT_WORKING,)),
    # A statement that something does not happen or is wrong, when no question asks how.
    Rule("a fault described", "remote_diagnostics", "system_problem", (NEGATION, BROKEN, SYMPTOMS),
         where="statements", unless_asked=True),
    Rule("how-to question", "consultation", "how_to", (HOW_TO,)),
)
