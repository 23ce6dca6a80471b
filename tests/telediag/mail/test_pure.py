"""The pure parts of e-mail: rule checks, quiet hours, digest grouping, message parsing and the
words of messages, without sockets or a store."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from zoneinfo import ZoneInfo

import pytest

from protocols.record import parse_iso_utc
from telediag.config import ConfigError, parse_section
from telediag.mail.contacts import ContactError, parse_contact
from telediag.mail.notify import due_groups, outage_of
from telediag.mail.parse import devices_named, needed_permission, parse_message, without_quotes
from telediag.mail.rules import Rule, RuleError, in_quiet_hours, parse_rule, rule_zone
from telediag.mail.templates import Context, Reader, answer_text, build_message, render

WARSAW = ZoneInfo("Europe/Warsaw")


def test_a_rule_body_is_checked_with_every_problem_named() -> None:
    with pytest.raises(RuleError) as raised:
        parse_rule({"account": "Acme", "codes": ["NOPE"], "events": ["ticket.exploded"], "min_duration_s": -1,
                    "quiet_hours": "25:00-07:00", "timezone": "Mars/Base", "language": "de",
                    "recipients": ["someone"], "colour": "red"}, staff=True)
    text = str(raised.value)
    for part in ("unknown field 'colour'", "codes: unknown 'NOPE'", "events: unknown 'ticket.exploded'",
                 "min_duration_s", "quiet_hours", "timezone", "language", "'someone' is not"):
        assert part in text
    fields = parse_rule({"account": "Acme", "codes": ["DEVICE_SILENT"], "min_duration_s": 600,
                         "quiet_hours": "22:00-07:00", "recipients": ["account", "Boss@Acme.example",
                                                                        "team:technical"]}, staff=True)
    assert fields["recipients"] == ("account", "boss@acme.example", "team:technical")
    assert fields["events"] == () and fields["min_duration_s"] == 600.0


def test_customers_may_not_write_to_staff_teams() -> None:
    with pytest.raises(RuleError, match="customers may not write to the staff teams"):
        parse_rule({"account": "Acme", "events": ["ticket.resolved"], "recipients": ["team:it"]}, staff=False)
    with pytest.raises(RuleError, match="at least one finding code"):
        parse_rule({"account": "Acme", "recipients": ["account"]}, staff=True)


def test_a_contact_body_is_checked() -> None:
    with pytest.raises(ContactError) as raised:
        parse_contact({"account": "", "name": "", "email": "not-an-address", "language": "de",
                       "permissions": ["root"]})
    assert len(raised.value.problems) == 5
    fields = parse_contact({"account": "Acme", "name": "Anna", "email": " Anna@Acme.Example ",
                            "permissions": "billing,technical"})
    assert fields["email"] == "anna@acme.example" and fields["permissions"] == ("billing", "technical")


@pytest.mark.parametrize(("local", "quiet"), [
    ("2026-11-16T21:59", False), ("2026-11-16T22:00", True), ("2026-11-17T03:00", True),
    ("2026-11-17T06:59", True), ("2026-11-17T07:00", False), ("2026-11-17T12:00", False),
])
def test_quiet_hours_across_midnight_on_the_account_clock(local: str, quiet: bool) -> None:
    from datetime import datetime

    at = datetime.fromisoformat(local).replace(tzinfo=WARSAW).timestamp()
    assert in_quiet_hours("22:00-07:00", WARSAW, at) is quiet
    assert in_quiet_hours(None, WARSAW, at) is False


def test_quiet_hours_within_one_day_and_the_zone_of_the_account_country() -> None:
    noon_utc = parse_iso_utc("2026-07-01T12:00:00Z")  # 14:00 in Warsaw (CEST), 15:00 in Moscow
    assert in_quiet_hours("13:00-15:00", WARSAW, noon_utc)
    assert not in_quiet_hours("13:00-15:00", ZoneInfo("Europe/Moscow"), noon_utc)
    rule = Rule(1, "Acme", ("DEVICE_SILENT",), (), 0, "13:00-15:00", None, None, ("account",))
    assert rule_zone(rule, "PL", "UTC").key == "Europe/Warsaw"
    assert rule_zone(rule, None, "UTC").key == "UTC"
    assert rule_zone(Rule(1, "Acme", (), (), 0, None, "Asia/Tokyo", None, ()), "PL", "UTC").key == "Asia/Tokyo"


def test_digest_groups_send_at_once_then_wait_for_their_window() -> None:
    now = 10_000.0
    groups = ["account:Acme", "outage:7"]
    assert due_groups(groups, {}, False, 600, now) == ["account:Acme", "outage:7"]
    assert due_groups(groups, {"account:Acme": now - 60}, False, 600, now) == ["outage:7"]
    assert due_groups(groups, {"account:Acme": now - 600}, False, 600, now) == ["account:Acme", "outage:7"]
    assert due_groups(groups, {}, True, 600, now) == []  # quiet hours hold everything
    assert outage_of("outage:7") == 7 and outage_of("account:Acme") is None


def test_one_item_is_a_message_many_are_a_digest_in_the_readers_language() -> None:
    context = Context(3, "Acme", WARSAW, None)
    finding = {"kind": "finding", "code": "DEVICE_SILENT", "imei": "356307042441013", "plate": "WX 1234",
               "since": parse_iso_utc("2026-11-16T07:00:00Z")}
    subject, body = render([finding], Reader("a@acme.example", "ru"), context)
    assert subject == "[telediag] Трекер перестал выходить на связь: WX 1234 (356307042441013)"
    assert "2026-11-16 08:00 (Europe/Warsaw)" in body and "Трекер" in body
    staff_subject, staff_body = render([finding], Reader("t@ops.example", "en", pseudonymised=True),
                                       Context(3, "acct-0123456789ab", WARSAW, None))
    assert "WX 1234" not in staff_subject + staff_body and "Acme" not in staff_body
    items = [dict(finding, imei=f"35630704244101{n}", plate=None) for n in range(4)]
    subject, body = render(items, Reader("a@acme.example", "pl"), Context(3, "Acme", WARSAW, 99))
    assert "#99" in subject and "4" in subject
    assert body.count("\n- ") == 4
    event = {"kind": "event", "event": "ticket.commented", "ticket_id": 12, "title": "No GPS", "note": "Try it now"}
    subject, body = render([event], Reader("a@acme.example", "sv"), context)
    assert subject == "[#12] No GPS" and "Try it now" in body and "[#12]" in body


def test_messages_are_ascii_with_a_message_id_and_auto_submitted() -> None:
    raw = build_message("desk@telediag.example", "anna@acme.example", "Трекер", "Привет", 1_790_000_000.0)
    raw.decode("ascii")
    message = message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "Трекер" and message["Auto-Submitted"] == "auto-generated"
    assert message.get_content().strip() == "Привет" and message["Message-ID"].endswith("@telediag.example>")
    subject, body = answer_text("pl", "not_permitted", subject="Faktura", permission="billing", account="Acme",
                                names="Anna")
    assert subject == "Re: Faktura" and "Anna" in body


def mail(subject: str, body: str, sender: str = "Anna <Anna@Acme.example>", **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@telediag.example"
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def test_parsing_a_reply_with_attachments_and_a_quoted_history() -> None:
    message = EmailMessage()
    message["From"] = "Anna <Anna@Acme.example>"
    message["Subject"] = "Re: [#42] Tracker silent"
    message["Message-ID"] = "<abc@acme.example>"
    message.set_content("It is still silent.\n\nOn Mon, 16 Nov 2026, desk wrote:\n> old text\n> more\n")
    message.add_attachment(b"\x89PNG...", maintype="image", subtype="png", filename="dashboard.png")
    message.add_attachment(b"log", maintype="text", subtype="plain", filename="tracker log.txt")
    incoming = parse_message(message.as_bytes(), 10_000)
    assert incoming.sender == "anna@acme.example" and incoming.ticket_id == 42
    assert incoming.text == "It is still silent." and incoming.attachments == ("dashboard.png", "tracker log.txt")
    assert incoming.message_id == "<abc@acme.example>" and not incoming.automatic


def test_machine_mail_html_bodies_and_long_texts() -> None:
    assert parse_message(mail("Out of office", "away", Auto_Submitted="auto-replied"), 100).automatic
    assert parse_message(mail("News", "hi", Precedence="bulk"), 100).automatic
    assert parse_message(mail("Bounce", "x", sender="MAILER-DAEMON@mx.example"), 100).automatic
    html = EmailMessage()
    html["From"] = "a@acme.example"
    html["Subject"] = "html"
    html.set_content("<p>Hello &amp; <b>help</b></p><script>x()</script>", subtype="html")
    assert parse_message(html.as_bytes(), 100).text == "Hello & help"
    long = parse_message(mail("long", "x" * 500), 100)
    assert len(long.text) <= 104 and long.text.endswith("[…]")
    assert without_quotes("new\n> quoted\nmore") == "new\nmore"


def test_devices_named_by_imei_or_plate_as_people_type_them() -> None:
    fleet = [("356307042441013", "WX 1234"), ("356307042441021", "KR-55AB"), ("356307042441039", None)]
    assert devices_named("tracker 356307042441039 is dead", fleet) == ["356307042441039"]
    assert devices_named("the car wx1234 has no position", fleet) == ["356307042441013"]
    assert devices_named("Car KR 55AB and WX-1234, please", fleet) == ["356307042441013", "356307042441021"]
    assert devices_named("code WX12345 is not a plate of ours, 3563070424410131 neither", fleet) == []


def test_billing_questions_need_the_billing_permission() -> None:
    assert needed_permission("Question about the invoice for November") == "billing"
    assert needed_permission("Вопрос по счету за ноябрь") == "billing"
    assert needed_permission("Tracker WX 1234 shows no position") == "technical"


def test_config_sections_have_working_defaults_and_name_the_key() -> None:
    assert not parse_section("mail", {}).enabled and not parse_section("mail_intake", {}).enabled
    intake = parse_section("mail_intake", {"listen": "tcp:2525:interface=127.0.0.1"})
    assert intake.enabled and intake.max_message_bytes == 10 * 1024 * 1024
    with pytest.raises(ConfigError, match=r"\[mail\] sender: 'nobody' is not an e-mail address"):
        parse_section("mail", {"sender": "nobody"})
    with pytest.raises(ConfigError, match=r"\[mail_intake\] listen: 'udp:25'"):
        parse_section("mail_intake", {"listen": "udp:25"})
    with pytest.raises(ConfigError, match=r"\[notifications\] digest_window_s must be positive"):
        parse_section("notifications", {"digest_window_s": 0})
    with pytest.raises(ConfigError, match=r"\[mail\] has no key 'hots'"):
        parse_section("mail", {"hots": "x"})
