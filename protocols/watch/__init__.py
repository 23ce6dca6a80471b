"""Watch protocol (3G / SeTracker wearables and kid trackers): the sans-IO codec.

Frames ``[MF*<id>*<len hex>*<content>]`` with an escaped, length-counted content; the server
answers link (``LK``) and alarm (``AL``) frames but not positions. See ``framing`` for how the
stream is cut and ``content`` for the message layouts.
"""

from protocols.watch.content import PROTOCOL
from protocols.watch.device import DeviceCodec, frame, position_text
from protocols.watch.session import ServerSession, reply

DEFAULT_PORT = 5093

__all__ = ["DEFAULT_PORT", "DeviceCodec", "PROTOCOL", "ServerSession", "frame", "position_text", "reply"]
