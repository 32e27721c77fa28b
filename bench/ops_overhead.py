"""Cost of operations instrumentation, in process: `{ __typename }` (the cheapest operation,
so the overhead shows most) through the app as served — request-id middleware, access log
line, HTTP and GraphQL metrics — against the same app with that instrumentation taken out.
And one /metrics scrape (with the open-incidents gauge over 1,000 incidents) against /healthz."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from app import db
from app.asgi import create_app
from app.auth.models import Role
from app.auth.service import create_user_with_token
from app.incidents import service
from app.incidents.models import Impact, Urgency
from app.ops.requests import RequestMiddleware
from app.timesource import SystemClock
from bench.settings import bench_settings


async def _rate(client: httpx.AsyncClient,
                send: Callable[[httpx.AsyncClient], Awaitable[None]],
                seconds: float = 3.0) -> float:
    """Requests per second of `send`, after a short warm-up."""
    for _ in range(20):
        await send(client)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        await send(client)
        count += 1
    return count / (time.perf_counter() - start)

BODY = {"query": "{ __typename }"}


def bare_app() -> Any:
    app = create_app(bench_settings(), manage_db=False)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not RequestMiddleware]
    schema = app.state.schema
    schema.extensions = schema.extensions[1:]  # the metrics extension is first
    return app


async def run() -> list[dict[str, Any]]:
    logging.getLogger("tocsin.access").setLevel(logging.INFO)
    logging.getLogger("tocsin.access").addHandler(logging.NullHandler())
    logging.getLogger("tocsin.access").propagate = False
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{Path(tmp) / 'bench.db'}"
        await db.migrate(url)
        await db.init_db(url)
        try:
            issued = await create_user_with_token("bench", Role.ADMIN, now=SystemClock().now())
            actor = await issued.api_token.user
            svc = await service.create_service(name="Bench", description=None, public=True,
                                               actor=actor, now=SystemClock().now())
            for n in range(1000):
                await service.create_incident(service.NewIncident(
                    title=f"incident {n}", impact=Impact.MEDIUM, urgency=Urgency.LOW,
                    service_id=svc.id, assignee_id=None), actor=actor,
                    now=SystemClock().now())
            served = create_app(bench_settings(), manage_db=False)

            async def typename(client: httpx.AsyncClient) -> None:
                r = await client.post("/graphql", json=BODY)
                assert r.status_code == 200

            async def scrape(client: httpx.AsyncClient) -> None:
                assert (await client.get("/metrics")).status_code == 200

            async def health(client: httpx.AsyncClient) -> None:
                assert (await client.get("/healthz")).status_code == 200

            rates: dict[str, float] = {}
            cases = [("instrumented", served, typename), ("bare", bare_app(), typename),
                     ("scrape", served, scrape), ("healthz", served, health)]
            for _ in range(3):  # interleaved rounds, best of each: less noise from the machine
                for name, app, send in cases:
                    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                 base_url="http://bench") as client:
                        rates[name] = max(rates.get(name, 0.0),
                                          await _rate(client, send, seconds=1.5))
        finally:
            await db.close_db()
    return [
        {"name": "ops: { __typename } instrumented vs bare", "figure": rates["instrumented"],
         "baseline": rates["bare"], "ratio": rates["instrumented"] / rates["bare"],
         "unit": "requests/s (ratio: instrumented/bare)"},
        {"name": "ops: /metrics scrape (1,000 incidents) vs /healthz", "figure": rates["scrape"],
         "baseline": rates["healthz"], "ratio": rates["scrape"] / rates["healthz"],
         "unit": "requests/s (ratio: scrape/healthz)"},
    ]
