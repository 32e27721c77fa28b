"""The SLA clock: one background task per process that sleeps until the earliest warning or due
instant of all running timers, emits what has been reached, and sleeps again.

It never scans every timer: each round is one indexed `ORDER BY next_at LIMIT 1` read (plus the
due rows themselves). It is woken early when a timer changes in this process (after commit) and
re-reads the next instant at least every `max_sleep` seconds, so it learns of timers written by
other processes within a second. After a restart its first round emits everything that fell due
while it was down, with `breachedAt` = the due time. Several clocks on one database emit each
warning and breach once (see `service.emit_reached`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from app.slas import service
from app.timesource import Clock

log = logging.getLogger(__name__)


class SlaClock:
    def __init__(self, clock: Clock, *, max_sleep: float = 1.0, batch: int = 200) -> None:
        self.clock = clock
        self.max_sleep = max_sleep
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.emitted = 0

    async def tick(self) -> datetime | None:
        """One round, deterministic for tests: emit everything reached by the clock's `now`,
        then return the next instant that will need attention (None when nothing runs)."""
        now = self.clock.now()
        emitted = await service.emit_reached(now, batch=self.batch)
        self.emitted += emitted
        return await service.next_instant()

    def wake(self) -> None:
        """A timer changed: re-read the next instant now instead of at the end of the sleep."""
        self._wake.set()

    def seconds_until(self, next_at: datetime | None) -> float:
        if next_at is None:
            return self.max_sleep
        return min(max((next_at - self.clock.now()).total_seconds(), 0.0), self.max_sleep)

    async def run(self) -> None:
        """The loop: tick, then sleep until the next instant, a wake-up, or `max_sleep`."""
        service.add_timers_listener(self.wake)
        try:
            while True:
                self._wake.clear()
                try:
                    next_at = await self.tick()
                except asyncio.CancelledError:
                    raise
                except Exception:  # a database hiccup must not kill the clock
                    log.exception("SLA clock round failed; retrying")
                    next_at = None
                # Never a hot spin, even when a due row could not be emitted this round.
                delay = max(self.seconds_until(next_at), 0.005)
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=delay)
        finally:
            service.remove_timers_listener(self.wake)

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name="tocsin-sla-clock")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
