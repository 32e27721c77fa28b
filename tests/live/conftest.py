"""Helpers for live-update tests: mutations over HTTP against a real server, a subscriber
through the Python `gql` client, and a raw WebSocket client for checks below the level of the
reference clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import websockets
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.fixtures_server import RunningServer


def ws_url(server: RunningServer) -> str:
    return server.url.replace("http://", "ws://") + "/graphql"


# One client for the session's event loop: building one is slow.
_http: list[httpx.AsyncClient] = []


async def mutate(server: RunningServer, query: str, variables: dict[str, Any] | None = None,
                 token: str | None = None) -> dict[str, Any]:
    if not _http:
        _http.append(httpx.AsyncClient(timeout=10))
    response = await _http[0].post(
        server.graphql, json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token or server.admin_token}"})
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]  # type: ignore[no-any-return]


async def create_incident(server: RunningServer, title: str = "Checkout down",
                          public: bool = False, service_id: str | None = None,
                          impact: str = "HIGH", urgency: str = "HIGH") -> str:
    data = await mutate(server, """mutation($input: CreateIncidentInput!) {
        createIncident(input: $input) { id } }""", {"input": {
        "title": title, "impact": impact, "urgency": urgency, "public": public,
        "serviceId": service_id}})
    return str(data["createIncident"]["id"])


async def add_note(server: RunningServer, incident_id: str, note: str,
                   public: bool = False) -> str:
    data = await mutate(server, """mutation($id: ID!, $note: String!, $public: Boolean) {
        addIncidentNote(id: $id, note: $note, public: $public) { sequence } }""",
                        {"id": incident_id, "note": note, "public": public})
    return str(data["addIncidentNote"]["sequence"])


async def logged_sequences(server: RunningServer, after: str | None = None) -> list[str]:
    """Every sequence in the event log after `after`, read over HTTP."""
    found: list[str] = []
    cursor = after
    while True:
        data = await mutate(server, """query($after: String) {
            events(after: $after, first: 100) { edges { node { sequence } }
            pageInfo { hasNextPage endCursor } } }""", {"after": cursor})
        page = data["events"]
        found += [e["node"]["sequence"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        cursor = page["pageInfo"]["endCursor"]


def transport(server: RunningServer, protocol: str, token: str | None = "admin"
              ) -> WebsocketsTransport:
    if token == "admin":
        token = server.admin_token
    payload = {"authorization": f"Bearer {token}"} if token else {}
    return WebsocketsTransport(url=ws_url(server), init_payload=payload,
                               subprotocols=[protocol])


async def collect(server: RunningServer, protocol: str, query: str, variables: dict[str, Any],
                  count: int, started: asyncio.Event | None = None,
                  token: str | None = "admin") -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    link = transport(server, protocol, token)
    async with Client(transport=link) as session:

        async def consume() -> None:
            async for result in session.subscribe(GraphQLRequest(query,
                                                                 variable_values=variables)):
                received.append(result)
                if len(received) >= count:
                    return

        consuming = asyncio.create_task(consume())
        if started is not None:
            # Once the subscribe message is on the socket, a later request's answer proves
            # the server has registered the subscription (it handles messages in order).
            while not link.listeners and not consuming.done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            await session.execute(GraphQLRequest("{ __typename }"))
            started.set()
        await consuming
    return received


@contextlib.asynccontextmanager
async def following(server: RunningServer, query: str, variables: dict[str, Any] | None = None,
                    token: str | None = "admin") -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """A graphql-transport-ws subscriber through `gql`, registered on the server when the
    block starts; each result arrives on the queue, so a test can act, then read what it
    caused, one frame at a time."""
    frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    link = transport(server, "graphql-transport-ws", token)
    async with Client(transport=link) as session:

        async def consume() -> None:
            async for result in session.subscribe(GraphQLRequest(
                    query, variable_values=variables or {})):
                frames.put_nowait(result)

        consuming = asyncio.create_task(consume())
        try:
            while not link.listeners and not consuming.done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            await session.execute(GraphQLRequest("{ __typename }"))  # as in `collect`
            yield frames
        finally:
            consuming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consuming


class RawClient:
    """graphql-transport-ws by hand, for protocol-level checks."""

    def __init__(self, socket: websockets.ClientConnection) -> None:
        self.socket = socket

    @classmethod
    async def connect(cls, server: RunningServer, token: str | None = None,
                      protocol: str = "graphql-transport-ws", init: bool = True,
                      **options: Any) -> RawClient:
        socket = await websockets.connect(ws_url(server), subprotocols=[protocol],  # type: ignore[list-item]
                                          **options)
        client = cls(socket)
        if init:
            await client.send({"type": "connection_init",
                               "payload": {"authorization": f"Bearer {token}"} if token else {}})
        return client

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self, seconds: float = 5) -> dict[str, Any]:
        async with asyncio.timeout(seconds):
            return json.loads(await self.socket.recv())  # type: ignore[no-any-return]

    async def subscribe(self, op_id: str, query: str,
                        variables: dict[str, Any] | None = None) -> None:
        await self.send({"id": op_id, "type": "subscribe",
                         "payload": {"query": query, "variables": variables or {}}})

    async def until_closed(self, seconds: float = 10) -> tuple[int, str, list[dict[str, Any]]]:
        """Read until the server closes the socket: its close code and reason, and what came
        before (keep-alive pings aside). Times out when it stays open for `seconds`."""
        before: list[dict[str, Any]] = []
        async with asyncio.timeout(seconds):
            try:
                while True:
                    message = json.loads(await self.socket.recv())
                    if message.get("type") not in ("ping", "ka"):
                        before.append(message)
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None, "closed without a close frame"
                return closed.rcvd.code, closed.rcvd.reason, before

    async def close(self) -> None:
        await self.socket.close()


async def create_user(server: RunningServer, name: str, role: str,
                      expires_at: str | None = None) -> tuple[str, str, str]:
    """A new user with `role` through the API: (its token, the token's id, the user's id)."""
    data = await mutate(server, """mutation($name: String!, $role: Role!, $at: DateTime) {
        createApiToken(name: $name, role: $role, expiresAt: $at) {
            token apiToken { id user { id } } } }""",
                        {"name": name, "role": role, "at": expires_at})
    made = data["createApiToken"]
    return made["token"], made["apiToken"]["id"], made["apiToken"]["user"]["id"]
