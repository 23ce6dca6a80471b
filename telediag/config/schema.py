"""What every section schema shares: the error, the base class, the number types, and the one place
where msgspec's validation errors become messages that name the TOML key.

A section is a frozen dataclass whose field types carry their bounds (``Annotated[int, Meta(gt=0)]``):
msgspec checks types and bounds while it converts the parsed TOML (``msgspec.convert``) and reports
where it stopped as a path (``$.api.max_body_bytes``). Rules that span several keys live in each
section's ``check``, which runs after the fields are set; a ``ValueError`` there is reported at the
section's path. msgspec ignores keys a dataclass does not have, so :func:`unknown_key` looks for
them first. Keys that hold secrets are ``field(repr=False)``: they never reach a log line.
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which key and why."""


Positive = Annotated[float, Meta(gt=0)]
PositiveInt = Annotated[int, Meta(gt=0)]
NonNegative = Annotated[float, Meta(ge=0)]
NonNegativeInt = Annotated[int, Meta(ge=0)]


@dataclass(frozen=True)
class Section:
    """One TOML table: every key has a default and every number is finite."""

    def __post_init__(self) -> None:
        for each in fields(self):
            value = getattr(self, each.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{each.name} must be a finite number, got {value!r}")
        self.check()

    def check(self) -> None:
        """Rules across keys; raise ValueError with a message that starts with the key."""


def unknown_key(raw: Mapping[str, Any], root: type) -> str | None:
    """The first key of ``raw`` that no section of ``root`` has, as a message naming it, or None."""
    sections = _hints(root)
    for name, table in raw.items():
        if name not in sections:
            return f"unknown section [{name}]; known: {', '.join(sorted(sections))}"
        known = _fields(_bare(sections[name]))
        if isinstance(table, Mapping) and known:
            for key in table:
                if key not in known:
                    return f"[{name}] has no key {key!r}; known keys: {', '.join(known)}"
    return None


def check_http_url(key: str, url: str) -> None:
    """ValueError naming ``key`` unless ``url`` is an absolute ASCII http:// or https:// URL."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as error:
        raise ValueError(f"{key}: {url!r} is not a URL ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not url.isascii():
        raise ValueError(f"{key}: {url!r} must be an ASCII http:// or https:// URL")


def decode_path(kind: type, value: Any) -> Any:
    """msgspec's hook for the types it does not know: paths come as non-empty strings."""
    if kind is Path:
        if isinstance(value, str) and value:
            return Path(value)
        raise ValueError("must be a non-empty path string")
    raise NotImplementedError(f"no conversion to {kind!r}")


def describe(error: msgspec.ValidationError, root: type, raw: Mapping[str, Any]) -> str:
    """msgspec's ``Expected `int`, got `str` - at `$.api.max_body_bytes``` as
    ``[api] max_body_bytes must be int, got str 'big'``."""
    message, _, where = str(error).partition(" - at `$")
    at = _walk(_tokens(where.rstrip("`")), root, raw)
    if message.startswith("Invalid enum value") and typing.get_origin(at.kind) is Literal:
        message = f"must be one of {', '.join(repr(choice) for choice in typing.get_args(at.kind))}"
    else:
        message = _plain(message)
    if len(at.path) > 1 and at.found and not isinstance(at.value, (Mapping, list)):
        got = type(at.value).__name__
        shown = f"{got} {at.value!r}" if f", got {got}" in message else repr(at.value)
        message = message.replace(f", got {got}", "") + f", got {shown}"
    return f"{at.name} {message}".lstrip()


_EXPECTED = re.compile(r"Expected `(\w+)`(?: (>=|>|<=|<) (\S+))?(?:, got `(\w+)`)?$")
_WORDS = {"object": "a table", "array": "a list"}
_PHRASES = {"Invalid RFC3339 encoded date": "must be an ISO date like 2026-03-14"}


def _plain(message: str) -> str:
    """``Expected `float` > 0.0`` -> ``must be positive``; other messages keep their words."""
    match = _EXPECTED.match(message)
    if match is None:
        message = _PHRASES.get(message, message)
        return message[:1].lower() + message[1:]
    kind, relation, bound, got = match.groups()
    if relation is None:
        wanted = f"must be {_WORDS.get(kind, kind)}"
        return f"{wanted}, got {_WORDS.get(got, got)}" if got else wanted
    if (relation, float(bound)) in ((">", 0.0), (">=", 1.0)):
        return "must be positive"
    if (relation, float(bound)) == (">=", 0.0):
        return "must not be negative"
    return f"must be {relation} {bound}"


_TOKEN = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")


def _tokens(where: str) -> list[str | int | None]:
    """``.listen[...][0]`` -> ``["listen", None, 0]``: keys, list positions, and ``None`` for a
    table entry whose key msgspec does not say."""
    return [name if name else int(index) if index else None for name, index in _TOKEN.findall(where)]


@dataclass
class _At:
    """Where an error is: the path with every key named, the declared type, the value found there."""

    path: list[str | int] = field(default_factory=list)
    kind: Any = None
    found: bool = True
    value: Any = None

    @property
    def name(self) -> str:
        if not self.path:
            return ""
        rest = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in self.path[1:])
        return f"[{self.path[0]}] {rest.lstrip('.')}".rstrip()


def _walk(tokens: list[str | int | None], root: type, raw: Any) -> _At:
    at = _At(kind=root, value=raw)
    for token in tokens:
        declared = _bare(at.kind)
        if token is None:  # an entry of a table typed Mapping[str, V]: find the one V refuses
            entry = typing.get_args(declared)[1] if typing.get_args(declared) else Any
            token = _refused_key(at.value, entry)
            at.kind = entry
        elif isinstance(token, int):
            args = typing.get_args(declared)
            at.kind = args[0] if args else None
        else:
            at.kind = _hints(declared).get(token)
        at.path.append(token)
        if at.found and isinstance(at.value, Mapping) and token in at.value:
            at.value = at.value[token]
        elif at.found and isinstance(at.value, list) and isinstance(token, int) and 0 <= token < len(at.value):
            at.value = at.value[token]
        else:
            at.found, at.value = False, None
    at.kind = _bare(at.kind)
    return at


def _refused_key(table: Any, entry: Any) -> str:
    if isinstance(table, Mapping):
        for key, value in table.items():
            try:
                msgspec.convert(value, entry, dec_hook=decode_path)
            except msgspec.ValidationError:
                return str(key)
    return "..."


def _bare(kind: Any) -> Any:
    while typing.get_origin(kind) is Annotated:
        kind = typing.get_args(kind)[0]
    return kind


def _hints(kind: Any) -> dict[str, Any]:
    """A dataclass's fields with their declared types (bounds included); {} for anything else."""
    if isinstance(kind, type) and is_dataclass(kind):
        names = {each.name for each in fields(kind)}
        return {name: hint for name, hint in typing.get_type_hints(kind, include_extras=True).items()
                if name in names}
    return {}


def _fields(kind: Any) -> list[str]:
    return sorted(_hints(kind))
