"""Live connections lose access when their token or user does, against a real `tocsin serve`
(SQLite, and PostgreSQL when configured) spoken to over graphql-transport-ws: a revoked token,
an expired token, a deactivated user and a lowered role each close the connections concerned
with 4403 (on the legacy graphql-ws protocol too), while every other connection stays open
and keeps receiving events. Access events reach ADMIN subscribers only."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import BACKENDS, create_postgres_database, drop_postgres_database
from tests.fixtures_server import RunningServer, node_peers, start_server, stop_server
from tests.live.conftest import (
    RawClient,
    add_note,
    create_incident,
    create_user,
    mutate,
    ws_url,
)

EVENTS = "subscription { events { sequence type note } }"
REVOKE = "mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }"
SET_ROLE = "mutation($u: ID!, $r: Role!) { setUserRole(userId: $u, role: $r) { role } }"
SET_ACTIVE = "mutation($u: ID!, $a: Boolean!) { setUserActive(userId: $u, active: $a) { active } }"
FOR_USER = "mutation($u: ID!) { createApiTokenForUser(userId: $u) { token } }"


@pytest.fixture(scope="module", params=BACKENDS)
async def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[RunningServer]:
    base = os.environ.get("TOCSIN_TEST_POSTGRES_URL", "")
    database_url = await create_postgres_database(base) if request.param == "postgres" else None
    running = start_server(tmp_path_factory.mktemp(f"access-{request.param}"), database_url)
    yield running
    stop_server(running)
    if database_url is not None:
        await drop_postgres_database(base, database_url)


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def subscribed(server: RunningServer, token: str) -> RawClient:
    """A connection of `token` with a live `events` subscription (id "1") in place."""
    client = await RawClient.connect(server, token)
    assert await client.receive() == {"type": "connection_ack"}
    await client.subscribe("1", EVENTS)
    await client.send({"type": "ping"})
    assert await client.receive() == {"type": "pong"}  # handled in order: subscribed
    return client


async def next_event(client: RawClient) -> dict[str, Any]:
    while True:
        message = await client.receive(seconds=10)
        if message["type"] == "next":
            return message["payload"]["data"]["events"]  # type: ignore[no-any-return]
        assert message["type"] == "ping", message


async def test_a_revoked_token_closes_its_connection_and_no_other(server: RunningServer):
    token, token_id, user_id = await create_user(server, unique("revoked"), "VIEWER")
    other_token = (await mutate(server, FOR_USER, {"u": user_id}))["createApiTokenForUser"]
    bystander_token, _, _ = await create_user(server, unique("bystander"), "VIEWER")
    revoked = await subscribed(server, token)
    same_user = await subscribed(server, other_token["token"])
    bystander = await subscribed(server, bystander_token)
    admin = await subscribed(server, server.admin_token)
    incident = await create_incident(server, title="before the revocation")
    for client in (revoked, same_user, bystander, admin):
        assert (await next_event(client))["type"] == "incident.created"

    await mutate(server, REVOKE, {"id": token_id})
    code, reason, before = await revoked.until_closed()
    assert (code, reason) == (4403, "Forbidden: token revoked")
    assert before == []  # the access event itself is not for VIEWERs

    assert (await next_event(admin))["type"] == "token.revoked"  # ADMINs see it
    await add_note(server, incident, "after the revocation")
    for client in (same_user, bystander, admin):
        got = await next_event(client)  # the first event a VIEWER sees since: not token.revoked
        assert (got["type"], got["note"]) == ("incident.note_added", "after the revocation")
        await client.close()

    again = await RawClient.connect(server, token)
    assert (await again.until_closed())[:2] == (4403, "Forbidden: invalid token")


async def test_an_expiring_token_closes_its_connection_at_expiry(server: RunningServer):
    expires_at = (datetime.now(UTC) + timedelta(seconds=8)).isoformat()
    token, _, _ = await create_user(server, unique("expiring"), "VIEWER", expires_at)
    lasting_token, _, _ = await create_user(server, unique("lasting"), "VIEWER")
    expiring = await subscribed(server, token)
    lasting = await subscribed(server, lasting_token)
    incident = await create_incident(server, title="while the token is valid")
    assert (await next_event(expiring))["type"] == "incident.created"
    assert (await next_event(lasting))["type"] == "incident.created"

    code, reason, _ = await expiring.until_closed(seconds=30)
    assert (code, reason) == (4403, "Forbidden: token expired")
    await add_note(server, incident, "after the expiry")
    assert (await next_event(lasting))["note"] == "after the expiry"
    await lasting.close()


async def test_a_lowered_role_closes_the_connection_and_a_raised_one_does_not(
        server: RunningServer):
    manager_token, _, manager_id = await create_user(server, unique("manager"), "MANAGER")
    viewer_token, _, viewer_id = await create_user(server, unique("viewer"), "VIEWER")
    demoted = await subscribed(server, manager_token)
    promoted = await subscribed(server, viewer_token)

    await mutate(server, SET_ROLE, {"u": manager_id, "r": "VIEWER"})
    assert (await demoted.until_closed())[:2] == (4403, "Forbidden: role changed")
    await mutate(server, SET_ROLE, {"u": viewer_id, "r": "RESPONDER"})
    await create_incident(server, title="after the role changes")
    assert (await next_event(promoted))["type"] == "incident.created"  # still open

    # The demoted user reconnects, with the rights it has now.
    back = await RawClient.connect(server, manager_token)
    assert await back.receive() == {"type": "connection_ack"}
    await back.subscribe("q", "{ viewer { role } }")
    answer = await back.receive()
    assert answer["payload"] == {"data": {"viewer": {"role": "VIEWER"}}}
    for client in (promoted, back):
        await client.close()


async def test_a_deactivated_user_loses_every_connection_until_reactivated(
        server: RunningServer):
    token, _, user_id = await create_user(server, unique("leaver"), "RESPONDER")
    second = (await mutate(server, FOR_USER, {"u": user_id}))["createApiTokenForUser"]["token"]
    stayer_token, _, _ = await create_user(server, unique("stayer"), "RESPONDER")
    legacy = await RawClient.connect(server, second, protocol="graphql-ws")
    assert await legacy.receive() == {"type": "connection_ack"}
    connections = [await subscribed(server, t) for t in (token, second)] + [legacy]
    stayer = await subscribed(server, stayer_token)

    assert (await mutate(server, SET_ACTIVE, {"u": user_id, "a": False})
            )["setUserActive"] == {"active": False}
    for client in connections:
        assert (await client.until_closed())[:2] == (4403, "Forbidden: user is deactivated")
    refused = await RawClient.connect(server, token)
    assert (await refused.until_closed())[:2] == (4403, "Forbidden: user is deactivated")
    await create_incident(server, title="after the deactivation")
    assert (await next_event(stayer))["type"] == "incident.created"

    await mutate(server, SET_ACTIVE, {"u": user_id, "a": True})
    welcome = await RawClient.connect(server, token)
    assert await welcome.receive() == {"type": "connection_ack"}
    for client in (stayer, welcome):
        await client.close()


async def test_the_reference_client_sees_4403_when_its_token_is_revoked(server: RunningServer):
    js = node_peers()
    token, token_id, _ = await create_user(server, unique("reference"), "VIEWER")
    node = await asyncio.create_subprocess_exec(
        "node", "subscribe.mjs", ws_url(server), token, "100", EVENTS, cwd=js,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert node.stdout is not None
    async with asyncio.timeout(20):
        assert json.loads(await node.stdout.readline()) == {"ready": True}
    await mutate(server, REVOKE, {"id": token_id})
    out, err = await asyncio.wait_for(node.communicate(), 20)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert lines == [{"error": {"code": 4403, "reason": "Forbidden: token revoked"}}], err
