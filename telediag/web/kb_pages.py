"""The console's knowledge base: ``/kb`` (articles: customers the published ones in their language),
``/kb/articles/{id}`` (one, rendered safely), ``/kb/new`` and ``/kb/articles/{id}/edit`` (customer
office, technical and admin write), ``/kb/gaps`` (how-to questions no article answered), and the two
forms a ticket page carries: the customer's answer to a suggested article and staff linking one.

Every action passes the API's endpoint check (``policy.check_allowed``) and runs the API's own work
(``telediag.api.kb_handlers``), so a page can do exactly what the API lets that person do.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from telediag.api import kb_handlers, policy
from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError
from telediag.diagnostics.catalogue import FINDINGS
from telediag.kb import answers
from telediag.kb import repository as kb
from telediag.kb.articles import ID, MAX_BODY, MAX_TITLE
from telediag.kb.markdown import render
from telediag.kb.text import LANGUAGES
from telediag.store.reader import Reader
from telediag.web.answers import Page, not_found, redirect
from telediag.web.areas import PageRequest

STAFF = frozenset({"admin", "customer_office", "technical", "it"})
FORM_FIELDS = ("id", "language", "title", "body", "tags", "finding_codes")


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]


class KbPages:
    """Pages under ``/kb``."""

    def __init__(self, api: ApiBackend) -> None:
        self.api = api

    async def answer(self, request: PageRequest) -> Page | None:
        segments, method, role = request.segments, request.method, request.session.role
        if segments == ["kb"] and method == b"GET":
            return await self._list(request)
        if segments == ["kb", "gaps"] and method == b"GET" and role in STAFF:
            found = await self.api.read(lambda reader: answers.gaps(reader.connection))
            return Page(200, request.render("kb_gaps.html", gaps=found))
        if segments == ["kb", "new"] and role in policy.KB_WRITERS:
            if method == b"GET":
                return self._form(request, {"language": request.pages.language, "published": "on"}, "", True)
            if method == b"POST":
                return await self._save(request, None)
        if len(segments) >= 3 and segments[1] == "articles" and ID.fullmatch(segments[2]):
            article_id = segments[2]
            if len(segments) == 3 and method == b"GET":
                return await self._show(request, article_id)
            if len(segments) == 4 and segments[3] == "edit" and role in policy.KB_WRITERS:
                if method == b"POST":
                    return await self._save(request, article_id)
                if method == b"GET":
                    return await self._edit(request, article_id)
        if len(segments) == 3 and segments[1] in ("answer", "link") and segments[2].isascii() \
                and segments[2].isdigit() and method == b"POST":
            return await self._ticket_action(request, segments[1], int(segments[2]))
        return None

    async def _list(self, request: PageRequest) -> Page:
        role = request.session.role
        language = request.query.get("language")
        if language not in LANGUAGES:
            language = request.pages.language if role == "customer" else None
        customer = role == "customer"
        articles = await self.api.read(lambda reader: kb.list_articles(
            reader.connection, language=language, published_only=customer, limit=500))
        return Page(200, request.render("kb_list.html", articles=articles, chosen=language, languages=LANGUAGES,
                                        writer=role in policy.KB_WRITERS, staff=role in STAFF))

    async def _show(self, request: PageRequest, article_id: str) -> Page:
        role = request.session.role

        def run(reader: Reader) -> dict[str, Any] | None:
            found = kb.get_article(reader.connection, article_id)
            if found is None or (role == "customer" and not found["published"]):
                return None
            shown = [t for t in kb.translations(reader.connection, found["group"]) if role != "customer"
                     or t["published"]]
            return {**found, "translations": shown}

        article = await self.api.read(run)
        if article is None:
            return not_found(request.pages)
        return Page(200, request.render("kb_article.html", article=article, html=Markup(render(article["body"])),
                                        writer=role in policy.KB_WRITERS))

    async def _edit(self, request: PageRequest, article_id: str) -> Page:
        article = await self.api.read(lambda reader: kb.get_article(reader.connection, article_id))
        if article is None:
            return not_found(request.pages)
        values = {**article, "tags": ", ".join(article["tags"]), "finding_codes": ", ".join(article["finding_codes"]),
                  "published": "on" if article["published"] else ""}
        return self._form(request, values, "", False)

    def _form(self, request: PageRequest, values: dict[str, Any], message: str, new: bool, status: int = 200) -> Page:
        return Page(status, request.render("kb_edit.html", values=values, message=message, new=new,
                                           languages=LANGUAGES, codes=sorted(FINDINGS), max_title=MAX_TITLE,
                                           max_body=MAX_BODY))

    async def _save(self, request: PageRequest, article_id: str | None) -> Page:
        form = request.form
        item: dict[str, Any] = {
            "id": article_id or form.get("id", "").strip(), "language": form.get("language", ""),
            "title": form.get("title", ""), "body": form.get("body", "").replace("\r\n", "\n"),
            "tags": _split(form.get("tags", "")), "finding_codes": _split(form.get("finding_codes", "")),
            "published": form.get("published") == "on",
        }
        values = {**form, "id": item["id"]}
        try:
            policy.check_allowed(request.session.principal, "kb.update" if article_id else "kb.create")
            await self.api.write(kb_handlers.saved_work(item, request.session.principal, self.api.now()))
        except ApiError as error:
            message = "; ".join(error.details) if error.details else error.message
            return self._form(request, values, message, article_id is None, 400 if error.status < 500 else error.status)
        return redirect(f"/kb/articles/{item['id']}")

    async def _ticket_action(self, request: PageRequest, action: str, ticket_id: int) -> Page | None:
        who, form = request.session.principal, request.form
        try:
            if action == "answer":
                policy.check_allowed(who, "ticket.suggested_answer")
                helped = form.get("helped") == "yes"
                work = kb_handlers.suggestion_answered(self.api, who, ticket_id, helped, form.get("reason") or None)
            else:
                policy.check_allowed(who, "ticket.link_article")
                work = kb_handlers.article_linked(self.api, who, ticket_id, form.get("article", "").strip())
            await self.api.write(work)
        except ApiError as error:
            if error.status in (403, 404):
                return not_found(request.pages)
            return Page(400 if error.status < 500 else error.status, request.pages.message(
                request.gettext("Not done"), error.message, f"/tickets/{ticket_id}", request.gettext("Back")))
        return redirect(f"/tickets/{ticket_id}")
