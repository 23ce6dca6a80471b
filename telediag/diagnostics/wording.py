"""Texts for people, written in English once and said again in another language when someone asks.

Diagnostics stays free of the web console and of any catalogue, yet the console, the API and the CLI
show self-checks in the reader's language. So a text is built as a :class:`Text`: a ``str`` holding
the English (what every caller that does not ask for a language gets, byte for byte as before) that
also keeps its source messages with their named values, so :meth:`Text.say` renders it again through
any gettext catalogue. Values that are texts themselves are said in the same language; plain values
(IMEIs, times, APNs, device commands) go in literally, so a translator may move a ``{placeholder}``
but can never change a command a tracker must receive byte for byte.

Source messages are marked ``N_("...", name=value)`` and ``Nn_("one ...", "{count} ...", count)``;
``pybabel extract -k N_ -k Nn_:1,2`` finds them (``make messages``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from gettext import NullTranslations
from typing import Any, Protocol


class Catalogue(Protocol):
    """What a text needs to be said in a language: ``gettext.NullTranslations`` and Babel's ``Translations``."""

    def gettext(self, message: str) -> str: ...

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str: ...


ENGLISH: Catalogue = NullTranslations()
"""The source language: every message says itself."""


@dataclass(frozen=True)
class Message:
    """One source message (``{name}`` placeholders) with its values; a plural form when ``plural`` is set."""

    source: str
    plural: str | None = None
    count: int = 1
    values: Mapping[str, Any] = field(default_factory=dict)

    def say(self, catalogue: Catalogue) -> str:
        """The message in the catalogue's language; the English when a translation cannot be formatted
        (a broken placeholder in a catalogue must not take a page down)."""
        values = {name: said(value, catalogue) for name, value in self.values.items()}
        if self.plural is None:
            wording = catalogue.gettext(self.source)
        else:
            wording = catalogue.ngettext(self.source, self.plural, self.count)
        try:
            return wording.format(**values)
        except (KeyError, IndexError, ValueError, AttributeError):
            english = ENGLISH.gettext(self.source) if self.plural is None else ENGLISH.ngettext(
                self.source, self.plural, self.count)
            return english.format(**values)


class Text(str):
    """English text that remembers how it was made: messages and literal pieces, in order."""

    pieces: tuple[Message | str, ...]

    def __new__(cls, *pieces: Message | str) -> Text:
        text = super().__new__(cls, "".join(said(piece, ENGLISH) for piece in pieces))
        text.pieces = pieces
        return text

    def say(self, catalogue: Catalogue) -> str:
        """This text in the catalogue's language, as a plain ``str``."""
        return "".join(said(piece, catalogue) for piece in self.pieces)


def said(value: Any, catalogue: Catalogue) -> Any:
    """``value`` in the catalogue's language when it is a text or message; anything else unchanged."""
    if isinstance(value, (Text, Message)):
        return value.say(catalogue)
    return value


def N_(source: str, **values: Any) -> Text:  # noqa: N802 (the marker name gettext tools look for)
    """Mark ``source`` for translation and fill its ``{placeholders}`` (the English now, others later)."""
    return Text(Message(source, None, 1, values))


def Nn_(singular: str, plural: str, count: Any, **values: Any) -> Text:  # noqa: N802
    """A message whose wording depends on ``count`` (``{count}`` is filled in as given), with the
    language's plural rule."""
    return Text(Message(singular, plural, _whole(count), {"count": count, **values}))


def _whole(count: Any) -> int:
    """The number a plural rule is applied to (gettext takes whole numbers only); 0 for no number."""
    try:
        return int(count)
    except (TypeError, ValueError, OverflowError):
        return 0
