"""JT/T 808 (2011/2013/2019) terminals, Traccar's "huabao"/"jt808": the sans-IO codec.

Frames are ``7E | escaped(header | body | BCC) | 7E``; the terminal phone number in the header
identifies the device. ``ServerSession`` decodes a TCP stream and says what to answer (0x8100 to a
registration, 0x8001 to authentication, heartbeats and every location); ``DeviceCodec`` is the
terminal side the simulators drive. See ``framing`` for the wire format, ``location`` and
``extras`` for positions and their additional items, ``messages`` for the rest.
"""

from protocols.jt808.device import DeviceCodec, DeviceReceiver, encode_auth, encode_location, encode_registration
from protocols.jt808.fields import PROTOCOL, device_id
from protocols.jt808.framing import Frame, build_frame
from protocols.jt808.session import ServerSession

DEFAULT_PORT = 5015
"""Traccar's port for this protocol (its "huabao" decoder), so fleets set up for it can point here."""

__all__ = [
    "DEFAULT_PORT",
    "PROTOCOL",
    "DeviceCodec",
    "DeviceReceiver",
    "Frame",
    "ServerSession",
    "build_frame",
    "device_id",
    "encode_auth",
    "encode_location",
    "encode_registration",
]
