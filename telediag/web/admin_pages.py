"""/admin: users, API tokens and integration status, for admins (everyone else gets the 404 page: the
admin pages are not theirs to know of).

Users and tokens are made, disabled and revoked by the functions the ``telediag users`` and
``telediag tokens`` commands run, on the API's writer thread; their refusals (a weak password, an
unknown account, a taken username) are shown on the form. A new token is shown once, on the answer
to the form that made it, and never again (only its hash is stored).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from telediag.api.backend import ApiBackend
from telediag.api.tokens import ROLES, TokenUsageError, UnknownAccount, create_token, revoke_token
from telediag.web.admin import integrations, snapshot, tokens_page, users_page
from telediag.web.answers import Page, redirect
from telediag.web.areas import PageRequest
from telediag.web.paging import page_of
from telediag.web.users import USERNAME, UserExists, UserUsageError, create_user, disable_user


class AdminPages:
    """``/admin``, ``/admin/users`` (+ ``/disable``), ``/admin/tokens`` (+ ``/{id}/revoke``) and
    ``/admin/integrations``."""

    def __init__(self, api: ApiBackend) -> None:
        self.api = api

    async def answer(self, request: PageRequest) -> Page | None:
        """The page for ``/admin/...``; None (the 404 page) for any other role and unknown paths."""
        if request.session.role != "admin":
            return None
        path, method = request.segments[1:], request.method
        if method == b"GET":
            if path == []:
                return await self._overview(request)
            if path == ["users"]:
                return await self._users(request)
            if path == ["tokens"]:
                return await self._tokens(request)
            if path == ["integrations"]:
                return await self._integrations(request)
            if path == ["users", "disable"]:
                return self._confirm_disable(request)
            if _revoking(path):
                return self._confirm_revoke(request, int(path[1]))
            return None
        if method != b"POST":
            return None
        if path == ["users"]:
            return await self._create_user(request)
        if path == ["users", "disable"]:
            return await self._disable_user(request)
        if path == ["tokens"]:
            return await self._create_token(request)
        if _revoking(path):
            return await self._revoke_token(request, int(path[1]))
        return None

    def _confirm_disable(self, request: PageRequest) -> Page | None:
        """The question before a user is disabled (there is no way back from the console)."""
        username = request.query.get("username", "")
        if not USERNAME.fullmatch(username):
            return None
        _ = request.gettext
        return Page(200, request.render(
            "admin_confirm.html", title=_("Disable %(name)s?") % {"name": username},
            question=_("%(name)s will be signed out at once and cannot sign in again. Users are never deleted, "
                       "so the audit trail keeps the name.") % {"name": username},
            action="/admin/users/disable", fields={"username": username}, button=_("Disable the user"),
            back="/admin/users"))

    def _confirm_revoke(self, request: PageRequest, token_id: int) -> Page:
        """The question before a token is revoked (whatever uses it stops working at once)."""
        _ = request.gettext
        return Page(200, request.render(
            "admin_confirm.html", title=_("Revoke token %(id)s?") % {"id": token_id},
            question=_("Every request made with this token is refused from then on; whatever uses it needs a new "
                       "one."), action=f"/admin/tokens/{token_id}/revoke", fields={}, button=_("Revoke the token"),
            back="/admin/tokens"))

    async def _overview(self, request: PageRequest) -> Page:
        seen = await self.api.read(snapshot(self.api.config, self.api.database))
        statuses = self._statuses(request, seen)
        return Page(200, request.render("admin.html", seen=seen,
                                        attention=[each for each in statuses if each.state == "attention"]))

    def _statuses(self, request: PageRequest, seen: Any) -> list[Any]:
        return integrations(self.api.config, seen, self.api.now(), metrics=getattr(self.api, "metrics", None),
                            desk=self.api.desk, gettext=request.gettext)

    async def _integrations(self, request: PageRequest) -> Page:
        seen = await self.api.read(snapshot(self.api.config, self.api.database))
        return Page(200, request.render("admin_integrations.html", integrations=self._statuses(request, seen)))

    async def _users(self, request: PageRequest, message: str = "", status: int = 200,
                     draft: dict[str, str] | None = None) -> Page:
        listed = await self.api.read(users_page(page_of(request.query.get("page"))))
        notice = ""
        created, disabled = request.query.get("created"), request.query.get("disabled")
        names = {user["username"]: user for user in listed["users"]}
        if not message and created in names:
            notice = request.gettext("User %(name)s created.") % {"name": created}
        elif not message and disabled in names and names[disabled]["disabled_at"]:
            notice = request.gettext("User %(name)s disabled; their sessions have ended.") % {"name": disabled}
        return Page(status, request.render("admin_users.html", roles=ROLES, message=message, notice=notice,
                                           draft=draft or {}, **listed))

    async def _create_user(self, request: PageRequest) -> Page:
        form = request.form
        username, role = form.get("username", "").strip(), form.get("role", "")
        account = form.get("account", "").strip() or None
        password = form.get("password", "")
        draft = {"username": username, "role": role, "account": account or ""}
        if password != form.get("confirm", ""):
            return await self._users(request, request.gettext("The two passwords differ; type the same one twice."),
                                     400, draft)
        try:
            await self.api.write(create_user, username, role, account, password, self.api.now())
        except (UserUsageError, UnknownAccount, UserExists) as error:
            return await self._users(request, _first(error), 400, draft)
        return redirect("/admin/users?" + urlencode({"created": username}))

    async def _disable_user(self, request: PageRequest) -> Page:
        username = request.form.get("username", "")
        if not USERNAME.fullmatch(username):
            return await self._users(request, request.gettext("There is no such user."), 400)
        if username.lower() == request.session.username.lower():
            return await self._users(request, request.gettext(
                "You cannot disable yourself: another admin has to (or use `telediag users disable`)."), 400)
        if not await self.api.write(disable_user, username, self.api.now()):
            return await self._users(request, request.gettext("%(name)s is not a live user.") % {"name": username}, 400)
        return redirect("/admin/users?" + urlencode({"disabled": username}))

    async def _tokens(self, request: PageRequest, message: str = "", status: int = 200,
                      draft: dict[str, str] | None = None) -> Page:
        listed = await self.api.read(tokens_page(page_of(request.query.get("page"))))
        notice = ""
        revoked = request.query.get("revoked", "")
        if not message and any(str(t["id"]) == revoked and t["revoked_at"] for t in listed["tokens"]):
            notice = request.gettext(
                "Token %(id)s revoked: requests with it are refused from now on.") % {"id": revoked}
        return Page(status, request.render("admin_tokens.html", roles=ROLES, message=message, notice=notice,
                                           draft=draft or {}, **listed))

    async def _create_token(self, request: PageRequest) -> Page:
        form = request.form
        role = form.get("role", "")
        account = form.get("account", "").strip() or None
        label = form.get("label", "").strip() or None
        try:
            token = await self.api.write(create_token, role, account, label, self.api.now())
        except (TokenUsageError, UnknownAccount) as error:
            return await self._tokens(request, _first(error), 400, {"role": role, "account": account or "",
                                                                    "label": label or ""})
        return Page(200, request.render("admin_token_created.html", token=token, token_role=role, account=account,
                                        label=label))

    async def _revoke_token(self, request: PageRequest, token_id: int) -> Page:
        if not await self.api.write(revoke_token, token_id, self.api.now()):
            return await self._tokens(request, request.gettext("Token %(id)s is not a live token.") % {"id": token_id},
                                      400)
        return redirect(f"/admin/tokens?revoked={token_id}")


def _revoking(path: list[str]) -> bool:
    """Whether the path is ``tokens/{id}/revoke`` with an id of ASCII digits that fits SQLite's integer."""
    return (len(path) == 3 and path[0] == "tokens" and path[2] == "revoke" and path[1].isascii()
            and path[1].isdigit() and len(path[1]) <= 18)


def _first(error: Exception) -> str:
    """The one-line message of a refusal from the users or tokens functions."""
    return str(error.args[0]) if error.args else str(error)
