"""Rate limits shared through Redis: two limiters (as two API processes would have) on one
Redis draw from one budget per address, per token and of failed authentications, each
refusal clears after its Retry-After, and idle buckets vanish. With Redis unreachable the
limits still hold, per process, without an error reaching the client, and the buckets are
shared again once Redis is back.

The real-Redis tests need TOCSIN_TEST_REDIS_URL; each names its buckets after a broker
channel of its own, so tests never share a bucket."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from app.auth.models import Role
from app.graphql.ratelimit import MemoryStore, RateLimiter, token_key
from app.graphql.ratelimit.redis import RedisStore
from tests.fixtures_redis import PrivateRedis
from tests.fixtures_server import free_port
from tests.hardening.conftest import ManualMonotonic, bearer, make_settings
from tests.hardening.test_ratelimit import VIEWER, assert_limited

REDIS_URL = os.environ.get("TOCSIN_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="TOCSIN_TEST_REDIS_URL is not set")
STORE_LOG = "app.graphql.ratelimit.redis"

MakeLimiter = Callable[..., RateLimiter]


def channel() -> str:
    return f"tocsin_test_rl_{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def limiters() -> AsyncIterator[MakeLimiter]:
    """`limiters(**settings)`: a new limiter, closed after the test. Settings default to
    limits on per address and per token (1 a second, bursts of 10), auth failures off."""
    made: list[RateLimiter] = []

    def make(clock: Callable[[], float] | None = None, **values: Any) -> RateLimiter:
        values = {"rate_limit_per_address": 1, "rate_limit_per_token": 1,
                  "rate_limit_auth_failures": 0, **values}
        limiter = RateLimiter(make_settings(**values), clock or ManualMonotonic())
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.close()


def closed_port_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


async def spend(limiter: RateLimiter, times: int, address: str = "192.0.2.1") -> list[bool]:
    return [await limiter.check_address(address) is None for _ in range(times)]


# ------------------------------------------------------------------ where the buckets live


def test_the_buckets_are_shared_when_the_broker_is_redis():
    def store(**values: Any) -> str:
        return make_settings(**values).rate_limit_store

    assert store() == "memory://"
    assert store(broker_url="redis://cache:6379/1") == "redis://cache:6379/1"
    assert store(broker_url="rediss://cache:6380/0") == "rediss://cache:6380/0"
    assert store(broker_url="postgres://db/tocsin") == "memory://"  # per process
    assert store(broker_url="postgres://db/tocsin",
                 rate_limit_url="redis://cache:6379/2") == "redis://cache:6379/2"
    assert store(broker_url="redis://cache:6379/1", rate_limit_url="memory://") == "memory://"
    with pytest.raises(ValueError, match="TOCSIN_RATE_LIMIT_URL: unsupported scheme 'http'"):
        RateLimiter(make_settings(rate_limit_url="http://cache"))
    with pytest.raises(ValueError, match="Port could not be cast"):
        RateLimiter(make_settings(rate_limit_url="redis://cache:port/0"))


def test_a_postgresql_broker_leaves_the_buckets_in_each_process():
    limiter = RateLimiter(make_settings(broker_url="postgres://db/tocsin"))
    assert isinstance(limiter.store, MemoryStore)


# ------------------------------------------------------------------ one Redis, two processes


@needs_redis
async def test_two_processes_share_one_budget_per_address_and_per_token(limiters):
    shared = {"broker_url": REDIS_URL, "broker_channel": channel()}
    first, second = limiters(**shared), limiters(**shared)
    assert isinstance(first.store, RedisStore)

    assert await spend(first, 10) == [True] * 10  # the whole burst, on the first process
    refusal = await second.check_address("192.0.2.1")
    assert refusal is not None and refusal.limit == "rateLimitPerAddress"
    assert refusal.retry_after >= 1
    assert await second.check_address("192.0.2.2") is None  # another address is not affected

    key = token_key("tocsin_secret")
    assert [await second.check_token_key(key) for _ in range(10)] == [None] * 10
    refusal = await first.check_token_key(key)
    assert refusal is not None and refusal.limit == "rateLimitPerToken"
    assert refusal.message == "too many requests with this token"

    # A deployment on another broker channel keeps budgets of its own.
    other = limiters(broker_url=REDIS_URL, broker_channel=channel())
    assert await other.check_address("192.0.2.1") is None


@needs_redis
async def test_a_refusal_clears_after_its_retry_after(limiters):
    shared = {"broker_url": REDIS_URL, "broker_channel": channel(), "rate_limit_per_address": 2}
    first, second = limiters(**shared), limiters(**shared)
    assert await spend(first, 10) == [True] * 10
    refusal = await second.check_address("192.0.2.1")
    assert refusal is not None
    await asyncio.sleep(refusal.retry_after)  # Redis's clock refills the bucket meanwhile
    assert await second.check_address("192.0.2.1") is None
    assert await first.check_address("192.0.2.1") is None


@needs_redis
async def test_failed_authentications_lock_the_address_out_on_every_process(limiters):
    shared = {"broker_url": REDIS_URL, "broker_channel": channel(),
              "rate_limit_auth_failures": 3}
    first, second = limiters(**shared), limiters(**shared)
    await first.auth_failed("192.0.2.7")
    await second.auth_failed("192.0.2.7")
    assert await first.check_auth_lockout("192.0.2.7") is None  # one attempt left
    await first.auth_failed("192.0.2.7")
    for limiter in (first, second):
        refusal = await limiter.check_auth_lockout("192.0.2.7")
        assert refusal is not None and refusal.limit == "rateLimitAuthFailures"
        assert refusal.retry_after >= 1
        # the request check refuses a token from there too, and spends nothing meanwhile
        refusal = await limiter.check_request("192.0.2.7", token_key("right"), lockout=True)
        assert refusal is not None and refusal.limit == "rateLimitAuthFailures"
    assert await second.check_auth_lockout("192.0.2.8") is None


@needs_redis
async def test_idle_buckets_vanish(limiters):
    name = channel()
    limiter = limiters(broker_url=REDIS_URL, broker_channel=name, rate_limit_per_address=5,
                       rate_limit_auth_failures=30)
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        assert await spend(limiter, 3) == [True] * 3
        key = f"{name}:ratelimit:address:192.0.2.1"
        # Full again in 0.6 s (3 tokens at 5 a second), then a second's margin.
        assert 0 < await client.pttl(key) <= 1600
        # Asking about the lockout of an address that never failed writes nothing.
        assert await limiter.check_auth_lockout("192.0.2.1") is None
        assert await client.exists(f"{name}:ratelimit:auth-failures:192.0.2.1") == 0
    finally:
        await client.aclose()


@needs_redis
async def test_two_apps_on_one_redis_refuse_over_http_alike(app_client, users):
    """What a client sees: after the first app used the token's burst, the second answers
    429 with Retry-After and RATE_LIMITED naming the limit."""
    token = users[Role.VIEWER][1]
    shared = {"broker_url": REDIS_URL, "broker_channel": channel(),
              "rate_limit_per_token": 1, "rate_limit_per_address": 0}
    async with app_client(**shared) as (first, _), app_client(**shared) as (second, _):
        answers = [await first.post("/graphql", json=VIEWER, headers=bearer(token))
                   for _ in range(10)]
        assert all(r.json() == {"data": {"viewer": {"name": "viewer"}}} for r in answers)
        assert_limited(await second.post("/graphql", json=VIEWER, headers=bearer(token)),
                       "rateLimitPerToken")


# ------------------------------------------------------------------ Redis unreachable


async def test_with_redis_unreachable_each_process_still_limits(limiters, caplog):
    clock = ManualMonotonic()
    limiter = limiters(clock, rate_limit_url=closed_port_url())
    with caplog.at_level(logging.WARNING, logger=STORE_LOG):
        assert await spend(limiter, 10) == [True] * 10
        refusal = await limiter.check_address("192.0.2.1")
        assert refusal is not None and refusal.limit == "rateLimitPerAddress"
        for _ in range(30):  # retried each second: still one warning a minute
            clock.advance(1)
            await limiter.check_address("192.0.2.3")
    warnings = [r.getMessage() for r in caplog.records if r.name == STORE_LOG]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("rate limits: Redis is unreachable (")
    caplog.clear()
    clock.advance(31)
    with caplog.at_level(logging.WARNING, logger=STORE_LOG):
        await limiter.check_address("192.0.2.3")
    assert len([r for r in caplog.records if r.name == STORE_LOG]) == 1  # a minute later


async def test_with_redis_unreachable_requests_are_answered(app_client):
    async with app_client(rate_limit_url=closed_port_url(), rate_limit_per_address=10) as (c, _):
        answers = [await c.post("/graphql", json={"query": "{ __typename }"})
                   for _ in range(11)]
    assert [r.status_code for r in answers[:10]] == [200] * 10
    assert_limited(answers[10], "rateLimitPerAddress")


async def test_the_buckets_are_shared_again_once_redis_is_back(
        limiters, private_redis: PrivateRedis, caplog):
    clocks = ManualMonotonic(), ManualMonotonic()
    shared = {"rate_limit_url": private_redis.url, "broker_channel": channel()}
    first, second = (limiters(clock, **shared) for clock in clocks)
    assert await spend(first, 1) == [True]  # connected

    private_redis.kill()
    # Each process counts in its own memory: the first's burst leaves the second's whole.
    assert await spend(first, 11) == [True] * 10 + [False]
    assert await spend(second, 11) == [True] * 10 + [False]

    private_redis.start()
    for clock in clocks:
        clock.advance(1)  # the stores try Redis again (the restarted one is empty)
    with caplog.at_level(logging.WARNING, logger=STORE_LOG):
        assert await spend(first, 10, "192.0.2.9") == [True] * 10
        assert await spend(second, 1, "192.0.2.9") == [False]
    assert any("reachable again" in r.getMessage() for r in caplog.records)
