"""E-mail both ways through a real ``telediag serve``: support mail sent to its SMTP listener becomes a
ticket, and a finding covered by a notification rule reaches a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import json
import smtplib
import time
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from protocols.record import iso_utc
from tests.integration.harness import ServerProcess, free_port, run_cli
from tests.telediag.mail.smtpserver import Arrived, SmtpServer

pytestmark = pytest.mark.slow
IMEI = "356307042441014"
ICCID = "8948000000000000078"
CONTACT = "anna@acme.example"
WITHIN_S = 30.0


def api(port: int, path: str, token: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method="GET" if body is None else "POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


received: list[Arrived] = []
"""Every message the SMTP server took in this test, in order."""


def text_of(arrived: Arrived) -> str:
    body = arrived.message.get_body(("plain",))
    return str(arrived.message["Subject"]) + "\n" + (body.get_content() if body is not None else "")


def wait_for(smtp: SmtpServer, matches: Callable[[str], bool]) -> Arrived:
    """The first message whose subject and text match, polling the server for at most ``WITHIN_S``."""
    began = time.monotonic()
    while time.monotonic() - began < WITHIN_S:  # a bounded poll
        received.extend(smtp.inbox.take())
        found = [a for a in received if matches(text_of(a))]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no such message reached the SMTP server; it took: {[text_of(a) for a in received]}")


def cli(server: ServerProcess, *args: str) -> str:
    done = run_cli([*args, "--data-dir", str(server.data_dir)])
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_support_mail_becomes_a_ticket_and_a_finding_is_mailed_to_the_account(tmp_path: Path) -> None:
    smtp = SmtpServer()
    smtp.start()
    intake_port = free_port()
    server = ServerProcess(tmp_path / "data", extra_toml=(
        f'[mail]\nhost = "127.0.0.1"\nport = {smtp.port}\nsender = "support@telediag.example"\n'
        "poll_interval_s = 0.5\n"
        "[notifications]\nsweep_interval_s = 1.0\n"
        f'[mail_intake]\nlisten = "tcp:{intake_port}:interface=127.0.0.1"\n'
    ))
    try:
        server.start()
        registry = tmp_path / "devices.csv"
        registry.write_text(
            "imei,protocol,account,vehicle_plate,iccid,apn,roaming,coverage,home_country,activated_at,"
            "report_interval_s\n"
            f"{IMEI},teltonika,Acme,WX 1234,{ICCID},fleet.example,true,domestic,PL,2026-01-01T00:00:00Z,60\n"
        )
        cli(server, "devices", "import", str(registry))
        cli(server, "contacts", "add", "--account", "Acme", "--name", "Anna Nowak", "--email", CONTACT,
            "--language", "pl", "--permissions", "technical")
        cli(server, "notifications", "add", "--account", "Acme", "--codes", "APN_MISCONFIGURED",
            "--min-duration-s", "0", "--recipients", CONTACT, "--language", "pl")
        token = cli(server, "tokens", "create", "--role", "admin").strip()

        # intake: the contact writes to support through the operator's mail system
        message = EmailMessage()
        message["From"], message["To"] = f"Anna Nowak <{CONTACT}>", "support@telediag.example"
        message["Subject"] = "Tracker not visible"
        message.set_content(f"Our van with tracker {IMEI} is not visible on the map since this morning.")
        with smtplib.SMTP("127.0.0.1", intake_port, timeout=120) as client:
            client.send_message(message)
        tickets = api(server.api_port, "/api/v1/tickets", token)["tickets"]
        [filed] = [t for t in tickets if t["origin"] == "customer"]
        assert filed["devices"] == [IMEI]

        # notification: the network refuses the APN, the finding is mailed to the contact in Polish
        now = time.time()
        events = [{"iccid": ICCID, "imei": IMEI, "at": iso_utc(now - 20 + i), "type": "pdp_reject", "cause": cause,
                   "apn": "internet", "mcc": 260, "mnc": 1, "rat": "4G"} for i, cause in enumerate((33, 27))]
        api(server.api_port, "/api/v1/connectivity/events", token, events)
        notification = wait_for(smtp, lambda text: IMEI in text and "APN" in text)
        assert notification.recipients == [CONTACT]
        acknowledged = [a for a in received if f"[#{filed['id']}]" in text_of(a)]
        assert acknowledged and acknowledged[0].recipients == [CONTACT], "the contact got no answer naming the ticket"
    finally:
        server.stop()
        smtp.stop()
