"""Where the rate limiter's token buckets are kept: one small `BucketStore` protocol, with an
adapter per place (`memory.py`: this process; `redis.py`: one Redis shared by every process).

A store only counts; the limiter (`__init__.py`) decides which buckets a request draws from
and turns a refusal into an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

Monotonic = Callable[[], float]


@dataclass(frozen=True)
class Limit:
    """One family of buckets: `rate` tokens a second refilled, up to `burst`, per key."""

    name: str  # extensions.limit of a refusal, e.g. "rateLimitPerToken"
    kind: str  # the family's part of a bucket's key, e.g. "token"
    rate: float
    burst: float
    message: str  # the refusal's message


@dataclass(frozen=True)
class Draw:
    """`cost` tokens from the bucket of `key` in the family `limit`. With `spend=False` the
    draw only asks whether the tokens are there (the failed-authentication lockout)."""

    limit: Limit
    key: str
    cost: float = 1.0
    spend: bool = True


class BucketStore(Protocol):
    async def draw(self, draws: Sequence[Draw]) -> tuple[Draw, float] | None:
        """Make `draws` in order, as one step no other draw interleaves with, stopping at the
        first whose bucket lacks its cost: that draw and the seconds until the bucket would
        have it (nothing after it is spent). None when every draw was made."""

    async def close(self) -> None: ...
