"""Hostile documents and bodies are refused with a coded error, never a 500: fragment
cycles, deep fragment chains, deeply nested values, NUL bytes, a million-item `first`.
(Depth and alias bombs, the 10 MB query and mutation floods: test_limits / test_ratelimit.)"""

from __future__ import annotations

import pytest

from app.auth.models import Role
from app.incidents.models import Service
from tests.hardening.conftest import bearer

GQL = {"accept": "application/graphql-response+json"}


async def post(client, payload, token=None):
    headers = {**GQL, **(bearer(token) if token else {})}
    return await client.post("/graphql", json=payload, headers=headers)


def codes(r) -> list[str]:
    return [e["extensions"]["code"] for e in r.json()["errors"]]


async def test_fragment_cycles_are_refused(app_client):
    query = """{ ...A } fragment A on Query { __typename ...B }
               fragment B on Query { __typename ...A }"""
    async with app_client() as (client, _):
        r = await post(client, {"query": query})
    assert r.status_code == 400 and set(codes(r)) == {"BAD_USER_INPUT"}
    assert any("cycle" in e["message"] or "spread" in e["message"] for e in r.json()["errors"])


@pytest.mark.parametrize("chain", [50, 600])
async def test_deep_fragment_chains_are_refused(app_client, users, chain):
    fragments = " ".join(
        f"fragment F{n} on Event {{ incident {{ timeline {{ edges {{ node {{ ...F{n + 1} "
        "} } } } }" for n in range(chain)) + f" fragment F{chain} on Event {{ id }}"
    query = "{ events { edges { node { ...F0 } } } } " + fragments
    async with app_client(max_tokens=100_000) as (client, _):
        r = await post(client, {"query": query}, users[Role.VIEWER][1])
    assert r.status_code == 400
    assert codes(r) and set(codes(r)) <= {"LIMIT_EXCEEDED", "BAD_USER_INPUT"}


@pytest.mark.parametrize("levels", [100, 3000])
async def test_deeply_nested_values_are_refused(app_client, users, levels):
    value = "[" * levels + "NEW" + "]" * levels
    query = f"{{ incidents(filter: {{status: {value}}}) {{ totalCount }} }}"
    async with app_client(max_tokens=100_000) as (client, _):
        r = await post(client, {"query": query}, users[Role.VIEWER][1])
        nested_json: object = "x"
        for _ in range(levels):
            nested_json = {"a": nested_json}
        v = await post(client, {"query": "query($v: JSON) { __typename }",
                                "variables": {"v": nested_json}} if levels < 500 else
                       {"query": "{ __typename }"})
    assert r.status_code == 400 and codes(r) and "INTERNAL_SERVER_ERROR" not in codes(r)
    assert v.status_code < 500


async def test_deeply_nested_json_body_is_a_bad_request(app_client):
    body = '{"query": "{ __typename }", "variables": ' + '{"a":' * 5000 + "1" + "}" * 5001
    async with app_client() as (client, _):
        r = await client.post("/graphql", content=body,
                              headers={**GQL, "content-type": "application/json"})
    assert r.status_code == 400 and codes(r) == ["BAD_REQUEST"]


async def test_nul_bytes_are_bad_input_and_change_nothing(app_client, users):
    mutation = "mutation($n: String!) { createService(input: {name: $n}) { id } }"
    async with app_client() as (client, _):
        r = await post(client, {"query": mutation, "variables": {"n": "evil\x00name"}},
                       users[Role.ADMIN][1])
    assert codes(r) == ["BAD_USER_INPUT"]
    assert await Service.all().count() == 0


async def test_a_million_item_first_is_refused_before_any_query(app_client, users):
    async with app_client() as (client, _):
        r = await post(client, {"query": "{ incidents(first: 1000000) { totalCount } }"},
                       users[Role.VIEWER][1])
        huge = await post(client, {"query": "{ incidents(first: 99999999999) { totalCount } }"},
                          users[Role.VIEWER][1])
    assert codes(r) == ["BAD_USER_INPUT"] and "at most 100" in r.json()["errors"][0]["message"]
    assert codes(huge) == ["BAD_USER_INPUT"]  # not even a 32-bit Int
