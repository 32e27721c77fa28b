"""Live updates for one API process, started and stopped by the app's lifespan: the broker,
the log follower feeding the access guard and the fan-out, the WebSocket endpoint and its
sweeper."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from app.broker import Broker, create_broker
from app.config import Settings
from app.events import service as events
from app.events.models import Event
from app.graphql.ratelimit import RateLimiter
from app.live.fanout import Fanout
from app.live.follower import LogFollower
from app.live.operations import DocumentCache
from app.live.websocket import GraphQLWebSocket
from app.timesource import Clock


class LiveUpdates:
    def __init__(self, schema: Any, settings: Settings, clock: Clock,
                 broker: Broker | None = None, limiter: RateLimiter | None = None) -> None:
        self.schema = schema
        self.settings = settings
        self.clock = clock
        self.limiter = limiter or RateLimiter(settings)  # shared with HTTP by create_app
        self.broker = broker or create_broker(settings.broker_url,
                                              channel=settings.broker_channel)
        self.documents = DocumentCache(schema._schema, settings)
        self.fanout = Fanout(schema._schema, clock, settings)
        self.endpoint = GraphQLWebSocket(self)
        self.follower = LogFollower(self.broker, self.deliver)
        self._sweeper: asyncio.Task[None] | None = None

    async def deliver(self, committed: list[Event]) -> None:
        # Connections that lost access close first: no later event of the batch reaches them.
        self.endpoint.guard.apply(committed)
        await self.fanout.deliver(committed)

    async def publish(self, committed: Sequence[Event]) -> None:
        await self.broker.publish(committed)

    async def start(self) -> None:
        await self.broker.start()
        await self.follower.start()
        self._sweeper = asyncio.create_task(self.endpoint.sweep_forever())
        events.set_publisher(self.publish)

    async def stop(self) -> None:
        events.set_publisher(None)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.endpoint.close_all()
        await self.follower.stop()
        await self.broker.close()
