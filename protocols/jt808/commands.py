"""JT808 platform commands and how a terminal's answer is recognised.

A command text becomes one platform message (JT/T 808-2013 section 8; Traccar's
``HuabaoProtocolEncoder`` sends the same ones):

* plain text, or ``0x8300,<text>``: 0x8300 text message, flag 0x01, GBK text (2019 headers add
  a text-type byte, 1 = notice). Trackers take their SMS-style commands this way (``WHERE#``);
* ``0x8105,<word>[,<params>]``: 0x8105 terminal control, ``word`` a decimal command word (4 =
  reset, 5 = factory reset, 0x70-0x7F vendor), ``params`` the ``;``-separated parameter string;
* ``0x8104``: 0x8104 query terminal parameters, answered by 0x0104 (the APN among them);
* ``0x8201``: 0x8201 location query, answered by 0x0201.

The terminal acknowledges 0x8300 and 0x8105 with a 0x0001 general response naming the command's
serial and id and a result (0 success, 1 failure, 2 message error, 3 not supported). The session
remembers the id and serial it sent last and turns the matching answer into a
``CommandResponse``.
"""

from __future__ import annotations

import struct

MSG_TERMINAL_RESPONSE = 0x0001
MSG_PARAMETERS = 0x0104
MSG_LOCATION_ANSWER = 0x0201
MSG_QUERY_PARAMETERS = 0x8104
MSG_TERMINAL_CONTROL = 0x8105
MSG_QUERY_LOCATION = 0x8201
MSG_TEXT = 0x8300

COMMAND_IDS = frozenset((MSG_TEXT, MSG_TERMINAL_CONTROL, MSG_QUERY_PARAMETERS, MSG_QUERY_LOCATION))
"""Platform messages :func:`command_message` builds."""

ANSWER_IDS = {
    MSG_TEXT: MSG_TERMINAL_RESPONSE,
    MSG_TERMINAL_CONTROL: MSG_TERMINAL_RESPONSE,
    MSG_QUERY_PARAMETERS: MSG_PARAMETERS,
    MSG_QUERY_LOCATION: MSG_LOCATION_ANSWER,
}
"""Command id -> the terminal message that answers it (the answered serial comes first in it)."""

RESULTS = {0: "success", 1: "failure", 2: "message error", 3: "not supported"}
"""0x0001 result codes, as the answer text."""

TEXT_FLAG = 0x01
MAX_TEXT = 0x3FF - 2
"""A text message body holds the flag (and the 2019 text type) besides the text."""

_TERMINAL_RESPONSE = struct.Struct(">HHB")


def _gbk(text: str) -> bytes:
    try:
        return text.encode("gbk")
    except UnicodeEncodeError:
        raise ValueError(f"JT808 text is GBK; {text!r} does not encode") from None


def command_message(text: str, version: int | None) -> tuple[int, bytes]:
    """(message id, body) for command ``text`` on a terminal with header ``version`` (None: 2013)."""
    head, _, rest = text.partition(",")
    kind = head.strip().lower()
    if kind == "0x8104":
        return MSG_QUERY_PARAMETERS, b""
    if kind == "0x8201":
        return MSG_QUERY_LOCATION, b""
    if kind == "0x8105":
        word, _, params = rest.partition(",")
        try:
            code = int(word, 0)
        except ValueError:
            raise ValueError(f"0x8105 needs a command word, got {word!r}") from None
        if not 1 <= code <= 0xFF:
            raise ValueError(f"0x8105 command word {code} is not a byte")
        return MSG_TERMINAL_CONTROL, bytes((code,)) + _gbk(params)
    message = rest if kind == "0x8300" else text
    raw = _gbk(message)
    if not raw or len(raw) > MAX_TEXT:
        raise ValueError(f"a JT808 text message is 1 to {MAX_TEXT} bytes of GBK, got {len(raw)}")
    prefix = bytes((TEXT_FLAG,)) if version is None else bytes((TEXT_FLAG, 1))
    return MSG_TEXT, prefix + raw


def answered_serial(msg_id: int, body: bytes) -> tuple[int, int | None] | None:
    """(serial, command id) a terminal message answers, when it is an answer at all.

    0x0001 names the id; 0x0104 and 0x0201 only the serial (their command id follows from them).
    """
    if msg_id == MSG_TERMINAL_RESPONSE and len(body) >= _TERMINAL_RESPONSE.size:
        serial, reply_id, _ = _TERMINAL_RESPONSE.unpack_from(body)
        return serial, reply_id
    if msg_id in (MSG_PARAMETERS, MSG_LOCATION_ANSWER) and len(body) >= 2:
        return struct.unpack_from(">H", body)[0], None
    return None


def terminal_response(body: bytes) -> tuple[int, int, int]:
    """(answered serial, answered id, result) of a 0x0001 body."""
    serial, reply_id, result = _TERMINAL_RESPONSE.unpack_from(body)
    return serial, reply_id, result


def encode_terminal_response(serial: int, msg_id: int, result: int = 0) -> bytes:
    """The body of the terminal's 0x0001 answer to platform message ``msg_id`` number ``serial``."""
    return _TERMINAL_RESPONSE.pack(serial & 0xFFFF, msg_id & 0xFFFF, result & 0xFF)


def decode_command_text(msg_id: int, body: bytes, version: int | None) -> str:
    """The command text a terminal reads from platform message ``msg_id`` (inverse of :func:`command_message`)."""
    if msg_id == MSG_TEXT:
        skip = 1 if version is None else 2
        return body[skip:].decode("gbk", errors="replace")
    if msg_id == MSG_TERMINAL_CONTROL:
        params = body[1:].decode("gbk", errors="replace")
        return f"0x8105,{body[0]}" + (f",{params}" if params else "")
    return f"0x{msg_id:04x}"
