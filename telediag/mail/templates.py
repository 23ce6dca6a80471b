"""The words of every message telediag sends, in the recipient's language, and the RFC 5322 message
around them.

Pure: items and values in, ``(subject, body)`` and message bytes out. Texts are gettext calls on the
catalogue of the language (``telediag/locale``, refreshed with ``make messages``); finding titles are
the catalogue's own. Staff of the technical and IT teams read no personal data (DESIGN.md, Roles):
their messages name devices by IMEI and accounts by pseudonym, never plates or names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import default
from email.utils import format_datetime, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

from telediag.diagnostics.catalogue import FINDINGS
from telediag.languages import catalogue


def N_(message: str) -> str:  # noqa: N802 (the marker name gettext tools look for)
    """Mark a text for the catalogues; it is translated where it is used."""
    return message


EVENT_TEXTS: Mapping[str, str] = {
    "ticket.created": N_("the ticket was opened"),
    "ticket.open": N_("the ticket is being worked on"),
    "ticket.waiting_customer": N_("the ticket waits for your answer"),
    "ticket.resolved": N_("the ticket was resolved"),
    "ticket.closed": N_("the ticket was closed"),
    "ticket.reopened": N_("the ticket was reopened"),
    "ticket.commented": N_("a comment was added"),
    "ticket.enriched": N_("new information was added"),
    "ticket.outage_update": N_("news about the mass outage"),
    "ticket.sla_breached": N_("the agreed response time was exceeded"),
}


@dataclass(frozen=True)
class Reader:
    """Who a message is for: the address, the language, and whether personal data must stay out."""

    address: str
    language: str
    pseudonymised: bool = False


@dataclass(frozen=True)
class Context:
    """What every notification of one rule and group shares."""

    rule_id: int
    account: str
    """The account as this reader may see it (a pseudonym for technical and IT staff)."""
    zone: ZoneInfo
    outage: int | None
    """The mass outage ticket the items belong to, if any."""
    console_url: str = ""


def _local(at: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, zone).strftime("%Y-%m-%d %H:%M")


def _device(item: Mapping[str, Any], reader: Reader) -> str:
    plate = item.get("plate")
    return str(item["imei"]) if reader.pseudonymised or not plate else f"{plate} ({item['imei']})"


def _line(item: Mapping[str, Any], reader: Reader, context: Context) -> str:
    """One item as a line of a digest."""
    texts = catalogue(reader.language)
    if item["kind"] == "finding":
        title = texts.gettext(FINDINGS[item["code"]].title)
        return texts.gettext("{device}: {title} (since {since})").format(
            device=_device(item, reader), title=title, since=_local(item["since"], context.zone))
    what = texts.gettext(EVENT_TEXTS.get(item["event"], item["event"]))
    return texts.gettext("Ticket #{id} {title}: {what}").format(
        id=item["ticket_id"], title=_title(item, reader), what=what)


def _title(item: Mapping[str, Any], reader: Reader) -> str:
    return f"«{item['ticket_id']}»" if reader.pseudonymised else f"«{item.get('title') or ''}»"


def render(items: Sequence[Mapping[str, Any]], reader: Reader, context: Context) -> tuple[str, str]:
    """Subject and body of the message telling ``reader`` about ``items`` (one, or a digest of many)."""
    texts = catalogue(reader.language)
    greeting = texts.gettext("Hello,")
    footer = texts.gettext("You receive this message because of notification rule {rule} of account {account}."
                           ).format(rule=context.rule_id, account=context.account)
    if len(items) == 1:
        item = items[0]
        if item["kind"] == "finding":
            title = texts.gettext(FINDINGS[item["code"]].title)
            subject = f"[telediag] {title}: {_device(item, reader)}"
            text = texts.gettext("Tracker {device} of account {account}: {title}.\n"
                                 "This has lasted since {since} ({zone}).").format(
                device=_device(item, reader), account=context.account, title=title,
                since=_local(item["since"], context.zone), zone=context.zone.key)
        else:
            subject = f"[#{item['ticket_id']}] " + (str(item["ticket_id"]) if reader.pseudonymised
                                                   else str(item.get("title") or ""))
            what = texts.gettext(EVENT_TEXTS.get(item["event"], item["event"]))
            text = texts.gettext("Ticket #{id} {title}: {what}.").format(
                id=item["ticket_id"], title=_title(item, reader), what=what)
            if item.get("note") and not reader.pseudonymised:
                text += "\n\n" + str(item["note"])
            text += "\n\n" + texts.gettext("To answer, reply to this message and keep [#{id}] in the subject."
                                           ).format(id=item["ticket_id"])
            if context.console_url:
                text += "\n" + f"{context.console_url.rstrip('/')}/tickets/{item['ticket_id']}"
        return subject, f"{greeting}\n\n{text}\n\n-- \n{footer}\n"
    count = texts.ngettext("{count} notification", "{count} notifications", len(items)).format(count=len(items))
    if context.outage is not None:
        subject = "[telediag] " + texts.gettext("Mass outage #{id}: {count}").format(id=context.outage, count=count)
        intro = texts.gettext("A mass outage (ticket #{id}) affects account {account}:").format(
            id=context.outage, account=context.account)
    else:
        subject = "[telediag] " + texts.gettext("Account {account}: {count}").format(
            account=context.account, count=count)
        intro = texts.gettext("Account {account}, gathered into one message:").format(account=context.account)
    lines = "\n".join(f"- {_line(item, reader, context)}" for item in items)
    return subject, f"{greeting}\n\n{intro}\n\n{lines}\n\n-- \n{footer}\n"


def answer_text(language: str, kind: str, **values: Any) -> tuple[str, str]:
    """Subject and body of an answer to support mail: ``unknown_sender``, ``not_permitted``,
    ``not_your_ticket``, ``ticket_created``."""
    texts = catalogue(language)
    subject = values.get("subject") or ""
    re_subject = subject if subject.lower().startswith("re:") else f"Re: {subject}".strip()
    if kind == "unknown_sender":
        body = texts.gettext(
            "Thank you for your message. We could not find your address among the contacts of our "
            "customers, so no ticket was opened.\nIf you are our customer, please ask your account's "
            "administrator to add you as a contact, or write from the address we know.")
    elif kind == "not_permitted":
        body = texts.gettext(
            "Thank you for your message. Your address may not send {topic} for account {account}, so no "
            "ticket was opened.\nThese contacts may: {names}.").format(
            topic=texts.gettext(PERMISSION_TEXTS[values["permission"]]), account=values["account"],
            names=values["names"]
            or texts.gettext("nobody yet; please ask your account's administrator"))
    elif kind == "not_your_ticket":
        body = texts.gettext(
            "Thank you for your message. Ticket #{id} is not a ticket of your account, so your message "
            "was not added to it.").format(id=values["ticket_id"])
    else:
        re_subject = f"[#{values['ticket_id']}] {re_subject}"
        body = texts.gettext(
            "Thank you for your message. We opened ticket #{id} for it.\nTo add to it, reply to this "
            "message and keep [#{id}] in the subject.").format(id=values["ticket_id"])
    return re_subject[:200], texts.gettext("Hello,") + "\n\n" + body + "\n"


PERMISSION_TEXTS: Mapping[str, str] = {
    "technical": N_("questions about the trackers and the service"),
    "billing": N_("questions about the contract and invoices"),
}


def build_message(
    sender: str, recipient: str, subject: str, body: str, now: float, *, auto: str = "auto-generated",
    in_reply_to: str | None = None, language: str = "en",
) -> bytes:
    """The whole message as ASCII bytes (quoted-printable UTF-8 body, lines ending in ``\n`` as
    ``twisted.mail.smtp`` wants them), with a ``Message-ID`` and the
    ``Auto-Submitted`` header of RFC 3834, so well-behaved systems never answer it automatically."""
    message = EmailMessage(policy=default)  # "\n" line ends: Twisted's SMTP client makes them CRLF
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.fromtimestamp(now).astimezone())
    message["Message-ID"] = make_msgid("telediag", domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = auto
    message["Content-Language"] = language
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(body, charset="utf-8", cte="quoted-printable")
    return message.as_bytes()
