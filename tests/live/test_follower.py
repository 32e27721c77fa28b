"""The log follower hands events on in sequence order, each exactly once, whatever order
notices arrive in, whether they carry the event or only its sequence, and after a broker
reconnect or a lost publish (the log is the truth). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from app import db
from app.broker import EventNotice, Notice, Resync
from app.broker.memory import MemoryBroker
from app.events import service as events
from app.events.models import Event
from app.live.follower import LogFollower
from app.timesource import FrozenClock


class ScriptedBroker:
    """Delivers exactly the notices the test puts in, in that order."""

    def __init__(self) -> None:
        self.notices: asyncio.Queue[Notice] = asyncio.Queue()

    async def start(self) -> None:
        return None

    async def publish(self, committed: Sequence[Event]) -> None:
        return None  # lost: the test decides what arrives

    async def subscribe(self) -> AsyncIterator[Notice]:
        while True:
            yield await self.notices.get()

    async def close(self) -> None:
        return None


async def append(kind: str, clock: FrozenClock) -> Event:
    async with db.atomic():
        return await events.append(kind, now=clock.now())


async def follow(broker: object, check_every: float = 60.0
                 ) -> tuple[LogFollower, list[int]]:
    handed_on: list[int] = []

    async def deliver(batch: list[Event]) -> None:
        handed_on.extend(e.id for e in batch)

    follower = LogFollower(broker, deliver, check_every=check_every)  # type: ignore[arg-type]
    await follower.start()
    return follower, handed_on


async def settle(handed_on: list[int], count: int) -> None:
    async with asyncio.timeout(5):
        while len(handed_on) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # and nothing more arrives


async def test_out_of_order_and_sequence_only_notices_come_out_in_order_once(
        database: str, clock: FrozenClock):
    broker = ScriptedBroker()
    follower, handed_on = await follow(broker)
    try:
        e1, e2, e3, e4 = [await append(f"test.{n}", clock) for n in range(4)]
        broker.notices.put_nowait(EventNotice(e3.id, e3))  # overtook e1 and e2
        broker.notices.put_nowait(EventNotice(e1.id, e1))  # already handed on: dropped
        broker.notices.put_nowait(EventNotice(e2.id, e2))
        broker.notices.put_nowait(EventNotice(e4.id, None))  # too big to carry: row is read
        await settle(handed_on, 4)
        assert handed_on == [e1.id, e2.id, e3.id, e4.id]
    finally:
        await follower.stop()


async def test_a_reconnect_or_a_lost_publish_is_caught_up_from_the_log(
        database: str, clock: FrozenClock):
    broker = ScriptedBroker()
    follower, handed_on = await follow(broker, check_every=0.2)
    try:
        missed = [await append("test.missed", clock) for _ in range(3)]
        broker.notices.put_nowait(Resync())  # the connection came back
        await settle(handed_on, 3)
        assert handed_on == [e.id for e in missed]
        lost = await append("test.lost", clock)  # its publish never arrives
        await settle(handed_on, 4)
        assert handed_on[-1] == lost.id
    finally:
        await follower.stop()


async def test_memory_broker_publishes_after_commit_only(database: str, clock: FrozenClock):
    broker = MemoryBroker()
    follower, handed_on = await follow(broker)
    events.set_publisher(broker.publish)
    try:
        try:
            async with db.atomic():
                await events.append("test.rolled_back", now=clock.now())
                raise RuntimeError("abort")
        except RuntimeError:
            pass
        kept = await append("test.kept", clock)
        await settle(handed_on, 1)
        assert handed_on == [kept.id]
    finally:
        events.set_publisher(None)
        await follower.stop()
        await broker.close()
