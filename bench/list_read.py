"""List read, in process: `incidents(first: 50)` through the GraphQL endpoint against a bare
Starlette endpoint that runs the equivalent SQL on the same connection and returns the same
JSON. Both are driven through the same ASGI transport, so the ratio is the cost of the API
layer. (Separate-process load generation comes with the performance suite.)"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import db
from app.asgi import create_app
from app.auth.models import Role
from app.auth.service import create_user_with_token
from app.config import Settings
from app.incidents import service
from app.incidents.models import Impact, Urgency
from app.timesource import SystemClock

QUERY = """{ incidents(first: 50) { edges { node { reference title status priority
  service { name } assignee { name } } } } }"""
SQL = """SELECT i.number, i.title, i.status, i.priority, s.name AS service, u.name AS assignee
FROM incidents i LEFT JOIN services s ON s.id = i.service_id
LEFT JOIN users u ON u.id = i.assignee_id
ORDER BY i.created_at DESC, i.id DESC LIMIT 50"""


def baseline_app() -> Starlette:
    async def incidents(request: Request) -> Response:
        rows = await db.connection().execute_query_dict(SQL)
        edges = [{"node": {"reference": f"INC-{r['number']}", "title": r["title"],
                           "status": r["status"], "priority": r["priority"],
                           "service": {"name": r["service"]} if r["service"] else None,
                           "assignee": {"name": r["assignee"]} if r["assignee"] else None}}
                 for r in rows]
        return Response(orjson.dumps({"data": {"incidents": {"edges": edges}}}),
                        media_type="application/json")

    return Starlette(routes=[Route("/incidents", incidents)])


async def _rate(client: httpx.AsyncClient, send: Any, seconds: float = 3.0) -> float:
    for _ in range(20):
        await send(client)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        await send(client)
        count += 1
    return count / (time.perf_counter() - start)


async def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{Path(tmp) / 'bench.db'}"
        await db.migrate(url)
        await db.init_db(url)
        try:
            issued = await create_user_with_token("bench", Role.ADMIN, now=SystemClock().now())
            actor = await issued.api_token.user
            svc = await service.create_service(name="Bench", description=None, public=True,
                                               actor=actor, now=SystemClock().now())
            for n in range(200):
                await service.create_incident(service.NewIncident(
                    title=f"incident {n}", impact=Impact.MEDIUM, urgency=Urgency.LOW,
                    service_id=svc.id, assignee_id=actor.id), actor=actor,
                    now=SystemClock().now())
            api = create_app(Settings(_env_file=None), manage_db=False)  # type: ignore[call-arg]
            headers = {"authorization": f"Bearer {issued.token}"}

            async def graphql(client: httpx.AsyncClient) -> None:
                r = await client.post("/graphql", json={"query": QUERY}, headers=headers)
                assert len(r.json()["data"]["incidents"]["edges"]) == 50

            async def bare(client: httpx.AsyncClient) -> None:
                r = await client.get("/incidents")
                assert len(r.json()["data"]["incidents"]["edges"]) == 50

            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api),
                                         base_url="http://b") as c1, \
                    httpx.AsyncClient(transport=httpx.ASGITransport(app=baseline_app()),
                                      base_url="http://b") as c2:
                base = await _rate(c2, bare)
                ours = await _rate(c1, graphql)
        finally:
            await db.close_db()
    return [{"name": "list read, 50 incidents, SQLite, in process", "figure": ours,
             "baseline": base, "ratio": ours / base, "unit": "req/s (baseline: bare Starlette)"}]
