"""PROTOCOL_ERRORS of frames another codec recognised: the evidence names the protocol and its port,
and the hint says where to point the tracker, with the command in that tracker's syntax, in every
language (the command stays literal)."""

from __future__ import annotations

from protocols.sniff import Detection, note
from telediag import languages
from telediag.config import Thresholds
from telediag.diagnostics.checks import check_protocol
from telediag.diagnostics.hints import hint
from telediag.diagnostics.snapshot import DeviceSnapshot

IMEI = "356307042441013"
MESSAGE = f"{note(Detection('gt06', 5023, IMEI), 'teltonika')}: IMEI length 30840 is not 15-17"


def test_the_evidence_names_the_protocol_the_frames_speak_and_its_port() -> None:
    snapshot = DeviceSnapshot(imei=IMEI, now=1_767_000_000.0, errors_in_window=9,
                              last_error={"message": MESSAGE, "excerpt": "78780d01"})
    evidence = check_protocol(snapshot, Thresholds())["PROTOCOL_ERRORS"]
    assert evidence is not None
    assert (evidence["detected_protocol"], evidence["detected_port"], evidence["port_protocol"]) == (
        "gt06", 5023, "teltonika")
    plain = check_protocol(DeviceSnapshot(imei=IMEI, now=1.0, errors_in_window=9,
                                          last_error={"message": "bad CRC", "excerpt": ""}), Thresholds())
    assert "detected_protocol" not in (plain["PROTOCOL_ERRORS"] or {})


def test_the_hint_names_the_port_and_the_command_in_every_language() -> None:
    text = hint("PROTOCOL_ERRORS", "gt06", {"last_error": MESSAGE}, None)
    assert text.startswith("GT06 frames arrive on the Teltonika port: set the tracker's server port to 5023. ")
    assert '"SERVER,1,<server address>,5023,0#"' in text
    for language in ("pl", "ru", "sv"):
        said = text.say(languages.catalogue(language))
        assert "GT06" in said and "Teltonika" in said and "5023" in said and "SERVER,1," in said, language
        assert "frames arrive" not in said, language
    structured = hint("PROTOCOL_ERRORS", None, {"detected_protocol": "h02", "detected_port": 5013,
                                                "port_protocol": "gt06"}, None)
    assert structured.startswith("H02 frames arrive on the GT06 port: set the tracker's server port to 5013.")


def test_other_protocol_errors_keep_their_hint() -> None:
    text = hint("PROTOCOL_ERRORS", "teltonika", {"last_error": "bad CRC"}, None)
    assert text.startswith("The server cannot read what the tracker sends (bad CRC).")
