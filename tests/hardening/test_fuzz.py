"""Fuzzing a real `tocsin serve` with queries and mutations that hypothesis-graphql generates
from the schema, valid ones and invalid ones: the server never answers 5xx, every error has
an `extensions.code`, no error is an unexpected (masked) one, nothing internal leaks, and the
process is alive and healthy afterwards.

`make test` runs at least 300 examples; `make fuzz` sets TOCSIN_FUZZ_EXAMPLES higher.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from graphql import build_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database
from tests.fixtures_server import ROOT, RunningServer, start_server, stop_server

EXAMPLES = int(os.environ.get("TOCSIN_FUZZ_EXAMPLES", "100"))
SCHEMA = build_schema((ROOT / "schema.graphql").read_text())
SCALARS = {
    "DateTime": st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1),
                             timezones=st.just(UTC)).map(lambda d: nodes.String(d.isoformat())),
    "JSON": st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=10),
                            max_size=3).map(lambda d: nodes.String(str(d))),
}
LEAKS = re.compile(
    r"Traceback|File \"|tortoise|asyncpg|sqlite|psycopg|Error\(|\.py\b|0x[0-9a-f]{6}",
    re.IGNORECASE)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much,
                                       HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module", params=["sqlite"] + (["postgres"] if POSTGRES_URL else []))
def fuzzed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[RunningServer, httpx.Client]]:
    import asyncio

    url = None
    if request.param == "postgres":
        assert POSTGRES_URL
        url = asyncio.run(create_postgres_database(POSTGRES_URL))
    # Rate limits off: the fuzzer is one fast client, and they are tested on their own.
    server = start_server(tmp_path_factory.mktemp("fuzz"), url, extra_env={
        "TOCSIN_RATE_LIMIT_PER_TOKEN": "0", "TOCSIN_RATE_LIMIT_PER_ADDRESS": "0",
        "TOCSIN_RATE_LIMIT_AUTH_FAILURES": "0"})
    client = httpx.Client(timeout=30, headers={
        "authorization": f"Bearer {server.admin_token}",
        "accept": "application/graphql-response+json"})
    try:
        yield server, client
        assert server.process.poll() is None, "the server died while being fuzzed"
        assert client.get(server.url + "/healthz").json() == {"status": "ok"}
        log = server.log_path.read_text()
        assert "unexpected error" not in log, log[-3000:]
    finally:
        client.close()
        stop_server(server)
        if url:
            asyncio.run(drop_postgres_database(POSTGRES_URL or "", url))


def check(server: RunningServer, client: httpx.Client, query: str) -> None:
    response = client.post(server.graphql, json={"query": query})
    assert response.status_code < 500, (query, response.status_code, response.text[:500])
    body = response.json()
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code and code != "INTERNAL_SERVER_ERROR", (query, error)
        assert not LEAKS.search(error["message"]), (query, error)


@FUZZ
@given(query=queries(SCHEMA, custom_scalars=SCALARS))
def test_valid_queries(fuzzed, query):
    check(*fuzzed, query)


@FUZZ
@given(query=mutations(SCHEMA, custom_scalars=SCALARS))
def test_valid_mutations(fuzzed, query):
    check(*fuzzed, query)


@FUZZ
@given(query=st.one_of(queries(SCHEMA, custom_scalars=SCALARS, mode=Mode.NEGATIVE),
                       mutations(SCHEMA, custom_scalars=SCALARS, mode=Mode.NEGATIVE)))
def test_invalid_documents(fuzzed, query):
    check(*fuzzed, query)


@FUZZ
@given(body=st.one_of(st.binary(max_size=200), st.text(max_size=200),
                      st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                                   lambda inner: st.lists(inner) | st.dictionaries(
                                       st.sampled_from(["query", "variables", "operationName",
                                                        "extensions", "x"]), inner),
                                   max_leaves=10).map(json.dumps)))
def test_malformed_bodies(fuzzed, body):
    server, client = fuzzed
    response = client.post(server.graphql, content=body,
                           headers={"content-type": "application/json"})
    assert response.status_code < 500, (body, response.text[:300])
    for error in response.json().get("errors") or []:
        assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", (body, error)
