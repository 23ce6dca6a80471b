"""``/accounts`` (the accounts, a page at a time, searchable by name) and ``/accounts/{account}`` (its
devices with activation window, plan, coverage and roaming, and its tickets): the customer office's
pages, and admin's. Everyone else gets the 404 page. No position or telemetry reaches these pages: every
body passes the API's output filter for the person's role first (``telediag.web.accounts``).
"""

from __future__ import annotations

from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError
from telediag.web.accounts import (
    ACCOUNTS_PER_PAGE,
    DEVICES_PER_PAGE,
    MAX_SEARCH_CHARS,
    OFFICE_ROLES,
    account_detail,
    account_href,
    account_list,
    shaped_accounts,
    shaped_devices,
)
from telediag.web.answers import Page, bad_page_number, bad_request, not_found
from telediag.web.areas import PageRequest
from telediag.web.paging import page_number
from telediag.web.trackers import visible_part


class AccountPages:
    """The accounts list and an account's page, through the API's reads, ticket documents and filter."""

    def __init__(self, api: ApiBackend) -> None:
        self.api = api

    async def answer(self, request: PageRequest) -> Page | None:
        segments = request.segments
        if request.method != b"GET" or request.session.role not in OFFICE_ROLES or len(segments) > 2:
            return None
        page = page_number(request.query.get("page"))
        if page is None:
            return bad_page_number(request.pages, "/accounts", request.gettext("All accounts"))
        if len(segments) == 1:
            return await self._list(request, page)
        if not segments[1] or len(segments[1]) > MAX_SEARCH_CHARS:
            return None
        return await self._account(request, segments[1], page)

    async def _list(self, request: PageRequest, page: int) -> Page:
        search = request.query.get("q", "").strip()
        if len(search) > MAX_SEARCH_CHARS:
            return bad_request(request.pages, request.gettext("Search for at most %(max)s characters of a name.")
                               % {"max": MAX_SEARCH_CHARS}, "/accounts", request.gettext("All accounts"))
        who = request.session.principal
        found = await self.api.read(account_list(self.api, page, search))
        visible = visible_part(self.api, who, found)
        return Page(200, request.render("accounts.html", accounts=shaped_accounts(visible), page=page,
                                        more=visible["more"], search=search, per_page=ACCOUNTS_PER_PAGE))

    async def _account(self, request: PageRequest, name: str, page: int) -> Page:
        who = request.session.principal
        try:
            found = await self.api.read(account_detail(self.api, who, name, page))
        except ApiError as error:
            if error.status == 404:
                return not_found(request.pages)
            raise
        visible = visible_part(self.api, who, found)
        devices = shaped_devices(visible, self.api.now(), self.api.config.diagnostics.activation_window_s)
        return Page(200, request.render(
            "account.html", account=visible["account"], href=account_href(visible["account"]["name"]),
            devices=devices, page=page, more=visible["more"], per_page=DEVICES_PER_PAGE,
            tickets=visible["tickets"], more_tickets=visible["more_tickets"]))
