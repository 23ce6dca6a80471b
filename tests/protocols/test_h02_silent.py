"""H02 never swallows a sentence: every frame gives a record, an answered heartbeat, or a ProtocolError.

The attack run found three sentences that left neither a record nor an ingest error: a negative speed,
``*HQ,<imei>,V1#`` with no fields, and NaN/infinite coordinates (the layout did not match, and a Report
without records came back).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.core import Login, Message, ProtocolError, Report
from protocols.h02 import ServerSession

IMEI = "356307040000019"
GOOD = f"*HQ,{IMEI},V1,120000,A,5213.7820,N,02100.7320,E,22.68,90,010126,FFFFFBFF#"


def decode(data: bytes) -> tuple[list[Message], list[ProtocolError]]:
    session = ServerSession()
    messages: list[Message] = []
    errors: list[ProtocolError] = []
    for chunk in (data, b"", b""):
        try:
            messages.extend(session.feed(chunk))
        except ProtocolError as error:
            errors.append(error)
    assert session.buffered == 0
    return messages, errors


def outcome(messages: list[Message], errors: list[ProtocolError]) -> str:
    """``records``, ``answered`` (a heartbeat echo), ``error``, or ``nothing`` (the bug)."""
    reports = [m for m in messages if isinstance(m, Report)]
    if any(r.records for r in reports):
        return "records"
    if errors:
        return "error"
    if reports and all(r.ack for r in reports):
        return "answered"
    return "nothing"


@pytest.mark.parametrize("sentence", [
    GOOD.replace(",22.68,", ",-10.00,"),
    f"*HQ,{IMEI},V1#",
    GOOD.replace("5213.7820", "nan").replace("02100.7320", "inf"),
    GOOD.replace("5213.7820", "-inf"),
    GOOD.replace(",90,", ",NaN,"),
    f"*HQ,{IMEI},NBR,nonsense#",
    f"*HQ,{IMEI},#",
    f"*HQ,{IMEI},V1,!@$%,,#",
    "*HQ,nan,V1,120000,A,5213.7820,N,02100.7320,E,22.68,90,010126,FFFFFBFF#",
])
def test_a_sentence_that_does_not_parse_is_an_error_with_an_excerpt(sentence: str) -> None:
    messages, errors = decode(sentence.encode())
    assert not [m for m in messages if isinstance(m, Report)]
    (error,) = errors
    assert not error.close and error.excerpt == sentence.encode()[:64]


def test_a_good_sentence_still_decodes() -> None:
    messages, errors = decode(GOOD.encode())
    assert not errors and outcome(messages, errors) == "records"


@pytest.mark.parametrize("kind", ["XT", "BS", "BASE", "ZZ9"])
def test_an_unknown_type_is_kept_raw_without_a_fix(kind: str) -> None:
    sentence = f"*HQ,{IMEI},{kind},1,100#"
    messages, errors = decode(sentence.encode())
    assert not errors
    login, report = messages
    assert login == Login(IMEI, accept=None, reject=None) and isinstance(report, Report)
    (rec,) = report.records
    assert rec.attributes == {"message_type": kind, "raw_message": sentence}
    assert (rec.lat, rec.fix_time, rec.valid) == (None, None, None)


def test_a_heartbeat_without_fields_is_answered() -> None:
    messages, errors = decode(f"*HQ,{IMEI},HTBT#".encode())
    assert outcome(messages, errors) == "answered"


def test_a_v1_with_empty_coordinates_is_a_record_without_a_fix() -> None:
    messages, errors = decode(f"*HQ,{IMEI},V1,,V,,N,,E,0.00,0,,FFFFFBFF#".encode())
    (rec,) = [r for m in messages if isinstance(m, Report) for r in m.records]
    assert not errors and (rec.lat, rec.lon, rec.valid, rec.fix_time) == (None, None, False, None)
    assert rec.ignition is False  # the status word is still read


_PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="#*$")
"""Field text: no frame end (#) and no frame start (* for text, $ for binary), or it is not one sentence."""
_FIELD = st.text(_PRINTABLE, max_size=12)


@settings(max_examples=400, deadline=None)
@given(kind=st.one_of(st.sampled_from(["V1", "V0", "HTBT", "NBR", "LINK", "V3", "VP1", "SMS", "V4", "V19", "XT"]),
                      st.text(_PRINTABLE, min_size=0, max_size=6).filter(lambda t: "," not in t)),
       fields=st.lists(_FIELD, max_size=16),
       ident=st.from_regex(r"\d{15}", fullmatch=True))
def test_any_well_framed_sentence_gives_records_an_answer_or_an_error(kind: str, fields: list[str], ident: str) -> None:
    sentence = ",".join([f"*HQ,{ident},{kind}", *fields]) + "#"
    messages, errors = decode(sentence.encode())
    assert outcome(messages, errors) != "nothing", sentence


_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_ABSURD = ["nan", "NaN", "inf", "-inf", "-1", "-0.5", "-99999", "1e309", ""]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_nan_infinite_or_negative_numbers_never_vanish(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from([
        GOOD,
        f"*HQ,{IMEI},V1,120000,A,-22-35.1777,N,-113-57.8913,E,000.27,235,130721,FFFFFBFF,460,11,d18e105,7752,6#",
        f"*HQ,{IMEI},NBR,102403,238,1,0,7,1111,2264,63,1111,2265,58,010126,FFFFFBFF#",
        f"*HQ,{IMEI},LINK,120000,20,8,90,1000,5,010126,FFFFFBFF#",
        f"*hq,{IMEI},VP1,A,5213.7820,N,02100.7320,E,22.68,90.0,010126#",
    ]))
    numbers = list(_NUMBER.finditer(base))
    for _ in range(data.draw(st.integers(1, 3))):
        match = data.draw(st.sampled_from(numbers))
        value = data.draw(st.sampled_from(_ABSURD))
        base = base[: match.start()] + value + base[match.end():]
        numbers = list(_NUMBER.finditer(base))
        if not numbers:
            break
    messages, errors = decode(base.encode())
    assert outcome(messages, errors) != "nothing", base
