"""Rate limits for the API: token buckets per bearer token and per client address, and a
bucket of failed authentications per address.

Where the buckets live is `Settings.rate_limit_store`: with a Redis broker (or
`TOCSIN_RATE_LIMIT_URL=redis://…`) in Redis, shared by every API process, so the limits hold
for the whole deployment (`redis.py`; while Redis is unreachable each process counts in its
own memory and logs a warning); otherwise in this process's memory (`memory.py`), where with
N API processes each enforces the limits on its own share of the traffic (so the effective
limit is up to N times the setting). Time comes from an injected monotonic function, so tests
move it by hand (Redis counts with its own clock).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from app.config import REDIS_SCHEMES, Settings
from app.graphql.ratelimit.memory import MAX_KEYS, MemoryStore, TokenBucket
from app.graphql.ratelimit.store import BucketStore, Draw, Limit, Monotonic

__all__ = ["MAX_KEYS", "BucketStore", "Draw", "Limit", "MemoryStore", "Monotonic",
           "RateLimiter", "Refusal", "TokenBucket", "create_store", "token_key"]


@dataclass
class Refusal:
    """Why a request is refused and when it may be retried (whole seconds, at least 1)."""

    limit: str
    retry_after: int
    message: str


def token_key(token: str) -> str:
    """The bucket key of a bearer token: a digest, so the raw secret is not kept in memory
    (or in Redis) longer than the request."""
    return hashlib.blake2b(token.encode(), digest_size=16).hexdigest()


def _retry_after(seconds: float) -> int:
    return max(1, math.ceil(seconds))


def create_store(settings: Settings, clock: Monotonic) -> BucketStore:
    """The store `settings.rate_limit_store` names: memory:// or a Redis URL."""
    url = settings.rate_limit_store
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        return MemoryStore(clock)
    if scheme in REDIS_SCHEMES:
        from app.graphql.ratelimit.redis import RedisStore

        # Deployments sharing one Redis already need their own broker channel: it names
        # their buckets too, so they keep separate budgets.
        return RedisStore(url, f"{settings.broker_channel}:ratelimit:", clock)
    raise ValueError(f"TOCSIN_RATE_LIMIT_URL: unsupported scheme {scheme!r} "
                     "(use memory:// or redis://…)")


def _requests(name: str, kind: str, rate: float, message: str) -> Limit | None:
    # A burst of one second's worth (at least 10) absorbs a dashboard's parallel fetches.
    return Limit(name, kind, rate, max(rate, 10.0), message) if rate > 0 else None


class RateLimiter:
    """The API's three limits; a rate of 0 switches that limit off."""

    def __init__(self, settings: Settings, clock: Monotonic = time.monotonic,
                 store: BucketStore | None = None) -> None:
        self.per_token = _requests("rateLimitPerToken", "token", settings.rate_limit_per_token,
                                   "too many requests with this token")
        self.per_address = _requests("rateLimitPerAddress", "address",
                                     settings.rate_limit_per_address,
                                     "too many requests from this address")
        failures = settings.rate_limit_auth_failures
        # N failures a minute, all of them usable at once.
        self.auth_failures = Limit(
            "rateLimitAuthFailures", "auth-failures", failures / 60.0, max(failures, 1),
            "too many failed authentications from this address") if failures > 0 else None
        self.store = store or create_store(settings, clock)

    async def check_request(self, address: str | None, token_key: str | None = None,
                            cost: float = 1.0, *, lockout: bool = False) -> Refusal | None:
        """A request's limits, in one step of the store and in this order: the address's
        budget; with `lockout`, the address's failed authentications (once they are spent, a
        request carrying a token waits); the budget of the token (a key from `token_key`).
        The first refusal stops the rest: nothing after it is spent."""
        draws = []
        if self.per_address is not None and address is not None:
            draws.append(Draw(self.per_address, address, cost))
        if lockout and self.auth_failures is not None and address is not None:
            draws.append(Draw(self.auth_failures, address, spend=False))
        if self.per_token is not None and token_key is not None:
            draws.append(Draw(self.per_token, token_key, cost))
        return await self._check(draws)

    async def check_address(self, address: str | None, cost: float = 1.0) -> Refusal | None:
        return await self.check_request(address, None, cost)

    async def check_auth_lockout(self, address: str | None) -> Refusal | None:
        """Refuse an address that has used up its failed authentications."""
        if self.auth_failures is None or address is None:
            return None
        return await self._check([Draw(self.auth_failures, address, spend=False)])

    async def auth_failed(self, address: str | None) -> None:
        if self.auth_failures is not None and address is not None:
            await self.store.draw([Draw(self.auth_failures, address)])

    async def check_token(self, token: str, cost: float = 1.0) -> Refusal | None:
        return await self.check_token_key(token_key(token), cost)

    async def check_token_key(self, key: str, cost: float = 1.0) -> Refusal | None:
        """`check_token` for a key from `token_key` (a WebSocket keeps the key, not the
        token, for the life of the connection)."""
        return await self.check_request(None, key, cost)

    async def _check(self, draws: list[Draw]) -> Refusal | None:
        if not draws:
            return None
        refused = await self.store.draw(draws)
        if refused is None:
            return None
        draw, wait = refused
        return Refusal(draw.limit.name, _retry_after(wait), draw.limit.message)

    async def close(self) -> None:
        await self.store.close()
