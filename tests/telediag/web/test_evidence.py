"""A finding's evidence as the tracker page and the ticket page both write it (``telediag.web.evidence``)."""

from __future__ import annotations

from telediag.web.evidence import MAX_VALUE_CHARS, Evidence, evidence_items, evidence_lines, with_evidence_lines


def test_nested_objects_and_lists_of_objects_read_as_named_lines() -> None:
    evidence = {"causes": [{"code": 11, "at": "t1"}, {"code": 13, "at": "t2"}], "fix": {"sats": 3, "rows": []},
                "pairs": [[1, 2], [3]], "ratio": 0.1234567, "extra": {}}
    assert evidence_items(evidence) == [
        ("causes › 1 › code", "11"), ("causes › 1 › at", "t1"), ("causes › 2 › code", "13"),
        ("causes › 2 › at", "t2"), ("fix › sats", "3"), ("fix › rows", "none"), ("pairs › 1", "1, 2"),
        ("pairs › 2", "3"), ("ratio", "0.123457"), ("extra", "none")]
    assert evidence_items("plain") == [("value", "plain")]


def test_a_page_shows_the_first_lines_and_counts_the_rest() -> None:
    many = {f"k{i}": i for i in range(45)}
    shown = evidence_lines(many)
    assert len(shown.lines) == 40 and shown.more == 5
    assert shown.lines[0] == ("k0", "0")
    assert evidence_lines(None) == Evidence([], 0) and evidence_lines({}) == Evidence([], 0)
    assert evidence_lines({"long": "x" * 1000}).lines == [("long", "x" * (MAX_VALUE_CHARS - 1) + "…")]


def test_findings_keep_their_fields_and_gain_their_lines() -> None:
    finding = {"code": "GPS_POOR_QUALITY", "evidence": {"hdop": 7.5}}
    assert with_evidence_lines([finding]) == [{**finding, "evidence_lines": Evidence([("hdop", "7.5")])}]
