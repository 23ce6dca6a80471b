"""/accounts: the customer office's accounts and their devices (no positions or telemetry)."""

from __future__ import annotations

from telediag.api.backend import ApiBackend
from telediag.web.answers import Page
from telediag.web.areas import PageRequest


class AccountPages:
    """Not built yet: every path answers None (the 404 page)."""

    def __init__(self, api: ApiBackend) -> None:
        self.api = api

    async def answer(self, request: PageRequest) -> Page | None:
        return None
