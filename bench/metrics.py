"""`metrics` at scale: 100,000 incidents spread over the past year (20 services, every
priority, most acknowledged and resolved, one ended SLA response timer each), inserted with
plain SQL (executemany), on SQLite and on PostgreSQL when TOCSIN_BENCH_POSTGRES_URL is set.

The figure is the median response time of one GraphQL request through the in-process API
asking for every total, both breakdowns and a weekly trend over the year (once for all
services, once for one service); the baseline is a plain `SELECT COUNT(*) FROM incidents` on
the same connection, so the ratio says how many full counts one metrics answer costs. On SQLite
a second row gives the process CPU time per request, steadier than wall time when other work
shares the machine. The answer comes from the daily roll-up (migration 0010), which triggers
keep on every write; the last row says what that costs a writer: create + acknowledge +
resolve of an incident under an SLA policy, against the same writes with the triggers dropped.
`python -m bench.metrics` runs this part alone."""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from app import db
from app.asgi import create_app
from app.auth.models import Role
from app.auth.service import create_user_with_token
from app.graphql.ids import to_global_id
from app.incidents import rules
from app.incidents import service as incidents
from app.incidents.models import Impact, Priority, Urgency
from app.slas import policies
from app.slas.models import SlaKind
from app.timesource import FrozenClock
from bench.seed import create_postgres_database, drop_postgres_database, postgres_base
from bench.settings import bench_settings

INCIDENTS = 100_000
SERVICES = 20
RUNS = 5
NOW = datetime(2026, 6, 1, tzinfo=UTC)
FIGURES = "incidentCount openCount mttaSeconds mttrSeconds mttdSeconds slaCompliancePercent"
QUERY = (
    "query($from: DateTime, $to: DateTime, $service: ID) {"
    " metrics(from: $from, to: $to, serviceId: $service) {"
    f" {FIGURES} byPriority {{ priority {FIGURES} }}"
    f" byService {{ service {{ name }} {FIGURES} }}"
    " trend(interval: WEEK) { start incidentCount openCount mttaSeconds mttrSeconds } } }")


INCIDENT_COLUMNS = ["id", "number", "title", "status", "impact", "urgency", "priority",
                    "service_id", "public", "started_at", "created_at", "updated_at",
                    "acknowledged_at", "resolved_at"]
TIMER_COLUMNS = ["id", "incident_id", "kind", "state", "target_seconds", "warn_at_percent",
                 "started_at", "consumed_seconds", "stopped_at", "breached_at", "warned",
                 "breach_emitted"]


def _rows() -> tuple[list[list[Any]], list[list[Any]]]:
    rng = random.Random(4)
    impacts, urgencies = list(Impact), list(Urgency)
    incidents, timers = [], []
    # Oldest first, as incidents are filed: ids and creation times rise together.
    ages = sorted((rng.uniform(0, 365 * 86400) for _ in range(INCIDENTS)), reverse=True)
    for n, age in enumerate(ages, start=1):
        created = NOW - timedelta(seconds=age)
        started = created - timedelta(seconds=rng.choice((0, 0, rng.uniform(0, 3600))))
        impact, urgency = rng.choice(impacts), rng.choice(urgencies)
        acked = created + timedelta(seconds=rng.uniform(30, 3600)) if rng.random() < 0.9 else None
        resolved = (acked + timedelta(seconds=rng.uniform(60, 86400))
                    if acked and rng.random() < 0.8 else None)
        status = "RESOLVED" if resolved else ("ACKNOWLEDGED" if acked else "NEW")
        service = rng.randint(1, SERVICES) if rng.random() < 0.95 else None
        incidents.append([n, n, f"incident {n}", status, str(impact), str(urgency),
                          str(rules.priority_for(impact, urgency)), service, False, started,
                          created, resolved or acked or created, acked, resolved])
        if acked:
            met = (acked - created).total_seconds() <= 1800
            timers.append([n, n, "RESPONSE", "MET" if met else "BREACHED", 1800, 75, created,
                           0.0, acked, None if met else created + timedelta(seconds=1800),
                           not met, not met])
    return incidents, timers


async def _fill() -> None:
    """Services, incidents and timers in bulk: COPY on PostgreSQL, executemany on SQLite."""
    conn: Any = db.connection()
    services = [[s, f"service {s}", True, NOW, NOW] for s in range(1, SERVICES + 1)]
    incidents, timers = _rows()
    tables = (("services", ["id", "name", "public", "created_at", "updated_at"], services),
              ("incidents", INCIDENT_COLUMNS, incidents), ("sla_timers", TIMER_COLUMNS, timers))
    if db.is_postgres():
        async with conn.acquire_connection() as raw:
            for table, columns, rows in tables:
                await raw.copy_records_to_table(table, records=rows, columns=columns)
        await conn.execute_script("ANALYZE")
        return
    for table, columns, rows in tables:
        stored = [[str(v) if isinstance(v, datetime) else v for v in row] for row in rows]
        await conn.execute_many(
            f"INSERT INTO {table} ({', '.join(columns)})"
            f" VALUES ({', '.join('?' * len(columns))})", stored)
    await conn.execute_script("ANALYZE")


async def _median_ms(call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """Median wall and process-CPU milliseconds of one call. On SQLite the database works in
    this process, so CPU is the steadier figure on a busy machine."""
    for _ in range(2):  # warm the caches
        await call()
    wall, cpu = [], []
    for _ in range(RUNS):
        start, start_cpu = time.perf_counter(), time.process_time()
        await call()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


async def _measure(url: str, label: str) -> list[dict[str, Any]]:
    await db.migrate(url)
    await db.init_db(url)
    try:
        await _fill()
        issued = await create_user_with_token("bench", Role.VIEWER, now=NOW)
        clock = FrozenClock(NOW)
        api = create_app(bench_settings(), clock, manage_db=False)
        headers = {"authorization": f"Bearer {issued.token}"}
        year = {"from": (NOW - timedelta(days=365)).isoformat(), "to": NOW.isoformat()}

        async def count() -> None:
            rows = await db.connection().execute_query_dict(
                "SELECT COUNT(*) AS n FROM incidents")
            assert int(rows[0]["n"]) == INCIDENTS

        rows: list[dict[str, Any]] = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api),
                                     base_url="http://bench") as client:
            for scope, variables in (
                    ("all services", year),
                    ("one service", {**year, "service": to_global_id("Service", 1)})):

                async def ask(variables: dict[str, Any] = variables) -> None:
                    r = await client.post("/graphql", json={"query": QUERY,
                                                            "variables": variables},
                                          headers=headers)
                    m = r.json()["data"]["metrics"]
                    assert m["incidentCount"] > 0 and len(m["trend"]) == 53, r.text[:300]

                figure, figure_cpu = await _median_ms(ask)
                baseline, baseline_cpu = await _median_ms(count)
                name = (f"metrics+breakdowns+weekly trend, 1 year, {scope},"
                        f" {INCIDENTS:,} incidents, {label}")
                rows.append({"name": name, "figure": figure, "baseline": baseline,
                             "ratio": figure / baseline,
                             "unit": "ms per request (baseline: SELECT COUNT(*))"})
                if not db.is_postgres():
                    rows.append({"name": name + ", CPU", "figure": figure_cpu,
                                 "baseline": baseline_cpu,
                                 "ratio": figure_cpu / max(baseline_cpu, 1e-3),
                                 "unit": "process CPU ms per request (baseline: COUNT(*))"})
        return rows
    finally:
        await db.close_db()


ROLLUP_TRIGGERS = ["incident_day_stats_insert", "incident_day_stats_update",
                   "incident_day_stats_delete", "incident_day_stats_timer_insert",
               "incident_day_stats_timer_update", "incident_day_stats_timer_delete"]
WRITES = 300


async def _write_ms(url: str, with_rollup: bool) -> float:
    """Milliseconds per create + acknowledge + resolve through the incident service (an SLA
    policy on the service, so timers start and end), with the roll-up triggers or without."""
    await db.migrate(url)
    await db.init_db(url)
    try:
        conn = db.connection()
        if not with_rollup:
            for trigger in ROLLUP_TRIGGERS:
                table = "sla_timers" if "timer" in trigger else "incidents"
                await conn.execute_script(
                    f"DROP TRIGGER {trigger}" if not db.is_postgres()
                    else f"DROP TRIGGER {trigger} ON {table}")
        issued = await create_user_with_token("bench", Role.ADMIN, now=NOW)
        actor = await issued.api_token.user
        policy = await policies.create_policy(policies.PolicyInput(
            name="Standard", timezone="UTC", targets=[
                policies.Target(priority=Priority.P2, kind=kind, seconds=3600)
                for kind in SlaKind]), actor=actor, now=NOW)
        service = await incidents.create_service(
            name="Checkout", description=None, public=True, actor=actor, now=NOW,
            sla_policy_id=policy.id)
        start = time.perf_counter()
        for k in range(WRITES):
            at = NOW + timedelta(minutes=7 * k)
            made = await incidents.create_incident(incidents.NewIncident(
                title="Card payments fail", impact=Impact.HIGH, urgency=Urgency.MEDIUM,
                service_id=service.id), actor=actor, now=at)
            await incidents.acknowledge(made.id, actor=actor, now=at + timedelta(seconds=30))
            await incidents.resolve(made.id, "fixed", actor=actor, now=at + timedelta(minutes=2))
        return (time.perf_counter() - start) * 1000 / WRITES
    finally:
        await db.close_db()


async def _write_cost(make_url: Callable[[], Awaitable[str]], label: str) -> dict[str, Any]:
    """What keeping the roll-up costs writers: the same writes with and without its
    triggers, alternated three times each on fresh databases, best of three."""
    timings: dict[bool, list[float]] = {True: [], False: []}
    for with_rollup in (True, False) * 3:
        timings[with_rollup].append(await _write_ms(await make_url(), with_rollup))
    figure, baseline = min(timings[True]), min(timings[False])
    return {"name": f"create+acknowledge+resolve with the metrics roll-up, {label}",
            "figure": figure, "baseline": baseline, "ratio": figure / baseline,
            "unit": "ms per incident (baseline: the same without the roll-up triggers)"}


async def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += await _measure(f"sqlite://{Path(tmp) / 'metrics.db'}", "SQLite")
        made = iter(range(100))

        async def sqlite_url() -> str:
            return f"sqlite://{Path(tmp) / f'writes-{next(made)}.db'}"

        rows.append(await _write_cost(sqlite_url, "SQLite"))
    base = postgres_base()
    if base:
        created: list[str] = []

        async def postgres_url() -> str:
            name, url = await create_postgres_database(base)
            created.append(name)
            return url

        try:
            rows += await _measure(await postgres_url(), "PostgreSQL")
            rows.append(await _write_cost(postgres_url, "PostgreSQL"))
        finally:
            for name in created:
                await drop_postgres_database(base, name)
    return rows


if __name__ == "__main__":
    import asyncio

    print(f"load average {os.getloadavg()[0]:.1f}")
    for row in asyncio.run(run()):
        print(f"{row['name']}: {row['figure']:.1f}, baseline {row['baseline']:.2f},"
              f" ratio {row['ratio']:.1f} ({row['unit']})")
