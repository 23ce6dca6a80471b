"""One answer of a console page: status, body, headers and cookies, built by the pages and sent by the
web resource with the security headers every page carries."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Page:
    """One answer: status, body, headers and cookies to set (name, value, max-age, path)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[tuple[bytes, bytes, int, bytes]] = field(default_factory=list)


def redirect(location: str) -> Page:
    """303 See Other: after a form, the browser asks for ``location`` with GET."""
    return Page(303, b"", {"Location": location})
