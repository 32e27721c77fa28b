"""The broker (a PRIVATE Redis) is killed and restarted while mutations go on: subscribers of a
real `tocsin serve` receive every event exactly once, in order, with no gap — the server's
log follower re-reads the event log after the outage (broker notices are only hints). One
subscriber stays connected throughout; another leaves during the outage and resumes with
`after` once the broker is back."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.fixtures_redis import PrivateRedis
from tests.fixtures_server import RunningServer, start_server, stop_server
from tests.live.conftest import RawClient

NOTE = """mutation($id: ID!, $note: String!) { addIncidentNote(id: $id, note: $note)
    { sequence } }"""
LOG = """query($after: String) { events(after: $after, first: 100) {
    edges { node { sequence } } pageInfo { hasNextPage endCursor } } }"""
SUBSCRIBE = "subscription($after: String) { events(after: $after) { sequence } }"


class Subscriber:
    """A graphql-transport-ws client collecting event sequences in a background task."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.received: list[int] = []
        self.client: RawClient | None = None
        self.task: asyncio.Task[None] | None = None

    async def subscribe(self, after: int) -> None:
        self.client = await RawClient.connect(self.server, self.server.admin_token)
        assert await self.client.receive() == {"type": "connection_ack"}
        await self.client.subscribe("events", SUBSCRIBE, {"after": str(after)})
        self.task = asyncio.create_task(self._collect(self.client))

    async def _collect(self, client: RawClient) -> None:
        while True:
            message = await client.receive(seconds=120)
            if message["type"] == "ping":
                await client.send({"type": "pong"})
                continue
            assert message["type"] == "next", message
            self.received.append(int(message["payload"]["data"]["events"]["sequence"]))

    async def leave(self) -> None:
        assert self.task is not None and self.client is not None
        self.task.cancel()
        await self.client.close()

    async def until_seen(self, sequence: int, seconds: float) -> None:
        for _ in range(int(seconds / 0.05)):
            if self.received and self.received[-1] >= sequence:
                return
            assert self.task is not None and not self.task.done(), self.task
            await asyncio.sleep(0.05)
        raise AssertionError(f"sequence {sequence} never arrived; last {self.received[-3:]}")


async def test_subscribers_lose_nothing_across_a_broker_restart(private_redis: PrivateRedis,
                                                                tmp_path):
    server = start_server(tmp_path, extra_env={
        "TOCSIN_BROKER_URL": private_redis.url,
        "TOCSIN_BROKER_CHANNEL": f"tocsin-fault-{uuid.uuid4().hex[:8]}",
        "TOCSIN_RATE_LIMIT_PER_TOKEN": "0", "TOCSIN_RATE_LIMIT_PER_ADDRESS": "0"})
    headers = {"authorization": f"Bearer {server.admin_token}"}
    staying, leaving = Subscriber(server), Subscriber(server)
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:

            async def gql(query: str, variables: dict) -> dict:
                body = (await http.post("/graphql", json={"query": query,
                                                          "variables": variables})).json()
                assert not body.get("errors"), body
                return body["data"]  # type: ignore[no-any-return]

            incident = (await gql('mutation { createIncident(input: {title: "broker", '
                                  'impact: LOW, urgency: LOW}) { id } }', {})
                        )["createIncident"]["id"]

            async def note(text: str) -> int:
                data = await gql(NOTE, {"id": incident, "note": text})
                return int(data["addIncidentNote"]["sequence"])

            start = await note("before the subscribers")
            await staying.subscribe(after=start)
            await leaving.subscribe(after=start)
            appended: list[int] = []
            stop = asyncio.Event()

            async def keep_mutating() -> None:
                while not stop.is_set():
                    appended.append(await note(f"note {len(appended)}"))
                    await asyncio.sleep(0.02)

            mutations = asyncio.create_task(keep_mutating())
            await staying.until_seen(start + 10, 30)  # live through the broker

            await asyncio.to_thread(private_redis.kill)
            during = len(appended)
            await leaving.leave()
            await asyncio.sleep(1.5)  # the outage: mutations go on, nothing is published
            assert len(appended) > during + 3, "mutations must go on while Redis is down"
            await asyncio.to_thread(private_redis.start)
            await asyncio.sleep(1.0)
            await leaving.subscribe(after=leaving.received[-1])  # resume where it left off
            await asyncio.sleep(1.0)
            stop.set()
            await mutations

            for subscriber in (staying, leaving):
                await subscriber.until_seen(appended[-1], 30)
            await asyncio.sleep(0.3)  # a duplicate would arrive now
            logged: list[int] = []
            cursor = str(start)
            while True:
                page = (await gql(LOG, {"after": cursor}))["events"]
                logged += [int(e["node"]["sequence"]) for e in page["edges"]]
                if not page["pageInfo"]["hasNextPage"]:
                    break
                cursor = page["pageInfo"]["endCursor"]
    finally:
        for subscriber in (staying, leaving):
            if subscriber.task is not None:
                subscriber.task.cancel()
        stop_server(server)

    assert set(appended) <= set(logged)
    assert staying.received == logged, "exactly once, in order, without a gap"
    assert leaving.received == logged, "resumed with `after`: exactly once, in order"
