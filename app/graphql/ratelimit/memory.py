"""Token buckets in this process's memory: the store of a one-process run (and of a
PostgreSQL-brokered one), and the Redis store's fallback while Redis is unreachable.

Time comes from an injected monotonic function, so tests move it by hand.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from app.graphql.ratelimit.store import Draw, Limit, Monotonic

MAX_KEYS = 100_000  # buckets kept per kind; the least recently used go first


@dataclass
class Bucket:
    tokens: float
    updated: float


class TokenBucket:
    """`rate` per second refilled, up to `burst`; one bucket per key."""

    def __init__(self, rate: float, burst: float, clock: Monotonic,
                 max_keys: int = MAX_KEYS) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.clock = clock
        self.max_keys = max_keys
        self.buckets: OrderedDict[str, Bucket] = OrderedDict()

    def _bucket(self, key: str) -> Bucket:
        now = self.clock()
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(self.burst, now)
            if len(self.buckets) > self.max_keys:
                self.buckets.popitem(last=False)
        else:
            self.buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take `cost` from the key's bucket: 0.0 when allowed, else seconds until it would be."""
        bucket = self._bucket(key)
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.rate

    def wait_needed(self, key: str, cost: float = 1.0) -> float:
        """Seconds until `cost` could be taken, without taking it."""
        bucket = self._bucket(key)
        return 0.0 if bucket.tokens >= cost else (cost - bucket.tokens) / self.rate


class MemoryStore:
    """One `TokenBucket` per limit family. Draws run without awaiting anything, so no other
    request's draw comes between them."""

    def __init__(self, clock: Monotonic, max_keys: int = MAX_KEYS) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self.families: dict[str, TokenBucket] = {}

    def family(self, limit: Limit) -> TokenBucket:
        bucket = self.families.get(limit.kind)
        if bucket is None:
            bucket = self.families[limit.kind] = TokenBucket(
                limit.rate, limit.burst, self.clock, self.max_keys)
        return bucket

    def draw_now(self, draws: Sequence[Draw]) -> tuple[Draw, float] | None:
        for draw in draws:
            family = self.family(draw.limit)
            wait = (family.take(draw.key, draw.cost) if draw.spend
                    else family.wait_needed(draw.key, draw.cost))
            if wait:
                return draw, wait
        return None

    async def draw(self, draws: Sequence[Draw]) -> tuple[Draw, float] | None:
        return self.draw_now(draws)

    async def close(self) -> None:
        self.families.clear()
