"""Knowledge base endpoints: list, add and edit articles; the customer's answer to a suggested article;
staff linking an article to a ticket; the how-to questions no article answered (gaps).

Customers read published articles only (an unpublished one is a 404, like an unknown one); customer
office, technical and admin write; everyone else reads (``telediag.api.policy`` says so). Bodies are checked by
:func:`telediag.kb.articles.parse_article`, every problem reported at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telediag import languages as i18n
from telediag.api import ticket_actions as actions
from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError, bad_request, invalid_items, not_found, too_many_items
from telediag.api.handlers import Call, Reply
from telediag.api.jsonio import read_json
from telediag.kb import answers
from telediag.kb import repository as kb
from telediag.kb.articles import ID, InvalidArticle, parse_article
from telediag.kb.markdown import render
from telediag.kb.text import LANGUAGES
from telediag.store.database import Connection
from telediag.store.reader import Reader
from telediag.tickets.model import TicketError, TicketNotFound

MAX_ARTICLES_PER_POST = 1000
"""Articles in one POST (a larger set goes through ``telediag kb import``)."""


def _article_id(call: Call) -> str:
    raw = call.captures["id"]
    if not ID.fullmatch(raw):
        raise not_found(f"no article {raw[:40]}")
    return raw


def _body(api: ApiBackend, call: Call) -> Any:
    body = read_json(call.request, api.limits.max_body_bytes)
    call.query.finish()
    return body


def _saved(db: Connection, items: list[Any], by: str, now: float) -> dict[str, Any]:
    problems: list[str] = []
    parsed = []
    seen: dict[str, int] = {}
    for number, item in enumerate(items, start=1):
        try:
            article = parse_article(item)
        except InvalidArticle as error:
            problems += [f"article {number}: {p}" for p in error.problems]
            continue
        if article.id in seen:
            problems.append(f"article {number}: id {article.id} is also article {seen[article.id]}")
        seen.setdefault(article.id, number)
        parsed.append(article)
    if problems:
        raise invalid_items("articles", problems)
    try:
        return kb.save_articles(db, parsed, by, now)
    except InvalidArticle as error:
        raise invalid_items("articles", error.problems) from None


def _visible(db: Connection, role: str, article_id: str) -> dict[str, Any]:
    article = kb.get_article(db, article_id)
    if article is None or (role == "customer" and not article["published"]):
        raise not_found(f"no article {article_id}")
    return article


def _with_html(db: Connection, article: dict[str, Any], role: str) -> dict[str, Any]:
    shown = [t for t in kb.translations(db, article["group"]) if role != "customer" or t["published"]]
    return {**article, "html": render(article["body"]), "translations": shown}


def saved_work(item: dict[str, Any], who: Any, now: float) -> Callable[[Connection], dict[str, Any]]:
    """The work of saving one article from the console's form (checked as the API checks it)."""
    return lambda db: _saved(db, [item], actions.by(who), now)


async def list_articles(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/kb/articles[?language=&review=true&limit=]``: a customer gets the published ones, in
    ``language`` or else the Accept-Language's."""
    who, query = call.who, call.query
    language, review, limit = query.text("language"), query.text("review"), query.limit()
    query.finish()
    if language is not None and language not in LANGUAGES:
        raise bad_request(f"language must be one of {', '.join(LANGUAGES)}", code="invalid_parameter")
    if review not in (None, "true", "false"):
        raise bad_request("review must be true or false", code="invalid_parameter")
    customer = who.role == "customer"
    if customer and language is None:
        language = i18n.negotiate(call.request.getHeader("accept-language"))

    def run(reader: Reader) -> dict[str, Any]:
        rows = kb.list_articles(reader.connection, language=language, published_only=customer,
                                needs_review=None if review is None else review == "true", limit=limit + 1)
        return {"articles": rows[:limit], "count": min(len(rows), limit), "truncated": len(rows) > limit}

    return Reply(200, await api.read(run))


async def create_articles(api: ApiBackend, call: Call) -> Reply:
    """``POST /api/v1/kb/articles``: one article or a list; all stored (new or updated) or none."""
    body = _body(api, call)
    items = [body] if isinstance(body, dict) else body
    if not isinstance(items, list) or not items:
        raise bad_request("send one article object or a non-empty list of them", code="invalid_articles")
    if len(items) > MAX_ARTICLES_PER_POST:
        raise too_many_items("articles", MAX_ARTICLES_PER_POST)
    return Reply(200, await api.write(_saved, items, actions.by(call.who), api.now()))


async def show_article(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/kb/articles/{id}``: the article with its body as safe HTML and its other languages."""
    article_id, role = _article_id(call), call.who.role
    call.query.finish()

    def run(reader: Reader) -> dict[str, Any]:
        return _with_html(reader.connection, _visible(reader.connection, role, article_id), role)

    return Reply(200, await api.read(run))


async def update_article(api: ApiBackend, call: Call) -> Reply:
    """``PUT /api/v1/kb/articles/{id}``: the whole article (its ``id`` may be left out)."""
    article_id = _article_id(call)
    body = _body(api, call)
    if not isinstance(body, dict):
        raise bad_request("the body must be one article object", code="invalid_articles")
    if body.setdefault("id", article_id) != article_id:
        raise bad_request(f"the body's id {str(body['id'])[:80]!r} is not the id in the path, {article_id}",
                          code="invalid_articles")
    by, now = actions.by(call.who), api.now()

    def run(db: Connection) -> dict[str, Any]:
        _saved(db, [body], by, now)
        return _with_html(db, _visible(db, "admin", article_id), "admin")

    return Reply(200, await api.write(run))


async def list_gaps(api: ApiBackend, call: Call) -> Reply:
    """``GET /api/v1/kb/gaps[?limit=]``: customers' how-to questions no article answered, newest first."""
    limit = call.query.limit()
    call.query.finish()

    def run(reader: Reader) -> dict[str, Any]:
        found = answers.gaps(reader.connection, limit)
        return {"gaps": found, "count": len(found)}

    return Reply(200, await api.read(run))


async def answer_suggestion(api: ApiBackend, call: Call) -> Reply:
    """``POST /api/v1/tickets/{id}/suggested_answer`` with ``{"helped": true|false, "reason": optional}``."""
    ticket_id = _ticket_id(call)
    body = _body(api, call)
    if not isinstance(body, dict) or not isinstance(body.get("helped"), bool) or set(body) - {"helped", "reason"}:
        raise bad_request('send {"helped": true} or {"helped": false, "reason": "..."}', code="invalid_answer")
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 2000):
        raise bad_request("reason must be text of at most 2000 characters", code="invalid_answer")
    return Reply(200, await api.write(suggestion_answered(api, call.who, ticket_id, body["helped"], reason)))


def suggestion_answered(api: ApiBackend, who: Any, ticket_id: int, helped: bool, reason: str | None) -> Any:
    """The work of the customer's answer (shared with the console's buttons)."""
    desk = _desk(api)

    def run(db: Connection) -> dict[str, Any]:
        actions.visible(db, who, ticket_id)
        if helped:
            answers.accept(db, desk, ticket_id, actions.by(who), api.now())
        else:
            answers.decline(db, desk, ticket_id, actions.by(who), reason, api.now())
        return actions.document(db, who, ticket_id)

    return _rules(run)


async def link_article(api: ApiBackend, call: Call) -> Reply:
    """``POST /api/v1/tickets/{id}/articles`` with ``{"article": id}``: staff answer with an article."""
    ticket_id = _ticket_id(call)
    body = _body(api, call)
    if not isinstance(body, dict) or not isinstance(body.get("article"), str) or set(body) - {"article"}:
        raise bad_request('send {"article": "<article id>"}', code="invalid_link")
    return Reply(200, await api.write(article_linked(api, call.who, ticket_id, body["article"])))


def article_linked(api: ApiBackend, who: Any, ticket_id: int, article_id: str) -> Any:
    """The work of linking an article to a ticket (shared with the console's form)."""
    desk = _desk(api)

    def run(db: Connection) -> dict[str, Any]:
        actions.visible(db, who, ticket_id)
        answers.link_article(db, desk, ticket_id, article_id, actions.by(who), api.now())
        return actions.document(db, who, ticket_id)

    return _rules(run)


def _rules(function: Callable[[Connection], dict[str, Any]]) -> Callable[[Connection], dict[str, Any]]:
    """Ticket rule violations become 409 with the rule's message (as for the other ticket actions)."""
    def wrapped(db: Connection) -> dict[str, Any]:
        try:
            return function(db)
        except TicketNotFound as error:
            raise not_found(str(error)) from None
        except TicketError as error:
            raise ApiError(409, "conflict", str(error)) from None
    return wrapped


def _desk(api: ApiBackend) -> Any:
    if api.desk is None:
        raise ApiError(503, "unavailable", "tickets are not enabled on this server")
    return api.desk


def _ticket_id(call: Call) -> int:
    raw = call.captures["id"]
    if not actions.TICKET_ID.fullmatch(raw):
        raise not_found(f"no ticket {raw[:20]}")
    return int(raw)


KB_HANDLERS = {
    "kb.list": list_articles,
    "kb.create": create_articles,
    "kb.detail": show_article,
    "kb.update": update_article,
    "kb.gaps": list_gaps,
    "ticket.suggested_answer": answer_suggestion,
    "ticket.link_article": link_article,
}
KB_ROUTES = (
    (("api", "v1", "kb", "articles"), {"GET": "kb.list", "POST": "kb.create"}),
    (("api", "v1", "kb", "articles", "{id}"), {"GET": "kb.detail", "PUT": "kb.update"}),
    (("api", "v1", "kb", "gaps"), {"GET": "kb.gaps"}),
    (("api", "v1", "tickets", "{id}", "suggested_answer"), {"POST": "ticket.suggested_answer"}),
    (("api", "v1", "tickets", "{id}", "articles"), {"POST": "ticket.link_article"}),
)
