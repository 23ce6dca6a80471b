"""A finding's evidence as lines people read, written the same way on a tracker's page and a ticket's.

Diagnostics stores evidence as a JSON object, nested at times (``telediag.diagnostics.findings``). A
person reads it as name and value: nested names joined with `` › `` (``fix › hdop``), a list of plain
values on one line with commas, a list of objects item by item under its position from 1
(``rows › 1 › a``), ``yes``/``no``, ``unknown`` for a missing value and ``none`` for an empty one. A long
value is shortened; a page shows the first ``MAX_LINES`` lines and counts the rest. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

MAX_LINES = 40
"""Evidence lines a page shows per finding; the rest is counted."""
MAX_VALUE_CHARS = 300
"""A value longer than this is cut, with an ellipsis (raw excerpts belong to the protocol errors)."""
SEPARATOR = " › "


@dataclass(frozen=True)
class Evidence:
    """The lines a page shows, and how many more there were."""

    lines: list[tuple[str, str]]
    more: int = 0


def evidence_lines(evidence: Any, limit: int = MAX_LINES) -> Evidence:
    """A finding's evidence for a page: at most ``limit`` lines; no line for no evidence."""
    lines = evidence_items(evidence) if evidence else []
    return Evidence(lines[:limit], max(0, len(lines) - limit))


def evidence_items(evidence: Any, name: str = "") -> list[tuple[str, str]]:
    """Every (name, value) line of ``evidence``, in its order; ``value`` names a value that is not an object."""
    if isinstance(evidence, dict) and evidence:
        parts: Any = evidence.items()
    elif isinstance(evidence, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in evidence):
        parts = enumerate(evidence, 1)
    else:
        return [(name or "value", written(evidence))]
    items: list[tuple[str, str]] = []
    for key, value in parts:
        items += evidence_items(value, f"{name}{SEPARATOR}{key}" if name else str(key))
    return items


def written(value: Any) -> str:
    """One plain value as a person reads it, at most ``MAX_VALUE_CHARS`` long."""
    if value is None:
        text = "unknown"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, (list, tuple, dict)) and not value:
        text = "none"
    elif isinstance(value, (list, tuple)):
        text = ", ".join(written(v) for v in value)
    elif isinstance(value, int):
        text = str(value)
    else:
        text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS - 1] + "…"


def with_evidence_lines(findings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings for a template: each with its ``evidence_lines`` (:func:`evidence_lines`)."""
    return [{**finding, "evidence_lines": evidence_lines(finding.get("evidence"))} for finding in findings]
