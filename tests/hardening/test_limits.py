"""GraphQL limits: each refuses with LIMIT_EXCEEDED naming the limit, and the same request
goes through when that limit is switched off (so the test fails without the defence)."""

from __future__ import annotations

import pytest

from app.auth.models import Role
from tests.hardening.conftest import bearer

GQL = {"accept": "application/graphql-response+json"}


def deep_query(levels: int) -> str:
    """incidents → … → event → incident → timeline → … : `levels` nested selections."""
    inner = "id"
    for _ in range(levels):
        inner = f"incident {{ timeline {{ edges {{ node {{ {inner} }} }} }} }}"
    return f"{{ events {{ edges {{ node {{ {inner} }} }} }} }}"


async def post(client, query: str, token: str | None = None, **extra):
    headers = {**GQL, **(bearer(token) if token else {})}
    return await client.post("/graphql", json={"query": query, **extra}, headers=headers)


@pytest.mark.parametrize("limit_on", [True, False])
async def test_depth_bomb(app_client, users, limit_on):
    token = users[Role.VIEWER][1]
    async with app_client(max_query_depth=12 if limit_on else 0) as (client, _):
        r = await post(client, deep_query(10), token)
    if limit_on:
        assert r.status_code == 400
        error = r.json()["errors"][0]
        assert error["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": "maxQueryDepth",
                                       "maximum": 12}
        assert "depth" in error["message"]
    else:
        assert r.status_code == 200 and r.json()["data"] == {"events": {"edges": []}}


@pytest.mark.parametrize("limit_on", [True, False])
async def test_alias_bomb(app_client, limit_on):
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
    async with app_client(max_aliases=30 if limit_on else 0) as (client, _):
        r = await post(client, query)
    if limit_on:
        assert r.status_code == 400
        assert r.json()["errors"][0]["extensions"] == {
            "code": "LIMIT_EXCEEDED", "limit": "maxAliases", "maximum": 30}
    else:
        assert r.status_code == 200 and len(r.json()["data"]) == 31


@pytest.mark.parametrize("limit_on", [True, False])
async def test_token_limit(app_client, limit_on):
    query = "{ " + "__typename " * 400 + "}"
    async with app_client(max_tokens=300 if limit_on else 0) as (client, _):
        r = await post(client, query)
    if limit_on:
        assert r.status_code == 400
        assert r.json()["errors"][0]["extensions"] == {
            "code": "LIMIT_EXCEEDED", "limit": "maxTokens", "maximum": 300}
    else:
        assert r.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("limit", [1_000_000, 30_000_000])
async def test_ten_megabyte_query_is_refused_before_parsing(app_client, limit):
    query = "{ __typename " + "#" * (10 * 1024 * 1024) + "\n}"
    async with app_client(max_body_bytes=limit) as (client, _):
        r = await post(client, query)
    if limit < 10 * 1024 * 1024:
        assert r.status_code == 413
        assert r.json()["errors"][0]["extensions"] == {
            "code": "LIMIT_EXCEEDED", "limit": "maxBodyBytes", "maximum": 1_000_000}
    else:  # without the body limit the whole 10 MB is read and parsed (comments cost no tokens)
        assert r.json() == {"data": {"__typename": "Query"}}


async def test_oversized_get_query_string_is_refused(app_client):
    async with app_client(max_body_bytes=1000) as (client, _):
        r = await client.get("/graphql", params={"query": "{ __typename }" + " " * 2000},
                             headers=GQL)
    assert r.status_code == 414 and r.json()["errors"][0]["extensions"]["limit"] == "maxBodyBytes"


@pytest.mark.parametrize("first", [101, 1_000_000])
async def test_page_size_is_capped_on_every_list(app_client, users, first):
    token = users[Role.VIEWER][1]
    queries = [
        "query($n: Int) { incidents(first: $n) { totalCount } }",
        "query($n: Int) { events(first: $n) { totalCount } }",
    ]
    async with app_client(max_page_size=100) as (client, _):
        for query in queries:
            r = await post(client, query, token, variables={"n": first})
            error = r.json()["errors"][0]
            assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
            assert "at most 100" in error["message"]


async def test_page_size_setting_applies_to_events_and_timelines(app_client, users):
    token = users[Role.VIEWER][1]
    async with app_client(max_page_size=5) as (client, _):
        r = await post(client, "{ events(first: 6) { totalCount } }", token)
        assert r.json()["errors"][0]["extensions"]["field"] == "first"
        r = await post(client, "{ events(first: 5) { totalCount } }", token)
        assert r.json() == {"data": {"events": {"totalCount": 0}}}


@pytest.mark.parametrize("batching", [False, True])
async def test_batching_is_refused_unless_enabled(app_client, batching):
    body = [{"query": "{ __typename }"}, {"query": "{ a: __typename }"}]
    async with app_client(batching=batching) as (client, _):
        r = await client.post("/graphql", json=body, headers=GQL)
    if batching:
        assert r.status_code == 200
        assert r.json() == [{"data": {"__typename": "Query"}}, {"data": {"a": "Query"}}]
    else:
        assert r.status_code == 400
        assert r.json()["errors"][0]["extensions"]["code"] == "BATCHING_DISABLED"


async def test_a_batch_larger_than_allowed_is_refused(app_client):
    body = [{"query": "{ __typename }"}] * 11
    async with app_client(batching=True, max_batch_size=10) as (client, _):
        r = await client.post("/graphql", json=body, headers=GQL)
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["limit"] == "maxBatchSize"


INTROSPECTION = "{ __schema { queryType { name } } }"


@pytest.mark.parametrize("env", ["development", "production"])
async def test_production_hides_introspection_graphiql_and_suggestions(app_client, users, env):
    token = users[Role.VIEWER][1]
    async with app_client(env=env) as (client, _):
        introspection = await post(client, INTROSPECTION)
        ide = await client.get("/graphql", headers={"accept": "text/html"})
        typo = await post(client, "{ incidnts { totalCount } }", token)
        enum_typo = await post(client, "{ incidents(orderBy: CREATED_AT_DES) { totalCount } }",
                               token)
        still_fine = await post(client, "{ __typename }")
    typo_message = typo.json()["errors"][0]["message"]
    enum_message = enum_typo.json()["errors"][0]["message"]
    assert still_fine.json() == {"data": {"__typename": "Query"}}
    if env == "production":
        assert introspection.status_code == 400
        assert introspection.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "introspection" in introspection.json()["errors"][0]["message"]
        assert "graphiql" not in ide.text.lower()
        assert "Did you mean" not in typo_message and "incidents" not in typo_message
        assert "Did you mean" not in enum_message
    else:
        assert introspection.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
        assert "graphiql" in ide.text.lower()
        assert "Did you mean 'incidents'" in typo_message
        assert "Did you mean" in enum_message


async def test_switches_override_the_environment(app_client):
    async with app_client(env="production", introspection=True, graphiql=True) as (client, _):
        assert (await post(client, INTROSPECTION)).status_code == 200
        ide = await client.get("/graphql", headers={"accept": "text/html"})
        assert "graphiql" in ide.text.lower()
    async with app_client(introspection=False) as (client, _):
        assert (await post(client, INTROSPECTION)).status_code == 400
        typo = await post(client, "{ __typenam }")
        assert "Did you mean" not in typo.json()["errors"][0]["message"]


async def test_validation_results_are_cached_with_limits_on(app_client, users):
    token = users[Role.VIEWER][1]
    async with app_client() as (client, _):
        app = client._transport.app  # type: ignore[attr-defined]
        query = "{ incidents(first: 3) { totalCount edges { node { reference } } } }"
        await post(client, query, token)
        validator = app.state.validator
        before = validator.cache_info()
        for _ in range(5):
            assert (await post(client, query, token)).json()["data"]
        after = validator.cache_info()
        assert after.hits - before.hits == 5 and after.misses == before.misses
        # a cached refusal stays a refusal
        for _ in range(2):
            r = await post(client, deep_query(10), token)
            assert r.json()["errors"][0]["extensions"]["limit"] == "maxQueryDepth"
