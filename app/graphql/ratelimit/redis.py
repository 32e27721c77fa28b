"""Token buckets in Redis, shared by every API process: the limits then hold for the whole
deployment, not for each process's share of it.

A request's draws are one Lua script call (EVALSHA, one round trip): the script reads and
writes each bucket atomically, takes the time from the Redis server (`TIME`), so the
processes' clocks do not matter, and gives each bucket a TTL that ends when it would be full
again, so idle buckets vanish. Keys are `<prefix><kind>:<key>`.

Redis being unreachable must not fail requests: the draw is then made in this process's
memory instead (per-process limits, as without Redis), a warning is logged at most once a
minute, and Redis is tried again after a second.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from app.graphql.ratelimit.memory import MemoryStore
from app.graphql.ratelimit.store import Draw, Monotonic

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 0.5  # connecting or answering; a healthy Redis takes well under 1 ms
RETRY_SECONDS = 1.0  # after a failure, draws stay in memory this long before Redis is tried
WARN_SECONDS = 60.0  # at most one "unreachable" warning this often

# KEYS[i]: a bucket, a hash of its tokens and the instant (microseconds) they were counted.
# ARGV[4i-3 .. 4i]: draw i's rate (per second), burst, cost, and 1 to take the cost or 0 only
# to ask whether it is there. Returns {0, '0'} when every draw was made, else {i, wait}: the
# first draw its bucket could not pay, and the seconds until it could.
DRAW_SCRIPT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[4 * i - 3])
  local burst = tonumber(ARGV[4 * i - 2])
  local cost = tonumber(ARGV[4 * i - 1])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1]) or burst
  local counted = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - counted) / 1000000 * rate)
  if tokens < cost then
    return {i, string.format('%.17g', (cost - tokens) / rate)}
  end
  if ARGV[4 * i] == '1' then
    tokens = tokens - cost
    redis.call('HSET', key, 'tokens', string.format('%.17g', tokens),
               'at', string.format('%.0f', now))
    -- Full again, a bucket is the same as none: it may vanish then.
    local full_in = math.ceil((burst - tokens) / rate * 1000) + 1000
    redis.call('PEXPIRE', key, string.format('%.0f', full_in))
  end
end
return {0, '0'}
"""


class RedisStore:
    def __init__(self, url: str, prefix: str, clock: Monotonic, *,
                 retry_seconds: float = RETRY_SECONDS, warn_seconds: float = WARN_SECONDS
                 ) -> None:
        parse_url(url)  # a malformed URL fails at start-up, not on every request
        self.url = url
        self.prefix = prefix
        self.clock = clock
        self.retry_seconds = retry_seconds
        self.warn_seconds = warn_seconds
        self.fallback = MemoryStore(clock)  # this process's buckets while Redis is away
        self._client: aioredis.Redis | None = None
        self._script: AsyncScript | None = None
        self._retry_at: float | None = None  # set while Redis is unreachable
        self._warned_at: float | None = None

    def key(self, draw: Draw) -> str:
        return f"{self.prefix}{draw.limit.kind}:{draw.key}"

    async def draw(self, draws: Sequence[Draw]) -> tuple[Draw, float] | None:
        now = self.clock()
        if self._retry_at is None or now >= self._retry_at:
            try:
                refused = await self._draw_in_redis(draws)
            except (RedisError, OSError) as exc:
                self._unreachable(exc, now)
            else:
                if self._retry_at is not None:
                    self._retry_at = None
                    log.warning("rate limits: Redis is reachable again; the buckets are "
                                "shared by every process again")
                return refused
        return self.fallback.draw_now(draws)

    async def _draw_in_redis(self, draws: Sequence[Draw]) -> tuple[Draw, float] | None:
        args: list[float | int] = []
        for draw in draws:
            args += [draw.limit.rate, draw.limit.burst, draw.cost, 1 if draw.spend else 0]
        index, wait = await self._draw_script()(keys=[self.key(d) for d in draws], args=args)
        return None if int(index) == 0 else (draws[int(index) - 1], float(wait))

    def _draw_script(self) -> AsyncScript:
        if self._script is None:
            # No retries with backoff (redis-py's default sleeps up to seconds): one quick
            # reconnect for a pooled connection Redis dropped, then the memory fallback.
            self._client = aioredis.Redis.from_url(
                self.url, client_name="tocsin-ratelimit", socket_timeout=TIMEOUT_SECONDS,
                socket_connect_timeout=TIMEOUT_SECONDS, retry=Retry(NoBackoff(), 1))
            # EVALSHA, loading the script again when the server does not know it (restarted).
            self._script = self._client.register_script(DRAW_SCRIPT)
        return self._script

    def _unreachable(self, exc: Exception, now: float) -> None:
        self._retry_at = now + self.retry_seconds
        if self._warned_at is None or now - self._warned_at >= self.warn_seconds:
            self._warned_at = now
            log.warning("rate limits: Redis is unreachable (%s); counting in this process's "
                        "memory until it is back (limits hold per process meanwhile)", exc)

    async def close(self) -> None:
        client, self._client, self._script = self._client, None, None
        if client is not None:
            await client.aclose()
        await self.fallback.close()
