"""The event broker: how committed events reach every API process.

One `Broker` protocol, one small adapter per backend (memory, Redis pub/sub, PostgreSQL
LISTEN/NOTIFY), chosen by `TOCSIN_BROKER_URL`. A broker only carries notices; the event log
stays the source of truth: after a dropped connection the adapter yields `Resync`, and the
listener re-reads from the log whatever it may have missed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.events.models import Event


@dataclass(frozen=True)
class EventNotice:
    """One committed event. `event` is None when the notice only names it (too big to carry):
    the listener then reads the row."""

    sequence: int
    event: Event | None


@dataclass(frozen=True)
class Resync:
    """The broker connection was (re-)established: notices may have been lost meanwhile."""


Notice = EventNotice | Resync


class Broker(Protocol):
    async def start(self) -> None:
        """Connect (a broker that cannot connect yet keeps retrying in the background)."""

    async def publish(self, events: Sequence[Event]) -> None:
        """Announce committed events to every process, this one included."""

    def subscribe(self) -> AsyncIterator[Notice]:
        """The live stream of notices, until `close()`."""

    async def ping(self) -> None:
        """Raise unless the broker is reachable now: one round trip to its server, and the
        listening connection up (when a stream runs). `/readyz` calls it as "broker"."""

    async def close(self) -> None: ...


def create_broker(url: str, *, channel: str = "tocsin_events") -> Broker:
    """The adapter for `url`: memory://, redis://… (or rediss://), postgres://…"""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        from app.broker.memory import MemoryBroker

        return MemoryBroker()
    if scheme in ("redis", "rediss", "unix"):
        from app.broker.redis import RedisBroker

        return RedisBroker(url, channel=channel)
    if scheme in ("postgres", "postgresql"):
        from app.broker.postgres import PostgresBroker

        return PostgresBroker(url, channel=channel)
    raise ValueError(f"TOCSIN_BROKER_URL: unsupported scheme {scheme!r} "
                     "(use memory://, redis://… or postgres://…)")
