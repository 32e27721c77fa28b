"""The in-process broker (the default, for one API process): events go straight from the
committing task to this process's listeners."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from app.broker import EventNotice, Notice, Resync
from app.events.models import Event

_CLOSED = object()


class MemoryBroker:
    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[object]] = []

    async def start(self) -> None:
        return None

    async def ping(self) -> None:
        return None  # in this process: reachable while the process runs

    async def publish(self, events: Sequence[Event]) -> None:
        for queue in self._queues:
            for event in events:
                queue.put_nowait(EventNotice(event.id, event))

    async def subscribe(self) -> AsyncIterator[Notice]:
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._queues.append(queue)
        try:
            yield Resync()
            while (item := await queue.get()) is not _CLOSED:
                assert isinstance(item, EventNotice)
                yield item
        finally:
            self._queues.remove(queue)

    async def close(self) -> None:
        for queue in self._queues:
            queue.put_nowait(_CLOSED)
