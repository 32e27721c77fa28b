"""The GraphQL API peer: the ASGI app in process, spoken to over HTTP by httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.asgi import create_app
from app.auth.models import Role
from app.config import Settings
from app.timesource import FrozenClock


@dataclass
class GraphQLResponse:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.body.get("errors") or []

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.errors]

    def ok(self) -> Any:
        assert not self.errors, self.errors
        return self.data


class Api:
    def __init__(self, client: httpx.AsyncClient, tokens: dict[Role, str]) -> None:
        self.client = client
        self.tokens = tokens

    async def __call__(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        role: Role | None = Role.ADMIN,
        token: str | None = None,
    ) -> GraphQLResponse:
        headers = {"accept": "application/graphql-response+json"}
        bearer = token or (self.tokens[role] if role else None)
        if bearer:
            headers["authorization"] = f"Bearer {bearer}"
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        return GraphQLResponse(response.status_code, response.json())


@pytest.fixture
def settings() -> Settings:
    return Settings(database_url="unused://", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
async def http(database: str, clock: FrozenClock, settings: Settings
               ) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, clock, manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tocsin.test") as client:
        yield client


@pytest.fixture
async def api(http: httpx.AsyncClient, users) -> Api:
    return Api(http, {role: token for role, (_, token) in users.items()})
