"""The pieces several console pages show the same way (``templates/_macros.html``), rendered alone."""

from __future__ import annotations

import re
from typing import Any

from telediag.web.evidence import Evidence
from telediag.web.pages import Pages

PAGES = Pages()


def render(source: str, **context: Any) -> str:
    """``source`` with the macros imported as ``show``, in the console's environment (autoescape, strict)."""
    template = PAGES.environment.from_string('{% import "_macros.html" as show %}' + source)
    return re.sub(r"\s+", " ", template.render(**context)).strip()


PAGER = '{{ show.pager("Pages of things", page, "/x?a=1&page=" ~ (page - 1), "/x?a=1&page=" ~ (page + 1), **more) }}'


def test_a_pager_without_a_page_count_links_on_while_there_is_more() -> None:
    assert render(PAGER, page=1, more={"more": False}) == ""
    first = render(PAGER, page=1, more={"more": True})
    assert first == ('<nav class="pager" aria-label="Pages of things"><p> <span>Page 1</span> '
                     '<a href="/x?a=1&amp;page=2" rel="next">Next page</a> </p></nav>')
    last = render(PAGER, page=3, more={"more": False})
    assert 'href="/x?a=1&amp;page=2" rel="prev"' in last and 'rel="next"' not in last


def test_a_pager_with_a_page_count_says_it_and_stops_at_the_last_page() -> None:
    assert render(PAGER, page=1, more={"pages": 1}) == ""
    middle = render(PAGER, page=2, more={"pages": 3})
    assert "Page 2 of 3." in middle and 'rel="prev"' in middle and 'rel="next"' in middle
    assert 'rel="next"' not in render(PAGER, page=3, more={"pages": 3})
    quiet = render(PAGER, page=1, more={"pages": 2, "numbered": False})
    assert "Page" not in quiet.replace("Pages of things", "").replace("Next page", "")


def test_a_pager_says_what_its_call_block_gives_first() -> None:
    html = render('{% call show.pager("Queue", 1, "/q?page=0", "/q?page=2", pages=2) %}<b>3 more</b>{% endcall %}')
    assert html.index("<b>3 more</b>") < html.index("Page 1 of 2.") < html.index('rel="next"')


def test_evidence_lines_and_the_count_of_the_rest() -> None:
    assert render("{{ show.evidence(found) }}", found=Evidence([])) == ""
    html = render("{{ show.evidence(found) }}", found=Evidence([("fix › hdop", "7.5"), ("note", "<b>")], 2))
    assert '<dl class="evidence"> <dt>fix › hdop</dt><dd>7.5</dd> <dt>note</dt><dd>&lt;b&gt;</dd> </dl>' in html
    assert "2 more evidence values not shown." in html
