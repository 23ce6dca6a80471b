"""Page numbers of the console's paged lists, from a ``?page=`` value.

Two readings: a queue or an admin list that anyone may page through shows its first page for a value it
cannot read (``page_of``); a list whose pages are linked from elsewhere (accounts, outages) answers such a
value with a 400 page instead (``page_number``). Both stop at ``MAX_PAGE``: the offset of a later page
would make every query scan the whole table. Pure.
"""

from __future__ import annotations

MAX_PAGE = 10_000


def page_of(value: str | None) -> int:
    """A ``?page=`` value as a page number from 1 to ``MAX_PAGE``: anything unreadable is the first page,
    anything larger the last one."""
    if value is None or not value.isascii() or not value.isdigit():
        return 1
    return min(max(int(value), 1), MAX_PAGE)


def page_number(value: str | None) -> int | None:
    """A ``?page=`` value as 1..MAX_PAGE (missing: 1); None when it is not one (a 400 page)."""
    if value is None or value == "":
        return 1
    if not value.isascii() or not value.isdigit() or len(value) > 5:
        return None
    number = int(value)
    return number if 1 <= number <= MAX_PAGE else None
