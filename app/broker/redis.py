"""Redis pub/sub broker (redis.asyncio): every API process subscribes to one channel.

Pub/sub forgets what it could not deliver, so after any reconnect the stream yields `Resync`
and the listener re-reads the event log from where it was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.broker import EventNotice, Notice, Resync
from app.broker.codec import decode, encode
from app.events.models import Event

log = logging.getLogger(__name__)

RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)


class RedisBroker:
    def __init__(self, url: str, *, channel: str) -> None:
        self.url = url
        self.channel = channel
        self._client: aioredis.Redis | None = None
        self._closed = asyncio.Event()
        self.listener_name = f"tocsin-listener-{channel}"  # names the connection in CLIENT LIST
        self.listening: bool | None = None  # None until a stream subscribes

    async def start(self) -> None:
        self._client = aioredis.Redis.from_url(
            self.url, client_name=f"tocsin-publisher-{self.channel}")

    async def ping(self) -> None:
        if self._client is None:
            raise ConnectionError("the Redis broker is not started")
        await self._client.ping()
        if self.listening is False:
            raise ConnectionError("the Redis broker's listening connection is down")

    async def publish(self, events: Sequence[Event]) -> None:
        assert self._client is not None, "start() the broker first"
        for event in events:
            try:
                await self._client.publish(self.channel, encode(event))
            except RedisError as exc:
                # Listeners still get it: the next notice or their periodic log check
                # reveals the gap and they read the row.
                log.warning("could not publish event %s to Redis: %s", event.id, exc)

    async def subscribe(self) -> AsyncIterator[Notice]:
        attempt = 0
        while not self._closed.is_set():
            client = aioredis.Redis.from_url(self.url, client_name=self.listener_name)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                attempt = 0
                self.listening = True
                yield Resync()
                while not self._closed.is_set():
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    sequence, event = decode(message["data"])
                    yield EventNotice(sequence, event)
            except (RedisError, OSError) as exc:
                self.listening = False
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                attempt += 1
                log.warning("Redis broker connection lost (%s); reconnecting in %ss", exc, delay)
                await asyncio.sleep(delay)
            finally:
                try:
                    await pubsub.aclose()
                    await client.aclose()
                except (RedisError, OSError):
                    pass

    async def close(self) -> None:
        self._closed.set()
        if self._client is not None:
            await self._client.aclose()
