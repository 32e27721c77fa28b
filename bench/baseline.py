"""The baseline: a bare Starlette app served exactly like Tocsin (same uvicorn, loop and
database driver through the same tortoise connection), doing by hand what the API does.

- `GET /incidents?first=N`: the list read's SQL (token check, one page joined with its service
  and assignee, the page's SLA timers) returning the very JSON the GraphQL query returns
  (the benchmark checks they are equal).
- `POST /sql/incidents`, `…/{id}/acknowledge`, `…/{id}/resolve`: the lifecycle writes in plain
  SQL, one transaction each, writing the same rows the services write: the incident and its
  counter, two SLA timers (a 24x7 policy), the event, and the outbox delivery of every matching
  notification rule.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app import db
from app.events.service import EVENT_APPEND_LOCK
from app.incidents.models import Impact, Urgency
from app.incidents.rules import priority_for

PAGE_SQL = """SELECT i.id, i.number, i.title, i.status, i.priority, i.created_at,
  s.name AS service_name, u.name AS assignee_name
FROM incidents i LEFT JOIN services s ON s.id = i.service_id
LEFT JOIN users u ON u.id = i.assignee_id
ORDER BY i.created_at DESC, i.id DESC LIMIT {limit}"""
TIMERS_SQL = """SELECT incident_id, kind, state, target_seconds, due_at, consumed_seconds,
  running_since FROM sla_timers WHERE incident_id IN ({marks})"""
TOKEN_SQL = """SELECT u.id, u.active, t.revoked_at FROM api_tokens t
JOIN users u ON u.id = t.user_id WHERE t.token_hash = {mark}"""


def _marks(conn: BaseDBAsyncClient, count: int, start: int = 1) -> str:
    return db.placeholders(conn, count, start=start)


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _stamp(conn: BaseDBAsyncClient, value: datetime) -> Any:
    """How the driver takes a timestamp: SQLite stores tortoise's text form."""
    return value if conn.capabilities.dialect == "postgres" else str(value)


def _global_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def _pk(global_id: str) -> int:
    raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    return int(raw.split(":", 1)[1])


def _cursor(created_at: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([created_at.isoformat(), pk])).decode().rstrip("=")


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def _user_id(conn: BaseDBAsyncClient, request: Request) -> int | None:
    header = request.headers.get("authorization", "")
    token = header.partition(" ")[2].strip()
    digest = hashlib.sha256(token.encode()).hexdigest()
    rows = await conn.execute_query_dict(TOKEN_SQL.format(mark=_marks(conn, 1)), [digest])
    if not rows or not rows[0]["active"] or rows[0]["revoked_at"] is not None:
        return None
    return int(rows[0]["id"])


async def incidents(request: Request) -> Response:
    conn = db.connection()
    if await _user_id(conn, request) is None:
        return _json({"errors": [{"message": "invalid token"}]}, 401)
    first = int(request.query_params.get("first", "50"))
    now = datetime.now(UTC)
    rows = await conn.execute_query_dict(PAGE_SQL.format(limit=first + 1))
    page = rows[:first]
    timers: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in page}
    if page:
        found = await conn.execute_query_dict(
            TIMERS_SQL.format(marks=_marks(conn, len(page))), [r["id"] for r in page])
        for t in sorted(found, key=lambda t: (t["incident_id"], t["kind"] != "RESPONSE")):
            running_since = _time(t["running_since"])
            elapsed = t["consumed_seconds"]
            if t["state"] == "RUNNING" and running_since is not None:
                elapsed += (now - running_since).total_seconds()
            due = _time(t["due_at"])
            timers[t["incident_id"]].append({
                "kind": t["kind"], "state": t["state"],
                "dueAt": due.isoformat() if due and t["state"] != "PAUSED" else None,
                "remainingSeconds": t["target_seconds"] - int(elapsed)})
    edges = []
    for r in page:
        created = _time(r["created_at"])
        assert created is not None
        edges.append({"cursor": _cursor(created, r["id"]), "node": {
            "id": _global_id("Incident", r["id"]), "reference": f"INC-{r['number']}",
            "title": r["title"], "status": r["status"], "priority": r["priority"],
            "createdAt": created.isoformat(),
            "service": {"name": r["service_name"]} if r["service_name"] is not None else None,
            "assignee": {"name": r["assignee_name"]} if r["assignee_name"] is not None else None,
            "slaTimers": timers[r["id"]]}})
    return _json({"data": {"incidents": {"edges": edges, "pageInfo": {
        "hasNextPage": len(rows) > first,
        "endCursor": edges[-1]["cursor"] if edges else None}}}})


async def _append(conn: BaseDBAsyncClient, incident: dict[str, Any], event_type: str,
                  actor_id: int, now: datetime, from_status: str | None, to_status: str,
                  note: str | None) -> None:
    """The event row, then a delivery per matching rule (what the outbox hook writes)."""
    pg = conn.capabilities.dialect == "postgres"
    payload = orjson.dumps({"reference": f"INC-{incident['number']}",
                            "title": incident["title"], "status": to_status,
                            "priority": incident["priority"],
                            "serviceId": incident["service_id"]}).decode()
    rows = await conn.execute_query_dict(
        f"""INSERT INTO events (type, occurred_at, service_id, priority, from_status, to_status,
        note, public, payload, actor_id, incident_id) VALUES ({_marks(conn, 11)}) RETURNING id""",
        [event_type, _stamp(conn, now), incident["service_id"], incident["priority"],
         from_status, to_status, note, False, payload, actor_id, incident["id"]])
    event_id = rows[0]["id"]
    rules = await conn.execute_query_dict(
        "SELECT r.id, r.channel_id, r.event_types, r.recipients FROM notification_rules r "
        "JOIN notification_channels c ON c.id = r.channel_id "
        f"WHERE r.enabled = {'TRUE' if pg else '1'} AND c.enabled = {'TRUE' if pg else '1'}")
    deliveries = []
    for rule in rules:
        types = rule["event_types"]
        types = orjson.loads(types) if isinstance(types, str | bytes) else types
        if event_type not in types:
            continue
        recipients = rule["recipients"]
        recipients = orjson.loads(recipients) if isinstance(recipients, str | bytes) else recipients
        for recipient in recipients or [""]:
            deliveries.append([event_type, recipient, "PENDING", 0, _stamp(conn, now),
                               _stamp(conn, now), rule["channel_id"], event_id, rule["id"]])
    if deliveries:
        await conn.execute_many(
            f"""INSERT INTO deliveries (event_type, recipient, status, attempts, next_attempt_at,
            created_at, channel_id, event_id, rule_id) VALUES ({_marks(conn, 9)})""", deliveries)


async def create_incident(request: Request) -> Response:
    body = orjson.loads(await request.body())
    now = datetime.now(UTC)
    service_id, assignee_id = _pk(body["serviceId"]), _pk(body["assigneeId"])
    priority = str(priority_for(Impact(body["impact"]), Urgency(body["urgency"])))
    async with in_transaction() as conn:
        actor = await _user_id(conn, request)
        if actor is None:
            return _json({"error": "invalid token"}, 401)
        if conn.capabilities.dialect == "postgres":
            await conn.execute_query("SELECT pg_advisory_xact_lock($1)", [EVENT_APPEND_LOCK])
        service = await conn.execute_query_dict(
            "SELECT s.sla_policy_id, p.targets, p.warn_at_percent FROM services s "
            f"LEFT JOIN sla_policies p ON p.id = s.sla_policy_id WHERE s.id = {_marks(conn, 1)}",
            [service_id])
        users = await conn.execute_query_dict(
            f"SELECT id FROM users WHERE id = {_marks(conn, 1)}", [assignee_id])
        if not service or not users:
            return _json({"error": "no such service or user"}, 400)
        number = (await conn.execute_query_dict(
            "INSERT INTO counters (kind, value) VALUES ('incident', 1) ON CONFLICT (kind) "
            "DO UPDATE SET value = counters.value + 1 RETURNING value"))[0]["value"]
        incident = {"number": number, "title": body["title"], "priority": priority,
                    "service_id": service_id}
        incident["id"] = (await conn.execute_query_dict(
            f"""INSERT INTO incidents (number, title, status, impact, urgency, priority, public,
            started_at, created_at, updated_at, assignee_id, service_id)
            VALUES ({_marks(conn, 12)}) RETURNING id""",
            [number, body["title"], "NEW", body["impact"], body["urgency"], priority, False,
             _stamp(conn, now), _stamp(conn, now), _stamp(conn, now), assignee_id,
             service_id]))[0]["id"]
        policy = service[0]
        if policy["sla_policy_id"] is not None:
            targets = policy["targets"]
            targets = orjson.loads(targets) if isinstance(targets, str | bytes) else targets
            timers = []
            for kind in ("RESPONSE", "RESOLUTION"):
                seconds = next(t["seconds"] for t in targets
                               if t["priority"] == priority and t["kind"] == kind)
                due = now + timedelta(seconds=seconds)  # the policy is 24x7
                warn = now + timedelta(seconds=seconds * policy["warn_at_percent"] / 100)
                timers.append([kind, "RUNNING", seconds, policy["warn_at_percent"],
                               _stamp(conn, now), 0.0, _stamp(conn, now), _stamp(conn, due),
                               _stamp(conn, warn), _stamp(conn, warn), False, False,
                               incident["id"], policy["sla_policy_id"]])
            await conn.execute_many(
                f"""INSERT INTO sla_timers (kind, state, target_seconds, warn_at_percent,
                started_at, consumed_seconds, running_since, due_at, warn_at, next_at, warned,
                breach_emitted, incident_id, policy_id) VALUES ({_marks(conn, 14)})""", timers)
        await _append(conn, incident, "incident.created", actor, now, None, "NEW", None)
    return _json({"id": incident["id"]})


async def _transition(request: Request, to_status: str, timer_kind: str,
                      event_type: str) -> Response:
    incident_id = int(request.path_params["id"])
    body = orjson.loads(await request.body() or b"{}")
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        actor = await _user_id(conn, request)
        if actor is None:
            return _json({"error": "invalid token"}, 401)
        pg = conn.capabilities.dialect == "postgres"
        if pg:
            await conn.execute_query("SELECT pg_advisory_xact_lock($1)", [EVENT_APPEND_LOCK])
        found = await conn.execute_query_dict(
            "SELECT id, number, title, status, priority, service_id FROM incidents "
            f"WHERE id = {_marks(conn, 1)}{' FOR UPDATE' if pg else ''}", [incident_id])
        if not found:
            return _json({"error": "no such incident"}, 404)
        incident = found[0]
        from_status = incident["status"]
        if to_status == "ACKNOWLEDGED":
            if from_status != "NEW":
                return _json({"error": "invalid transition"}, 409)
            await conn.execute_query(
                f"UPDATE incidents SET status = {_marks(conn, 1)}, acknowledged_at = "
                f"{_marks(conn, 1, 2)}, updated_at = {_marks(conn, 1, 3)} "
                f"WHERE id = {_marks(conn, 1, 4)}",
                [to_status, _stamp(conn, now), _stamp(conn, now), incident_id])
            note = None
        else:
            note = body.get("resolution")
            await conn.execute_query(
                f"UPDATE incidents SET status = {_marks(conn, 1)}, resolved_at = "
                f"{_marks(conn, 1, 2)}, resolution = {_marks(conn, 1, 3)}, updated_at = "
                f"{_marks(conn, 1, 4)} WHERE id = {_marks(conn, 1, 5)}",
                [to_status, _stamp(conn, now), note, _stamp(conn, now), incident_id])
        timers = await conn.execute_query_dict(
            "SELECT id, consumed_seconds, running_since FROM sla_timers WHERE incident_id = "
            f"{_marks(conn, 1)} AND kind = {_marks(conn, 1, 2)} AND state = 'RUNNING'",
            [incident_id, timer_kind])
        for timer in timers:
            since = _time(timer["running_since"])
            consumed = timer["consumed_seconds"] + ((now - since).total_seconds() if since else 0)
            await conn.execute_query(
                f"UPDATE sla_timers SET state = 'MET', consumed_seconds = {_marks(conn, 1)}, "
                f"running_since = NULL, next_at = NULL, stopped_at = {_marks(conn, 1, 2)} "
                f"WHERE id = {_marks(conn, 1, 3)}", [consumed, _stamp(conn, now), timer["id"]])
        incident["status"] = to_status
        await _append(conn, incident, event_type, actor, now, from_status, to_status, note)
    return _json({"status": to_status})


async def acknowledge(request: Request) -> Response:
    return await _transition(request, "ACKNOWLEDGED", "RESPONSE", "incident.acknowledged")


async def resolve(request: Request) -> Response:
    return await _transition(request, "RESOLVED", "RESOLUTION", "incident.resolved")


def create_app(database_url: str) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.init_db(database_url)
        try:
            yield
        finally:
            await db.close_db()

    return Starlette(routes=[
        Route("/incidents", incidents),
        Route("/sql/incidents", create_incident, methods=["POST"]),
        Route("/sql/incidents/{id:int}/acknowledge", acknowledge, methods=["POST"]),
        Route("/sql/incidents/{id:int}/resolve", resolve, methods=["POST"]),
    ], lifespan=lifespan)
