"""PostgreSQL LISTEN/NOTIFY broker: a dedicated asyncpg connection listens on one channel.

NOTIFY payloads are limited to 8000 bytes; a bigger event travels as its sequence alone and
listeners read the row. After the listening connection drops, the stream reconnects and
yields `Resync`, so the listener re-reads what it missed from the event log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

import asyncpg

from app.broker import EventNotice, Notice, Resync
from app.broker.codec import decode, encode, encode_sequence
from app.events.models import Event

log = logging.getLogger(__name__)

NOTIFY_LIMIT = 8000  # bytes, PostgreSQL's maximum payload (minus its terminator)
RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)
_LOST = object()


def notify_payload(event: Event) -> str:
    body = encode(event)
    if len(body) >= NOTIFY_LIMIT:
        body = encode_sequence(event.id)
    return body.decode()


def _dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


class PostgresBroker:
    def __init__(self, url: str, *, channel: str) -> None:
        self.dsn = _dsn(url)
        self.channel = channel
        self._publisher: asyncpg.Connection | None = None
        self._publish_lock = asyncio.Lock()
        self._closed = asyncio.Event()
        self._wake: asyncio.Queue[object] | None = None
        # names the listening connection in pg_stat_activity
        self.listener_name = f"tocsin-listener {channel}"[:63]
        self.listening: bool | None = None  # None until a stream subscribes

    async def start(self) -> None:
        return None  # connections are opened on first use, and again after a loss

    async def _publishing_connection(self) -> asyncpg.Connection:
        if self._publisher is None or self._publisher.is_closed():
            self._publisher = await asyncpg.connect(
                self.dsn, server_settings={"application_name": "tocsin-publisher"})
        return self._publisher

    async def ping(self) -> None:
        async with self._publish_lock:
            try:
                conn = await self._publishing_connection()
                await conn.fetchval("SELECT 1")
            except BaseException:
                if self._publisher is not None:
                    self._publisher.terminate()  # broken or cut off mid-query
                self._publisher = None  # reconnect on next use
                raise
        if self.listening is False:
            raise ConnectionError("the PostgreSQL broker's listening connection is down")

    async def publish(self, events: Sequence[Event]) -> None:
        async with self._publish_lock:
            for event in events:
                try:
                    conn = await self._publishing_connection()
                    await conn.execute("SELECT pg_notify($1, $2)", self.channel,
                                       notify_payload(event))
                except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
                    self._publisher = None
                    log.warning("could not NOTIFY event %s: %s", event.id, exc)

    async def subscribe(self) -> AsyncIterator[Notice]:
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._wake = queue
        attempt = 0

        def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            queue.put_nowait(payload)

        def on_lost(_conn: object) -> None:
            queue.put_nowait(_LOST)

        while not self._closed.is_set():
            try:
                conn = await asyncpg.connect(
                    self.dsn, server_settings={"application_name": self.listener_name})
            except (OSError, asyncpg.PostgresError) as exc:
                self.listening = False
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                attempt += 1
                log.warning("PostgreSQL broker cannot connect (%s); retrying in %ss", exc, delay)
                await asyncio.sleep(delay)
                continue
            try:
                conn.add_termination_listener(on_lost)
                await conn.add_listener(self.channel, on_notify)
                attempt = 0
                self.listening = True
                yield Resync()
                while True:
                    item = await queue.get()
                    if item is _LOST or self._closed.is_set():
                        break
                    assert isinstance(item, str)
                    sequence, event = decode(item)
                    yield EventNotice(sequence, event)
                if not self._closed.is_set():
                    self.listening = False
                    log.warning("PostgreSQL broker connection lost; reconnecting")
            finally:
                if not conn.is_closed():
                    await conn.close()

    async def close(self) -> None:
        self._closed.set()
        if self._wake is not None:
            self._wake.put_nowait(_LOST)
        if self._publisher is not None and not self._publisher.is_closed():
            await self._publisher.close()
