"""Classify a ticket into a category and an SLA topic, from its findings first and its text second.

Findings are the diagnosis of the customer's own devices, so when a ticket carries any they decide;
the text only overrides them when it says the vehicle was stolen. Without findings the text decides.
The parts live in :mod:`telediag.tickets.classifier`: the keyword tables per language
(``keywords``), the pure matcher that turns text into a topic with the words that decided
(``matcher``), and the language the customer wrote in (``language``, with lingua). Customers write
in Polish, Russian, Swedish and English and often mix them, so every language's keywords are tried on
every ticket; the detected language is recorded for the answer, it does not narrow the matching.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from telediag.diagnostics.catalogue import FINDINGS
from telediag.tickets.classifier.keywords import CATEGORIES, LANGUAGES, TOPICS, Category, Language, Topic
from telediag.tickets.classifier.language import detect, detect_language
from telediag.tickets.classifier.matcher import match_text

__all__ = [
    "CATEGORIES", "FINDING_CLASSES", "INFORMATIONAL_ALONE", "LANGUAGES", "TOPICS", "Category", "Classification",
    "Language", "Topic", "classify", "detect_language",
]


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
    "NETWORK_REJECTED": _DEVICE_FAULT,
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


def _language_reasons(text: str) -> tuple[Language | None, tuple[str, ...]]:
    found = detect(text)
    if found is None:
        return None, ()
    written = "" if found.written == found.language else f", written in {found.written}"
    return found.language, (f"language {found.language} (confidence {found.confidence:.2f}{written})",)


def classify(text: str, finding_codes: Sequence[str] = ()) -> Classification:
    """Category and SLA topic of a ticket from its findings (when any) and its text.

    With findings the most severe decides (critical server failure, then system problems, then
    how-to); ``LOW_GSM_SIGNAL`` counts only as the sole finding. Text saying the vehicle was stolen
    wins over every finding.
    """
    if isinstance(finding_codes, str):
        finding_codes = (finding_codes,)
    text = text or ""
    language, lang_reasons = _language_reasons(text)
    by_text = match_text(text)
    decider, finding_reasons = _from_findings(finding_codes)
    if by_text.topic == "stolen_vehicle":
        overridden = [f"the text overrides finding {decider}"] if decider else []
        return Classification("system_problem", "stolen_vehicle", language,
                              (by_text.reason, *overridden, *lang_reasons))
    if decider is not None:
        category, topic = FINDING_CLASSES[decider]
        aside = []
        if by_text.matched and (by_text.category, by_text.topic) != (category, topic):
            aside = [f"the findings decide over the text ({by_text.reason})"]
        return Classification(category, topic, language, (*finding_reasons, *aside, *lang_reasons))
    return Classification(by_text.category, by_text.topic, language,
                          (*finding_reasons, by_text.reason, *lang_reasons))
