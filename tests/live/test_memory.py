"""Memory stays flat while many events reach many subscribers.

graphql-core 3.3.2's per-event executor leaks a few KB per rendering (see
app/live/operations.py): rendering through it, this test measured +98 MB at 200 x 200
deliveries and fails at its size here (~30 MB); the server's resident memory may not grow
by more than a few MB."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import websockets

from tests.fixtures_server import RunningServer
from tests.live.conftest import add_note, create_incident, ws_url

SUBSCRIBERS = 100
WARM_UP = 30
EVENTS = 150
# Each subscriber names its own extra type, so each is its own group and every event is
# rendered once per subscriber: a leak per rendering shows at full size.
QUERY = """subscription($types: [String!]) { events(types: $types)
  { sequence type note incident { reference status } } }"""


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def subscriber(server: RunningServer, ready: asyncio.Event, counts: list[int],
                     index: int, connected: list[int]) -> None:
    async with websockets.connect(ws_url(server), subprotocols=["graphql-transport-ws"]  # type: ignore[list-item]
                                  ) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {
            "authorization": f"Bearer {server.admin_token}"}}))
        await socket.recv()
        await socket.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": QUERY, "variables": {
                                          "types": ["incident.note_added", f"x.{index}"]}}}))
        await socket.send(json.dumps({"type": "ping"}))
        assert json.loads(await socket.recv()) == {"type": "pong"}  # subscribed by now
        connected[0] += 1
        if connected[0] == SUBSCRIBERS:
            ready.set()
        while counts[index] < EVENTS:
            message = json.loads(await socket.recv())
            if message.get("type") == "next":
                counts[index] += 1


async def wait_delivered(counts: list[int], expected: int) -> None:
    async with asyncio.timeout(60):
        while min(counts) < expected:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_memory_stays_flat_across_many_delivered_events(served: RunningServer):
    pid = served.process.pid
    incident = await create_incident(served, title="memory")
    ready = asyncio.Event()
    counts = [0] * SUBSCRIBERS
    connected = [0]
    clients = [asyncio.create_task(subscriber(served, ready, counts, i, connected))
               for i in range(SUBSCRIBERS)]
    await asyncio.wait_for(ready.wait(), 60)
    for n in range(WARM_UP):
        await add_note(served, incident, f"warm-up {n}")
    await wait_delivered(counts, WARM_UP)
    before = resident_kib(pid)
    for n in range(EVENTS - WARM_UP):
        await add_note(served, incident, f"note {n}")
    await wait_delivered(counts, EVENTS)
    after = resident_kib(pid)
    await asyncio.gather(*clients)
    delivered = SUBSCRIBERS * (EVENTS - WARM_UP)
    growth = after - before
    # the leaking path: ~2.5 KB per delivery, ~30,000 KiB here
    assert growth < 8_000, f"{growth} KiB more after {delivered} deliveries"
