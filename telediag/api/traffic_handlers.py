"""``/api/v1/devices/{imei}/traffic`` and ``/api/v1/traffic/unknown``: the raw frames a device sent
and was sent, and the senders no registered device accounts for.

Who may call them is ``telediag.api.policy.ENDPOINT_ROLES``: the technical and IT departments and
admins (raw bytes are telemetry in its rawest form). The frames live in the memory of the ingest
processes (``telediag.ingest.traffic``); the answer says ``partial`` when an ingest worker did not
answer in time. Each frame: ``at``, ``direction`` (in|out), ``transport``, ``remote``, ``size``,
``hex`` (at most the kept excerpt, ``truncated`` when cut), ``summary`` (what it decoded to, or what
we sent) or ``error``.
"""

from __future__ import annotations

from typing import Any

from protocols.sniff import display_name
from telediag.api.auth import Principal
from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError
from telediag.api.handlers import Call, Handler, Reply
from telediag.api.reads import visible_device
from telediag.ingest.traffic import FRAMES_PER_DEVICE, SENDERS
from telediag.ingest.traffic_source import merged_device, merged_senders

TRAFFIC_ROUTES = (
    (("api", "v1", "devices", "{imei}", "traffic"), {"GET": "device.traffic"}),
    (("api", "v1", "traffic", "unknown"), {"GET": "traffic.unknown"}),
)


def _named(detections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Detections with the protocols' names as people write them."""
    return [{**d, "protocol_name": display_name(d["protocol"]), "port_protocol_name": display_name(d["port_protocol"])}
            for d in detections]


async def device_traffic_body(api: ApiBackend, who: Principal, imei: str, limit: int) -> dict[str, Any]:
    """The device's newest frames, oldest first, and its wrong-protocol detections.

    A device the registry does not know is still answered when frames claim its IMEI (a tracker on
    the wrong port); otherwise 404, as for any unknown device.
    """
    answers = await api.traffic.ask_traffic({"device": imei, "limit": limit}) if api.traffic is not None else []
    found = merged_device(answers, limit)
    try:
        await api.read(visible_device, who, imei)
        known = True
    except ApiError as error:
        if error.status != 404 or not (found["frames"] or found["detections"]):
            raise
        known = False
    return {"imei": imei, "registered": known, "frames": found["frames"], "detections": _named(found["detections"]),
            "partial": found["partial"]}


async def unknown_traffic_body(api: ApiBackend, limit: int) -> dict[str, Any]:
    """Sources no registered device accounts for (remote addresses before any login, IMEIs the
    registry does not know), most recently active first, and the wrong-protocol detections, newest first."""
    answers = await api.traffic.ask_traffic({"senders": limit}) if api.traffic is not None else []
    found = merged_senders(answers, limit)
    return {"senders": found["senders"], "detections": _named(found["detections"]), "partial": found["partial"]}


async def device_traffic(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/devices/{imei}/traffic[?limit=]`` (at most the frames kept per device)."""
    imei, who = call.imei, call.who
    limit = min(call.query.limit(), FRAMES_PER_DEVICE)
    call.query.finish()
    return Reply(200, await device_traffic_body(api, who, imei, limit))


async def unknown_traffic(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/traffic/unknown[?limit=]`` (at most ``SENDERS``)."""
    limit = min(call.query.limit(), SENDERS)
    call.query.finish()
    return Reply(200, await unknown_traffic_body(api, limit))


TRAFFIC_HANDLERS: dict[str, Handler] = {
    "device.traffic": device_traffic,
    "traffic.unknown": unknown_traffic,
}
