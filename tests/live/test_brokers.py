"""The Redis and PostgreSQL brokers against real servers (set TOCSIN_TEST_REDIS_URL and
TOCSIN_TEST_POSTGRES_URL): delivery between processes, NOTIFY's size limit, recovery
from a dropped broker connection with nothing lost, and a revocation on one process closing
a connection on the other. Channels are unique per run."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import asyncpg
import pytest
import redis.asyncio as aioredis

from app.broker import Broker, EventNotice, Resync, create_broker
from app.events.models import Event
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.fixtures_server import RunningServer, start_server, stop_server
from tests.live.conftest import RawClient, add_note, create_incident, create_user, mutate

POSTGRES_URL = os.environ.get("TOCSIN_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("TOCSIN_TEST_REDIS_URL")
needs_postgres = pytest.mark.skipif(not POSTGRES_URL,
                                    reason="TOCSIN_TEST_POSTGRES_URL is not set")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="TOCSIN_TEST_REDIS_URL is not set")


def channel() -> str:
    return f"tocsin_test_{uuid.uuid4().hex[:10]}"


def event(sequence: int, note: str = "hello") -> Event:
    made = Event(id=sequence, type="incident.note_added", occurred_at=datetime.now(UTC),
                 service_id=3, priority="P2", from_status=None, to_status=None, note=note,
                 public=True, payload={"k": "v"})
    made.actor_id = 7
    made.incident_id = 5
    return made


async def next_event_notice(stream: AsyncIterator[object]) -> EventNotice:
    async with asyncio.timeout(10):
        async for notice in stream:
            if isinstance(notice, EventNotice):
                return notice
    raise AssertionError("stream ended")


async def round_trip(broker: Broker) -> None:
    await broker.start()
    stream = broker.subscribe()
    try:
        async with asyncio.timeout(10):
            assert isinstance(await anext(stream), Resync)
        await broker.publish([event(41)])
        notice = await next_event_notice(stream)
        assert notice.sequence == 41 and notice.event is not None
        got = notice.event
        assert (got.type, got.note, got.actor_id, got.incident_id, got.service_id,
                got.priority, got.public, got.payload) == (
            "incident.note_added", "hello", 7, 5, 3, "P2", True, {"k": "v"})
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await broker.close()


@needs_redis
async def test_redis_broker_carries_events():
    await round_trip(create_broker(REDIS_URL or "", channel=channel()))


@needs_postgres
async def test_postgres_broker_carries_events_and_only_the_sequence_of_big_ones():
    broker = create_broker(POSTGRES_URL or "", channel=channel())
    await round_trip(broker)
    broker = create_broker(POSTGRES_URL or "", channel=channel())
    await broker.start()
    stream = broker.subscribe()
    try:
        async with asyncio.timeout(10):
            assert isinstance(await anext(stream), Resync)
        await broker.publish([event(42, note="x" * 9000)])
        notice = await next_event_notice(stream)
        assert (notice.sequence, notice.event) == (42, None)  # listeners read the row
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await broker.close()


async def drop_listener(broker_url: str, name: str) -> None:
    if broker_url.startswith("redis"):
        client = aioredis.Redis.from_url(broker_url)
        try:
            for entry in await client.client_list():
                if entry.get("name") == name:
                    await client.client_kill_filter(_id=entry["id"])
        finally:
            await client.aclose()
    else:
        conn = await asyncpg.connect(broker_url.replace("postgres://", "postgresql://", 1))
        try:
            await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                               " WHERE application_name = $1", name)
        finally:
            await conn.close()


@pytest.fixture
async def shared_database() -> AsyncIterator[str]:
    assert POSTGRES_URL
    url = await create_postgres_database(POSTGRES_URL)
    yield url
    await drop_postgres_database(POSTGRES_URL, url)


@pytest.fixture(params=[
    pytest.param("redis", marks=[needs_redis, needs_postgres]),
    pytest.param("postgres", marks=needs_postgres),
])
def two_servers(request: pytest.FixtureRequest, shared_database: str,
                tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[RunningServer, RunningServer, str, str]]:
    name = channel()
    broker_url = REDIS_URL if request.param == "redis" else shared_database
    assert broker_url
    env = {"TOCSIN_BROKER_URL": broker_url, "TOCSIN_BROKER_CHANNEL": name}
    first = start_server(tmp_path_factory.mktemp("a"), shared_database, env)
    second = start_server(tmp_path_factory.mktemp("b"), shared_database, env)
    second.admin_token = first.admin_token  # one database: the first start made the admin
    listener = (f"tocsin-listener-{name}" if request.param == "redis"
                else f"tocsin-listener {name}"[:63])
    yield first, second, broker_url, listener
    stop_server(first)
    stop_server(second)


async def test_a_subscriber_on_one_process_gets_what_the_other_caused(two_servers):
    first, second, broker_url, listener = two_servers
    client = await RawClient.connect(first, first.admin_token)
    assert await client.receive() == {"type": "connection_ack"}
    await client.subscribe("1", "subscription { events { sequence type note } }")
    await client.send({"type": "ping"})
    assert await client.receive() == {"type": "pong"}  # subscribed

    incident = await create_incident(second, title="caused elsewhere")
    await add_note(second, incident, "one")
    received = [(await client.receive(seconds=10))["payload"]["data"]["events"]
                for _ in range(2)]
    assert [(e["type"], e["note"]) for e in received] == [
        ("incident.created", None), ("incident.note_added", "one")]

    # The broker connection of every process drops; what happens meanwhile is not lost.
    await drop_listener(broker_url, listener)
    for n in range(3):
        await add_note(second, incident, f"during the outage {n}")
    notes = [(await client.receive(seconds=15))["payload"]["data"]["events"]["note"]
             for _ in range(3)]
    assert notes == [f"during the outage {n}" for n in range(3)]
    await add_note(second, incident, "after")
    last = await client.receive(seconds=10)
    assert last["payload"]["data"]["events"]["note"] == "after"
    sequences = [int(e["sequence"]) for e in received]
    assert sequences == sorted(sequences)
    await client.close()
    assert json.loads(json.dumps(last))  # plain JSON all the way


async def test_a_revocation_on_one_process_closes_the_connection_on_the_other(two_servers):
    first, second, _, _ = two_servers
    token, token_id, _ = await create_user(second, "revoked elsewhere", "VIEWER")
    kept_token, _, _ = await create_user(second, "kept elsewhere", "VIEWER")
    clients = []
    for held in (token, kept_token):
        client = await RawClient.connect(first, held)
        assert await client.receive() == {"type": "connection_ack"}
        await client.subscribe("1", "subscription { events { type note } }")
        clients.append(client)
    revoked, kept = clients
    await kept.send({"type": "ping"})
    assert await kept.receive() == {"type": "pong"}  # subscribed

    await mutate(second, "mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }",
                 {"id": token_id})
    assert (await revoked.until_closed(seconds=15))[:2] == (4403, "Forbidden: token revoked")
    incident = await create_incident(second, title="after the revocation elsewhere")
    await add_note(second, incident, "still here")
    got = [(await kept.receive(seconds=10))["payload"]["data"]["events"] for _ in range(2)]
    assert [(e["type"], e["note"]) for e in got] == [
        ("incident.created", None), ("incident.note_added", "still here")]
    await kept.close()
