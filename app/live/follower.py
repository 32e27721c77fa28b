"""Follows the event log for this process: broker notices are hints, the `events` table is
the truth. Events are handed on strictly in sequence order, each once: a notice that skips
ahead first reads the rows in between, a notice already covered is dropped, and after a
broker reconnect (or a quiet spell) the log is re-read from the last sequence handed on.

On PostgreSQL, `append` hands out ids under an advisory lock held until commit, so when
event N is visible every event below N is committed or never will be: reading the gap is
enough to never miss one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from app.broker import Broker, EventNotice
from app.events.models import Event

log = logging.getLogger(__name__)

Deliver = Callable[[list[Event]], Awaitable[None]]
PAGE = 500


async def last_sequence() -> int:
    newest = await Event.all().order_by("-id").only("id").first()
    return newest.id if newest else 0


async def events_between(after: int, upto: int | None, limit: int = PAGE) -> list[Event]:
    query = Event.filter(id__gt=after)
    if upto is not None:
        query = query.filter(id__lte=upto)
    return await query.order_by("id").limit(limit)


class LogFollower:
    def __init__(self, broker: Broker, deliver: Deliver, *, check_every: float = 5.0) -> None:
        self.broker = broker
        self.deliver = deliver
        self.check_every = check_every
        self.cursor = 0
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.cursor = await last_sequence()
        self._tasks = [asyncio.create_task(self._follow(), name="tocsin-log-follower"),
                       asyncio.create_task(self._check_regularly(), name="tocsin-log-check")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self) -> None:
        async for notice in self.broker.subscribe():
            try:
                async with self._lock:
                    if isinstance(notice, EventNotice):
                        await self._on_event(notice)
                    else:
                        await self._catch_up(None)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not hand on events after sequence %s", self.cursor)

    async def _check_regularly(self) -> None:
        """A lost publish (the broker was down at that moment) is found here at the latest."""
        while True:
            await asyncio.sleep(self.check_every)
            try:
                async with self._lock:
                    await self._catch_up(None)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic event log check failed")

    async def _on_event(self, notice: EventNotice) -> None:
        if notice.sequence <= self.cursor:
            return
        if notice.event is not None and notice.sequence == self.cursor + 1:
            await self._hand_on([notice.event])
            return
        upto = notice.sequence if notice.event is None else notice.sequence - 1
        await self._catch_up(upto)
        if notice.event is not None and notice.sequence > self.cursor:
            await self._hand_on([notice.event])

    async def _catch_up(self, upto: int | None) -> None:
        while rows := await events_between(self.cursor, upto):
            await self._hand_on(rows)
            if len(rows) < PAGE:
                return

    async def _hand_on(self, events: list[Event]) -> None:
        self.cursor = events[-1].id
        await self.deliver(events)
