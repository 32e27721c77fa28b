"""Clients for the hardening tests: the app built with chosen settings (a limit on or off),
spoken to over HTTP in process, with the rate limiter's monotonic time moved by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.asgi import create_app
from app.config import Settings
from app.timesource import FrozenClock


class ManualMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_settings(**values: Any) -> Settings:
    return Settings(database_url="unused://", _env_file=None, **values)  # type: ignore[call-arg]


AppClient = Callable[..., Any]


@pytest.fixture
def app_client(database: str, clock: FrozenClock) -> AppClient:
    """`async with app_client(max_aliases=5) as (client, monotonic): ...`"""

    @asynccontextmanager
    async def make(client_host: str = "127.0.0.1", **values: Any
                   ) -> AsyncIterator[tuple[httpx.AsyncClient, ManualMonotonic]]:
        monotonic = ManualMonotonic()
        app = create_app(make_settings(**values), clock, manage_db=False, rate_clock=monotonic)
        transport = httpx.ASGITransport(app=app, client=(client_host, 4321))
        try:
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://tocsin.test") as c:
                yield c, monotonic
        finally:
            await app.state.live.limiter.close()  # the lifespan, not run here, would

    return make


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}
