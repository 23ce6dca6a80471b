"""OsmAnd (Traccar Client) over HTTP: the sans-IO codec (server session on h11, device-side requests).

Requests such as ``GET /?id=<device>&timestamp=<epoch>&lat=..&lon=..&speed=<knots>&bearing=..`` or
Traccar Client's JSON ``POST``; each is answered ``200 OK`` (the ACK, after commit) or with a JSON
error (``400`` and the other statuses in ``session``).
See ``decode`` for the parameters and ``session`` for the HTTP handling.
"""

from protocols.osmand.device import DeviceCodec, ResponseParser, encode_request
from protocols.osmand.fields import DEFAULT_PORT, PROTOCOL
from protocols.osmand.session import REJECT_JSON, REJECT_QUERY, ServerSession, error_response, simple_response

__all__ = [
    "DEFAULT_PORT",
    "DeviceCodec",
    "PROTOCOL",
    "REJECT_JSON",
    "REJECT_QUERY",
    "ResponseParser",
    "ServerSession",
    "encode_request",
    "error_response",
    "simple_response",
]
