"""Answers from the knowledge base: a ticket just filed is matched against the articles of its language;
a confident match is sent to the customer as the suggested answer, and the ticket waits for them.

Called after :meth:`telediag.tickets.desk.TicketDesk.file` returned (the API, the console and e-mail
intake file tickets through the same function), on the same connection. Only a customer's how-to
question that no finding answered yet is answered: a problem report or a feature inquiry goes to a
person however well an article matches, and below :data:`THRESHOLD`, or without a :data:`MARGIN` over
the runner-up, nothing is sent. Every candidate is kept
(``kb_suggestions``) so the desk sees them on the ticket.

The customer then accepts the answer (the ticket is resolved, and the ticket's words teach the article)
or says it did not help (the ticket goes back to a person and the article is flagged for review). Staff
answering a ticket by linking an article teach the article the same way (:func:`link_article`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from twisted.logger import Logger

from protocols.record import iso_utc
from telediag.kb import repository as kb
from telediag.kb.markdown import plain
from telediag.kb.search import Match, search
from telediag.kb.text import LANGUAGES, joined
from telediag.store.database import Connection, transaction
from telediag.tickets import repository as tickets
from telediag.tickets.classifier.matcher import asks
from telediag.tickets.desk import TicketDesk
from telediag.tickets.incidents import SYSTEM
from telediag.tickets.model import ACTIVE_STATES, TicketError

THRESHOLD = 0.25
"""The confidence (``telediag.kb.search``) from which an article is sent as the answer; tuned on the
tuning half of the labelled tickets (``tests/telediag/kb/labelled_tickets.jsonl``) and the first blind
set (``blind_tickets.jsonl``, tuning data since its one measurement)."""
MARGIN = 0.05
"""How far the best article must be ahead of the best article of another group: two articles that
answer a ticket about equally well mean neither is sure to be the answer."""
MIN_MATCHED_TERMS = 2
"""Terms of the ticket the article must hold besides a finding: one shared word is never an answer."""
ANSWERED_CATEGORIES = frozenset({"how_to"})
"""Categories answered automatically: questions. Problem reports and feature inquiries go to a person."""
CANDIDATES = 5
"""Articles kept per ticket for the desk."""
SUGGESTED_ANSWER = "suggested_answer"
"""The timeline kind of an answer sent from the knowledge base (DESIGN.md, Knowledge base)."""
ARTICLE_LINKED = "article_linked"
"""The timeline kind of an article staff linked to a ticket as its answer."""
_log = Logger()


@dataclass(frozen=True)
class Outcome:
    """What matching did for one ticket."""

    candidates: tuple[Match, ...]
    sent: Match | None


def confident(matches: Sequence[Match], category: str, asked: bool = True) -> Match | None:
    """The article to send for a ticket of ``category`` with these candidates (best first), or None.

    ``asked``: the ticket asks something (a question sentence). A text that asks nothing and that the
    classifier only called a how-to by default ("all vans show a wrong speed") is a report, not a
    question: it is never answered automatically.
    """
    if category not in ANSWERED_CATEGORIES or not matches or not asked:
        return None
    best = matches[0]
    enough = len(best.matched) >= MIN_MATCHED_TERMS or (best.findings and best.matched)
    runner_up = next((m.score for m in matches[1:] if m.group != best.group), 0.0)
    return best if best.score >= THRESHOLD and best.score - runner_up >= MARGIN and enough else None


def ticket_text(ticket: dict[str, Any]) -> str:
    """What a ticket asks: its title (when it is not just the start of the description) and description."""
    title, description = ticket.get("title") or "", ticket.get("description") or ""
    return description if description.startswith(title.rstrip(".")) else f"{title}\n{description}"


def _language(ticket: dict[str, Any]) -> str:
    language = ticket.get("language")
    return language if language in LANGUAGES else "en"


def _active_codes(db: Connection, ticket_id: int) -> list[str]:
    return [r[0] for r in db.execute("SELECT DISTINCT code FROM ticket_findings WHERE ticket_id = ? ORDER BY code",
                                     (ticket_id,))]


def answer_text(db: Connection, match: Match) -> str:
    """The timeline text of a suggested answer: the article's title, where to read it, and its start."""
    body = db.execute("SELECT body FROM kb_articles WHERE id = ?", (match.id,)).fetchone()[0]
    return f"{match.title}\n{plain(body, 300)}\nRead the whole article: /kb/articles/{match.id}"


def answer_ticket(db: Connection, desk: TicketDesk, ticket_id: int, now: float) -> Outcome:
    """Match a ticket just filed; keep the candidates, and send a confident answer (the ticket then waits
    for the customer). A ticket already waiting (a finding answered it) keeps that answer."""
    ticket = tickets.row(db, ticket_id)
    matches = search(db, ticket_text(ticket), _language(ticket), _active_codes(db, ticket_id), CANDIDATES)
    sent = None
    if ticket["origin"] == "customer" and ticket["state"] == "new":
        sent = confident(matches, ticket["category"], asks(ticket_text(ticket)))
    with transaction(db):
        for rank, match in enumerate(matches, start=1):
            db.execute(
                "INSERT INTO kb_suggestions (ticket_id, article_id, score, rank, sent, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ticket_id, article_id) DO NOTHING",
                (ticket_id, match.id, match.score, rank, int(match is sent), now))
        if sent is not None:
            tickets.add_timeline(db, ticket_id, now, SUGGESTED_ANSWER, SYSTEM, answer_text(db, sent))
            desk.lifecycle.move(db, ticket_id, "waiting_customer", SYSTEM, now,
                                f"answered with article {sent.id}; waiting for the customer to say whether it helped")
    return Outcome(tuple(matches), sent)


def answer_filed(db: Connection, desk: TicketDesk, ticket_id: int, now: float) -> Outcome | None:
    """:func:`answer_ticket` for the paths that file tickets: the ticket is filed (committed) whatever
    happens here, so a failure is logged and the ticket stays with the desk instead of failing the
    request (whose retry would file it twice)."""
    try:
        return answer_ticket(db, desk, ticket_id, now)
    except Exception:
        _log.failure("knowledge base: matching ticket {ticket} failed; it stays with the desk", ticket=ticket_id)
        return None


def _sent(db: Connection, ticket_id: int) -> str:
    row = db.execute("SELECT article_id FROM kb_suggestions WHERE ticket_id = ? AND sent = 1 AND outcome IS NULL",
                     (ticket_id,)).fetchone()
    if row is None:
        raise TicketError(f"ticket {ticket_id} has no suggested article waiting for an answer")
    return str(row[0])


def accept(db: Connection, desk: TicketDesk, ticket_id: int, by: str, now: float) -> None:
    """The customer says the suggested article answered the question: resolved, and the article learns
    the ticket's words."""
    with transaction(db):
        article_id = _sent(db, ticket_id)
        ticket = tickets.row(db, ticket_id)
        db.execute("UPDATE kb_suggestions SET outcome = 'accepted', decided_at = ? WHERE ticket_id = ? "
                   "AND article_id = ?", (now, ticket_id, article_id))
        kb.link(db, ticket_id, article_id, ticket["language"], joined(ticket_text(ticket), _language(ticket)),
                by, now)
        if ticket["state"] in ACTIVE_STATES:
            desk.lifecycle.move(db, ticket_id, "resolved", by, now,
                                f"the suggested article {article_id} answered the question", staff=False)


def decline(db: Connection, desk: TicketDesk, ticket_id: int, by: str, reason: str | None, now: float) -> None:
    """The customer says the article did not help: the ticket goes back to a person, the article is
    flagged for review with the customer's reason."""
    with transaction(db):
        article_id = _sent(db, ticket_id)
        ticket = tickets.row(db, ticket_id)
        db.execute("UPDATE kb_suggestions SET outcome = 'declined', decided_at = ? WHERE ticket_id = ? "
                   "AND article_id = ?", (now, ticket_id, article_id))
        note = f"did not help on ticket {ticket_id}" + (f": {reason.strip()}" if reason and reason.strip() else "")
        kb.flag_for_review(db, article_id, note, now)
        text = "the suggested article did not help" + (f": {reason.strip()}" if reason and reason.strip() else "")
        if ticket["state"] == "waiting_customer":
            desk.lifecycle.move(db, ticket_id, "open", by, now, text, staff=False)
        else:
            tickets.add_timeline(db, ticket_id, now, "comment", by, text)


def link_article(db: Connection, desk: TicketDesk, ticket_id: int, article_id: str, by: str, now: float) -> bool:
    """Staff answer a ticket with an article: a timeline entry the customer reads, and the ticket's words
    teach the article (the next similar question finds it). False when it was linked already."""
    with transaction(db):
        ticket = tickets.row(db, ticket_id)
        row = db.execute("SELECT title FROM kb_articles WHERE id = ?", (article_id,)).fetchone()
        if row is None:
            raise TicketError(f"no article {article_id}")
        if not kb.link(db, ticket_id, article_id, ticket["language"],
                       joined(ticket_text(ticket), _language(ticket)), by, now):
            return False
        tickets.add_timeline(db, ticket_id, now, ARTICLE_LINKED, by,
                             f"{row[0]}\nRead the whole article: /kb/articles/{article_id}")
        desk.lifecycle.responded(db, ticket, now)
        tickets.update_ticket(db, ticket_id, updated_at=now)
    return True


def suggested_articles(db: Connection, ticket_id: int, staff: bool) -> list[dict[str, Any]]:
    """The ticket document's ``suggested_articles``: ``{"id", "title", "score", "sent", "outcome"}``, best
    first; a customer sees only the one sent to them."""
    rows = db.execute(
        "SELECT s.article_id, a.title, s.score, s.sent, s.outcome FROM kb_suggestions s "
        "JOIN kb_articles a ON a.id = s.article_id WHERE s.ticket_id = ? ORDER BY s.rank", (ticket_id,))
    return [{"id": i, "title": title, "score": score, "sent": bool(sent), "outcome": outcome}
            for i, title, score, sent, outcome in rows if staff or sent]


def gaps(db: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """Customers' how-to questions that no article answered (none was sent and staff linked none), newest
    first, with the best candidate the desk saw: the articles worth writing."""
    rows = db.execute(
        "SELECT t.id, t.title, t.language, t.state, t.created_at, "
        "(SELECT max(s.score) FROM kb_suggestions s WHERE s.ticket_id = t.id) FROM tickets t "
        "WHERE t.origin = 'customer' AND t.category = 'how_to' "
        "AND NOT EXISTS (SELECT 1 FROM kb_suggestions s WHERE s.ticket_id = t.id AND s.sent = 1) "
        "AND NOT EXISTS (SELECT 1 FROM kb_links l WHERE l.ticket_id = t.id) "
        "AND NOT EXISTS (SELECT 1 FROM ticket_timeline e WHERE e.ticket_id = t.id AND e.kind = ?) "
        "ORDER BY t.id DESC LIMIT ?", (SUGGESTED_ANSWER, limit))
    return [{"ticket": i, "title": title, "language": language, "state": state, "created_at": iso_utc(at),
             "best_score": best} for i, title, language, state, at, best in rows]
