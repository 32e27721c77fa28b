"""Rate limits for the API: token buckets per bearer token and per client address, and a
bucket of failed authentications per address.

The buckets live in this process's memory: with N API processes behind a load balancer each
process enforces the limits on its own share of the traffic (so the effective limit is up to
N times the setting). Time comes from an injected monotonic function, so tests move it by hand.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from app.config import Settings

Monotonic = Callable[[], float]
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


@dataclass
class Refusal:
    """Why a request is refused and when it may be retried (whole seconds, at least 1)."""

    limit: str
    retry_after: int
    message: str


def token_key(token: str) -> str:
    """The bucket key of a bearer token: a digest, so the raw secret is not kept in memory
    longer than the request."""
    return hashlib.blake2b(token.encode(), digest_size=16).hexdigest()


def _retry_after(seconds: float) -> int:
    return max(1, math.ceil(seconds))


class RateLimiter:
    """The API's three limits; a rate of 0 switches that limit off."""

    def __init__(self, settings: Settings, clock: Monotonic = time.monotonic) -> None:
        self.per_token = self._bucket(settings.rate_limit_per_token, clock)
        self.per_address = self._bucket(settings.rate_limit_per_address, clock)
        failures = settings.rate_limit_auth_failures
        # N failures a minute, all of them usable at once.
        self.auth_failures = (TokenBucket(failures / 60.0, failures, clock)
                              if failures > 0 else None)

    @staticmethod
    def _bucket(rate: float, clock: Monotonic) -> TokenBucket | None:
        # A burst of one second's worth (at least 10) absorbs a dashboard's parallel fetches.
        return TokenBucket(rate, max(rate, 10.0), clock) if rate > 0 else None

    def check_address(self, address: str | None, cost: float = 1.0) -> Refusal | None:
        if self.per_address is None or address is None:
            return None
        wait = self.per_address.take(address, cost)
        if wait:
            return Refusal("rateLimitPerAddress", _retry_after(wait),
                           "too many requests from this address")
        return None

    def check_auth_lockout(self, address: str | None) -> Refusal | None:
        """Refuse an address that has used up its failed authentications."""
        if self.auth_failures is None or address is None:
            return None
        wait = self.auth_failures.wait_needed(address)
        if wait:
            return Refusal("rateLimitAuthFailures", _retry_after(wait),
                           "too many failed authentications from this address")
        return None

    def auth_failed(self, address: str | None) -> None:
        if self.auth_failures is not None and address is not None:
            self.auth_failures.take(address)

    def check_token(self, token: str, cost: float = 1.0) -> Refusal | None:
        return self.check_token_key(token_key(token), cost)

    def check_token_key(self, key: str, cost: float = 1.0) -> Refusal | None:
        """`check_token` for a key from `token_key` (a WebSocket keeps the key, not the
        token, for the life of the connection)."""
        if self.per_token is None:
            return None
        wait = self.per_token.take(key, cost)
        if wait:
            return Refusal("rateLimitPerToken", _retry_after(wait),
                           "too many requests with this token")
        return None
