"""GPS103 / Coban TK103-2: the sans-IO text codec (server session, device-side encoder).

Sentences such as ``imei:<imei>,tracker,yymmddhhmm,,F,hhmmss.sss,A,ddmm.mmmm,N,dddmm.mmmm,E,
knots,course,...;``; the server answers the login with ``LOAD``, heartbeats with ``ON`` and
acknowledges no position. See ``sentences`` for the layouts, ``session`` for framing and answers.
"""

from protocols.gps103.device import DeviceCodec, encode_sentence, heartbeat_sentence, login_sentence
from protocols.gps103.fields import ALARMS, DEFAULT_PORT, PROTOCOL
from protocols.gps103.session import ServerSession

__all__ = [
    "ALARMS",
    "DEFAULT_PORT",
    "DeviceCodec",
    "PROTOCOL",
    "ServerSession",
    "encode_sentence",
    "heartbeat_sentence",
    "login_sentence",
]
