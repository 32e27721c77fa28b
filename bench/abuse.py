"""Abuse, measured: server CPU time spent on each kind of refused request (depth bomb, alias
bomb, oversized body, rate-limited, anonymous mutation) as a ratio against a plain
`{ __typename }`, read from /proc for a real `tocsin serve` process; and the validation cache
that the one-validator design allows, against strawberry's per-request limiter classes."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REQUESTS = 1000
DEEP = "id"
for _ in range(10):
    DEEP = f"incident {{ timeline {{ edges {{ node {{ {DEEP} }} }} }} }}"
DEPTH_BOMB = f"{{ events {{ edges {{ node {{ {DEEP} }} }} }} }}"
ALIAS_BOMB = "{ " + " ".join(f"a{i}: __typename" for i in range(200)) + " }"
OVERSIZED = "{ __typename " + "#" * 2_000_000 + "\n}"
ANONYMOUS_MUTATION = 'mutation { createService(input: {name: "flood"}) { id } }'


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _cpu_per_request(client: httpx.AsyncClient, pid: int, send: Any) -> float:
    for _ in range(20):
        await send(client)
    before = cpu_seconds(pid)
    await asyncio.gather(*(_repeat(client, send, REQUESTS // 10) for _ in range(10)))
    return (cpu_seconds(pid) - before) / REQUESTS


async def _repeat(client: httpx.AsyncClient, send: Any, times: int) -> None:
    for _ in range(times):
        await send(client)


def _post(query: str, status: int, headers: dict[str, str] | None = None) -> Any:
    async def send(client: httpx.AsyncClient) -> None:
        r = await client.post("/graphql", json={"query": query}, headers=headers)
        assert r.status_code == status, (r.status_code, r.text[:200])
    return send


async def refusals() -> list[dict[str, Any]]:
    from tests.fixtures_server import start_server, stop_server

    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), extra_env={
            # One failed authentication a minute: after the first, every request carrying a
            # token from this address is refused by the limiter, before any lookup.
            "TOCSIN_RATE_LIMIT_PER_ADDRESS": "0", "TOCSIN_RATE_LIMIT_PER_TOKEN": "0",
            "TOCSIN_RATE_LIMIT_AUTH_FAILURES": "1", "TOCSIN_MAX_BODY_BYTES": "1000000"})
        pid = server.process.pid
        try:
            limited = {"authorization": "Bearer tocsin_flooding"}
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                await client.post("/graphql", json={"query": "{ __typename }"}, headers=limited)
                kinds = {
                    "depth bomb (10 levels past the limit)": _post(DEPTH_BOMB, 200),
                    "alias bomb (200 aliases)": _post(ALIAS_BOMB, 200),
                    "oversized body (2 MB)": _post(OVERSIZED, 413),
                    "rate-limited (429)": _post("{ __typename }", 429, limited),
                    "anonymous mutation (UNAUTHENTICATED)": _post(ANONYMOUS_MUTATION, 200),
                }
                base = await _cpu_per_request(client, pid, _post("{ __typename }", 200))
                rows = []
                for name, send in kinds.items():
                    cost = await _cpu_per_request(client, pid, send)
                    rows.append({"name": f"refused: {name}", "figure": cost * 1e6,
                                 "baseline": base * 1e6, "ratio": cost / base,
                                 "unit": "server CPU us/request (baseline: { __typename })"})
        finally:
            stop_server(server)
    return rows


VALIDATED = """query Q { incidents(first: 10) { totalCount edges { cursor node {
  id reference title status priority service { id name status } assignee { id name }
  timeline(first: 5) { edges { node { sequence type fromStatus toStatus note } } } } } } }"""


async def validation_cache() -> list[dict[str, Any]]:
    """Executions per second of a document refused after validation (no database), with
    this schema's cached validator against strawberry's per-request limiter extensions."""
    from strawberry.extensions import (
        MaxAliasesLimiter,
        MaxTokensLimiter,
        ParserCache,
        QueryDepthLimiter,
        ValidationCache,
    )

    from app.config import Settings
    from app.graphql import schema as tocsin
    from app.graphql.context import Context
    from app.graphql.errors import ErrorCodes
    from app.timesource import SystemClock

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    ours = tocsin.build_schema(settings)
    per_request = tocsin.TocsinSchema(
        query=tocsin.Query, mutation=tocsin.Mutation,
        types=[tocsin.IncidentType, tocsin.ServiceType, tocsin.UserType, tocsin.EventType],
        extensions=[ErrorCodes, lambda: ParserCache(maxsize=1024),
                    lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
                    lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
                    lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
                    lambda: ValidationCache(maxsize=1024)],
        config=ours.config)

    async def rate(schema: Any, seconds: float = 2.0) -> float:
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            result = await schema.execute(VALIDATED, context_value=Context(
                user=None, clock=SystemClock(), settings=settings))
            assert result.errors and result.errors[0].extensions["code"] == "UNAUTHENTICATED"
            count += 1
        return count / (time.perf_counter() - start)

    await rate(ours, 0.3)
    await rate(per_request, 0.3)
    cached, uncached = await rate(ours), await rate(per_request)
    return [{"name": "validation: cached one-validator vs strawberry per-request limiters",
             "figure": cached, "baseline": uncached, "ratio": cached / uncached,
             "unit": "executions/s (baseline: QueryDepthLimiter+MaxAliasesLimiter per request)"}]


async def run() -> list[dict[str, Any]]:
    return await refusals() + await validation_cache()
