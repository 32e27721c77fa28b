"""Rate limits: per token, per client address, and failed authentications per address; each
answers 429 with Retry-After and RATE_LIMITED naming the limit, recovers as time passes, and
is off at 0 (the same flood then goes through)."""

from __future__ import annotations

import pytest

from app.auth.models import Role
from app.config import Settings
from app.graphql.ratelimit import RateLimiter, TokenBucket
from app.incidents.models import Service
from tests.hardening.conftest import bearer

TYPENAME = {"query": "{ __typename }"}
VIEWER = {"query": "{ viewer { name } }"}


def assert_limited(r, limit: str) -> None:
    assert r.status_code == 429, r.text
    assert int(r.headers["retry-after"]) >= 1
    error = r.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["limit"] == limit


async def test_token_bucket_refills_with_time():
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("k") == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.take("k") == 0.0
    assert bucket.take("other") == 0.0  # keys are independent


async def test_bucket_memory_is_bounded():
    bucket = TokenBucket(rate=1, burst=1, clock=lambda: 0.0, max_keys=100)
    for n in range(1000):
        bucket.take(f"k{n}")
    assert len(bucket.buckets) == 100


def test_defaults_are_generous():
    limiter = RateLimiter(Settings(_env_file=None))  # type: ignore[call-arg]
    assert limiter.per_token is not None and limiter.per_token.rate >= 100
    assert limiter.per_address is not None and limiter.per_address.rate >= 100


@pytest.mark.parametrize("rate", [10, 0])
async def test_per_token(app_client, users, rate):
    token = users[Role.VIEWER][1]
    async with app_client(rate_limit_per_token=rate, rate_limit_per_address=0) as (c, mono):
        answers = [await c.post("/graphql", json=VIEWER, headers=bearer(token))
                   for _ in range(11)]
        if rate == 0:
            assert all(r.json() == {"data": {"viewer": {"name": "viewer"}}} for r in answers)
            return
        assert all(r.status_code == 200 for r in answers[:10])
        assert_limited(answers[10], "rateLimitPerToken")
        # another token is not affected
        other = await c.post("/graphql", json=VIEWER, headers=bearer(users[Role.ADMIN][1]))
        assert other.json()["data"]["viewer"]["name"] == "admin"
        mono.advance(0.2)  # two requests' worth refilled
        assert (await c.post("/graphql", json=VIEWER, headers=bearer(token))).status_code == 200


@pytest.mark.parametrize("rate", [10, 0])
async def test_per_address(app_client, rate):
    async with app_client(rate_limit_per_address=rate) as (c, mono):
        answers = [await c.post("/graphql", json=TYPENAME) for _ in range(11)]
        if rate == 0:
            assert all(r.status_code == 200 for r in answers)
            return
        assert all(r.status_code == 200 for r in answers[:10])
        assert_limited(answers[10], "rateLimitPerAddress")
        mono.advance(1)
        assert (await c.post("/graphql", json=TYPENAME)).status_code == 200
    async with app_client(client_host="10.0.0.9", rate_limit_per_address=rate) as (c, _):
        assert (await c.post("/graphql", json=TYPENAME)).status_code == 200


async def test_a_batch_costs_one_request_per_operation(app_client):
    async with app_client(rate_limit_per_address=10, batching=True) as (c, _):
        r = await c.post("/graphql", json=[TYPENAME] * 10)
        assert r.status_code == 200 and len(r.json()) == 10
        assert_limited(await c.post("/graphql", json=TYPENAME), "rateLimitPerAddress")


@pytest.mark.parametrize("failures", [5, 0])
async def test_failed_authentications_per_address(app_client, users, failures):
    good = users[Role.VIEWER][1]
    async with app_client(rate_limit_auth_failures=failures) as (c, mono):
        wrong = [await c.post("/graphql", json=VIEWER, headers=bearer(f"tocsin_guess{n}"))
                 for n in range(6)]
        assert all(r.status_code == 401 for r in wrong[:5])
        after = await c.post("/graphql", json=VIEWER, headers=bearer(good))
        if failures == 0:
            assert wrong[5].status_code == 401
            assert after.json()["data"]["viewer"]["name"] == "viewer"
            return
        assert_limited(wrong[5], "rateLimitAuthFailures")
        # locked out: even a right token waits (guessing must not be told it hit)
        assert_limited(after, "rateLimitAuthFailures")
        # requests without a token (status page) are not failed authentications
        assert (await c.post("/graphql", json=TYPENAME)).status_code == 200
        mono.advance(60 / failures)
        after = await c.post("/graphql", json=VIEWER, headers=bearer(good))
        assert after.json()["data"]["viewer"]["name"] == "viewer"


async def test_unauthenticated_mutation_flood_is_refused_cheaply(app_client):
    mutation = {"query": 'mutation { createService(input: {name: "x"}) { id } }'}
    async with app_client(rate_limit_auth_failures=10) as (c, _):
        codes = [(await c.post("/graphql", json=mutation,
                               headers=bearer(f"tocsin_forged{n}"))).status_code
                 for n in range(100)]
        anonymous = await c.post("/graphql", json=mutation)
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await Service.all().count() == 0
