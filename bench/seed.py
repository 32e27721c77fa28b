"""Bench databases: migrated, with an admin token, a 24x7 SLA policy, five services, a
notification rule on the lifecycle events (so writes fill the outbox), and N stored incidents
with two running SLA timers each, bulk-inserted in plain SQL (a million rows take seconds)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from app import db
from app.auth.models import Role
from app.auth.service import create_user_with_token
from app.graphql.ids import to_global_id
from app.incidents import service as incidents
from app.incidents.models import Priority
from app.notifications import secrets
from app.notifications import service as notifications
from app.notifications.registry import Registry
from app.notifications.sdk import DeliveryResult, Message, Notifier
from app.slas import policies
from app.slas.models import SlaKind

SECRET = "bench-secret-key-0123456789abcdefghij"
BATCH = 5000
SERVICES = 5
TARGET_SECONDS = 86_400


class NoopNotifier(Notifier):
    name = "noop"

    async def send(self, message: Message, config: Any) -> DeliveryResult:
        return DeliveryResult.delivered(provider_reference=message.idempotency_key)


@dataclass
class Seeded:
    url: str
    token: str
    service_id: str  # global ids, as clients send them
    assignee_id: str


async def seed(url: str, stored: int) -> Seeded:
    await db.migrate(url)
    await db.init_db(url)
    try:
        now = datetime.now(UTC)
        secrets.configure("sqlite://:memory:", SECRET)
        issued = await create_user_with_token("bench", Role.ADMIN, now=now)
        actor = await issued.api_token.user
        policy = await policies.create_policy(policies.PolicyInput(
            name="24x7", timezone="UTC", targets=[
                policies.Target(priority=p, kind=k, seconds=TARGET_SECONDS)
                for p in Priority for k in SlaKind]), actor=actor, now=now)
        services = [await incidents.create_service(
            name=f"service {n}", description=None, public=True, actor=actor, now=now,
            sla_policy_id=policy.id) for n in range(SERVICES)]
        registry = Registry()
        registry.add(NoopNotifier)
        channel = await notifications.create_channel(name="noop", plugin="noop", config={},
                                                     now=now, registry=registry)
        await notifications.create_rule(notifications.RuleInput(
            name="lifecycle", channel_id=channel.id,
            event_types=["incident.created", "incident.acknowledged", "incident.resolved"],
            recipients=["oncall"]), now=now, registry=registry)
        await _bulk_incidents(stored, [s.id for s in services], actor.id, policy.id, now)
        return Seeded(url=url, token=issued.token,
                      service_id=to_global_id("Service", services[0].id),
                      assignee_id=to_global_id("User", actor.id))
    finally:
        await db.close_db()


async def _bulk_incidents(count: int, service_ids: list[int], assignee_id: int, policy_id: int,
                          now: datetime) -> None:
    conn = db.connection()
    pg = conn.capabilities.dialect == "postgres"

    def stamp(value: datetime) -> Any:
        return value if pg else str(value)

    start = now - timedelta(seconds=count)
    for first in range(0, count, BATCH):
        numbers = range(first + 1, min(count, first + BATCH) + 1)
        rows = []
        for n in numbers:
            at = stamp(start + timedelta(seconds=n))
            rows.append([n, f"incident {n}", "NEW", "HIGH", "LOW", "P3", False, at, at, at,
                         assignee_id if n % 3 else None, service_ids[n % len(service_ids)]])
        async with db.atomic() as tx:
            await tx.connection.execute_many(
                f"""INSERT INTO incidents (number, title, status, impact, urgency, priority,
                public, started_at, created_at, updated_at, assignee_id, service_id)
                VALUES ({db.placeholders(conn, 12)})""", rows)
            ids = await tx.connection.execute_query_dict(
                f"SELECT id, created_at FROM incidents WHERE number >= {db.placeholders(conn, 1)}",
                [numbers[0]])
            timers = []
            for row in ids:
                created = row["created_at"]
                created = created if isinstance(created, datetime) else datetime.fromisoformat(
                    created)
                due = created + timedelta(seconds=TARGET_SECONDS)
                warn = created + timedelta(seconds=TARGET_SECONDS * 0.75)
                for kind in ("RESPONSE", "RESOLUTION"):
                    timers.append([kind, "RUNNING", TARGET_SECONDS, 75, stamp(created), 0.0,
                                   stamp(created), stamp(due), stamp(warn), stamp(warn), False,
                                   False, row["id"], policy_id])
            await tx.connection.execute_many(
                f"""INSERT INTO sla_timers (kind, state, target_seconds, warn_at_percent,
                started_at, consumed_seconds, running_since, due_at, warn_at, next_at, warned,
                breach_emitted, incident_id, policy_id) VALUES ({db.placeholders(conn, 14)})""",
                timers)
    if count:
        async with db.atomic() as tx:
            await tx.connection.execute_query(
                f"UPDATE counters SET value = {db.placeholders(conn, 1)} WHERE kind = 'incident'",
                [count])
            if not (await tx.connection.execute_query_dict(
                    "SELECT kind FROM counters WHERE kind = 'incident'")):
                await tx.connection.execute_query(
                    f"INSERT INTO counters (kind, value) VALUES ('incident', "
                    f"{db.placeholders(conn, 1)})", [count])
    if pg:
        await conn.execute_script("ANALYZE")


# PostgreSQL: one fresh database per bench database, dropped afterwards.

async def create_postgres_database(base: str) -> tuple[str, str]:
    import asyncpg

    name = f"tocsin_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(base.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urlsplit(base)
    return name, urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


async def drop_postgres_database(base: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(base.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def postgres_base() -> str | None:
    return os.environ.get("TOCSIN_BENCH_POSTGRES_URL") or None
