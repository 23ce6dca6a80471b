"""Words that mean the same to the knowledge base, per language, and the tracker families by name.

Data only, read by :mod:`telediag.kb.vocabulary`. Each synonym group lists words as people write them
(they are stemmed with the language's stemmer when the module loads): a ticket term in a group finds an
article holding any word of the group, and counts once. Groups also mend Snowball's misses, where two
forms of one word get different stems (Polish "autotest" and "autoteście", "karta" and "karcie").

To teach the matcher a paraphrase, add the word to a group of its language (or a new group); no code
changes. Keep groups narrow: a group of loosely related words makes every article look alike.
"""

from __future__ import annotations

SYNONYMS: dict[str, tuple[tuple[str, ...], ...]] = {
    "en": (
        ("signal", "reception"),
        ("sms", "text", "texting"),
        ("configure", "setup", "set"),
        ("install", "fit", "mount"),
        ("wire", "cable", "lead"),
        ("ignition", "acc"),
        ("delay", "late", "lag", "lagging"),
        ("abroad", "foreign", "germany", "france", "spain", "italy", "netherlands", "belgium", "austria",
         "czechia", "slovakia", "lithuania", "norway", "denmark", "finland", "switzerland"),
        ("position", "location"),
        ("permanent", "constant"),
        ("antenna", "aerial", "antena"),
        ("eu", "europe", "european"),
        ("activation", "activate", "active"),
        ("tracker", "unit", "device"),
        ("wait", "waiting"),
        ("roaming", "roam"),
    ),
    "pl": (
        ("autotest", "autoteście", "samodiagnostyka"),
        ("karta", "karcie"),
        ("sygnał", "sygnału"),
        ("teltonika", "teltonice"),
        ("sms", "smsem", "esemes", "esemesem"),
        ("ue", "unia", "unii", "europa", "unijny", "unijnym"),
        ("opóźnienie", "opóźnione", "poślizg", "zwłoka", "spóźnione", "późno"),
        ("przewód", "przewodu", "kabel", "kabla"),
        ("granica", "zagranica", "zagraniczny", "niemcy", "niemiec", "niemczech", "francja", "francji",
         "hiszpania", "hiszpanii", "włochy", "włoch", "holandia", "holandii", "belgia", "belgii", "austria",
         "austrii", "czechy", "czech", "czechach", "słowacja", "słowacji", "litwa", "litwy", "litwie"),
        ("ustawić", "skonfigurować", "wpisać", "konfiguracja", "ustawienie"),
        ("montaż", "zamontować", "instalacja", "zainstalować"),
        ("aktywacja", "aktywna", "aktywowana", "aktywny", "aktywowany"),
        ("lokalizator", "urządzenie", "tracker", "nadajnik"),
        ("zasilanie", "zasilania"),
    ),
    "ru": (
        ("sms", "смс", "сообщение"),
        ("трекер", "устройство", "прибор", "маячок", "терминал"),
        ("зажигание", "acc"),
        ("антенна", "антену"),
        ("ес", "европа", "евросоюз", "европейский"),
        ("автотест", "самодиагностика", "самопроверка"),
        ("настроить", "прописать", "задать", "настройка", "установить"),
        ("сигнал", "прием", "покрытие"),
        ("задержка", "опоздание", "запаздывание", "запаздывают", "опаздывают"),
        ("активация", "активирован", "активна", "активирована"),
        ("роуминг", "заграница", "границей", "рубежом", "польша", "польшу", "германия", "германию", "финляндия",
         "финляндию", "литва", "литву", "латвия", "латвию", "эстония", "эстонию"),
        ("сим", "симка", "sim"),
    ),
    "sv": (
        ("sms", "textmeddelande", "sms:a"),
        ("spårsändare", "spåraren", "tracker", "enhet", "boxen", "spårare"),
        ("tändning", "tändningen", "acc"),
        ("antenn", "antennen"),
        ("eu", "europa"),
        ("självtest", "självtestet", "självtestets"),
        ("ställa", "konfigurera", "inställning", "ändra"),
        ("signal", "täckning", "mottagning"),
        ("fördröjning", "försenad", "försenade", "sent"),
        ("aktivering", "aktiverad", "aktiverades", "aktivt"),
        ("roaming", "utlandet", "utomlands", "norge", "danmark", "finland", "tyskland", "polen"),
        ("simkort", "sim", "simkortet"),
    ),
}
"""Per article language: groups of words a ticket and an article may use for one thing."""

FAMILIES: dict[str, tuple[str, ...]] = {
    "teltonika": (r"teltonik\w*", r"fm[bcmtu]\d{0,4}\w*", r"fmb\w*"),
    "concox": (r"concox\w*", r"gt0?[26]\w*", r"jimi\w*", r"jm-?[a-z]{2}\d+\w*", r"wetrack\w*", r"gt[38]00\w*"),
    "queclink": (r"queclink\w*", r"g[lv]-?\d{2,3}\w*", r"gmt\d+\w*"),
    "ruptela": (r"ruptela\w*", r"fm-?(?:eco|pro|tco)\w*"),
    "meitrack": (r"meitrack\w*",),
    "calamp": (r"calamp\w*", r"lmu-?\d+\w*"),
}
"""Tracker makers and their model names (regular expressions over whole words, lower case). A ticket
that names a family is answered from that family's articles (their title or tags name it) or from
articles about no family, never from another family's."""
