"""The SLA clock at scale: N running timers (10,000 by default, 100,000 with
TOCSIN_BENCH_FULL=1) on SQLite, and on PostgreSQL when TOCSIN_BENCH_POSTGRES_URL is set.

For each database it measures, with the real loop on the system clock:
- breach latency: 200 probe timers fall due over ~2 seconds among the N others; the time from
  each due instant to the commit that published its `sla.breached` event (p50, p99);
- idle CPU: the clock's process CPU time per wall second while nothing is due.
The baseline is the same measurement with 100 timers, so the ratio shows what the number of
timers costs (ideally ~1: the clock reads one indexed row per round, never all timers)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app import db
from app.events import service as events
from app.events.models import Event
from app.incidents.models import Impact, Incident, Priority, Service, Urgency
from app.slas.clock import SlaClock
from app.slas.models import SlaKind, SlaState, SlaTimer
from app.timesource import SystemClock
from bench.seed import create_postgres_database, drop_postgres_database, postgres_base

PROBES = 200
SMALL = 100
IDLE_SECONDS = 3.0


async def _incidents(count: int, first_number: int, now: datetime) -> list[int]:
    service = await Service.get_or_none(name="Bench") or await Service.create(
        name="Bench", created_at=now, updated_at=now)
    await Incident.bulk_create([
        Incident(number=first_number + i, title=f"incident {first_number + i}",
                 impact=Impact.HIGH, urgency=Urgency.HIGH, priority=Priority.P1,
                 service_id=service.id, started_at=now, created_at=now, updated_at=now)
        for i in range(count)
    ], batch_size=2000)
    return await Incident.filter(number__gte=first_number).order_by("id").values_list(
        "id", flat=True)


def _timer(incident_id: int, now: datetime, due: datetime, warn: datetime, warned: bool
           ) -> SlaTimer:
    return SlaTimer(
        incident_id=incident_id, kind=SlaKind.RESOLUTION, state=SlaState.RUNNING,
        target_seconds=86400, warn_at_percent=75, started_at=now, running_since=now,
        due_at=due, warn_at=warn, warned=warned, next_at=due if warned else warn)


async def _fill_background(n: int) -> None:
    """n running timers, none due during the run (warning in 18 h, due tomorrow)."""
    now = datetime.now(UTC)
    ids = await _incidents(n, 1, now)
    await SlaTimer.bulk_create([
        _timer(i, now, now + timedelta(days=1), now + timedelta(hours=18), False) for i in ids
    ], batch_size=2000)


async def _add_probes(n: int, probes: int) -> None:
    """Timers falling due 1.5-3.5 s from now, written without waking the clock (as another
    process would): the clock finds them by re-reading the next instant."""
    now = datetime.now(UTC)
    ids = await _incidents(probes, n + 1, now)
    await SlaTimer.bulk_create([
        _timer(i, now, due, due, True)
        for k, i in enumerate(ids)
        for due in [now + timedelta(seconds=1.5 + 2.0 * k / probes)]
    ], batch_size=2000)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _measure(url: str, n: int) -> dict[str, float]:
    await db.migrate(url)
    await db.init_db(url)
    published: list[tuple[str, float]] = []
    all_in = asyncio.Event()

    async def record(batch: list[Event]) -> None:
        stamp = time.time()
        published.extend((e.payload["dueAt"], stamp) for e in batch if e.type == "sla.breached")
        if len(published) >= PROBES:
            all_in.set()

    events.set_publisher(record)
    clock = SlaClock(SystemClock())
    try:
        await _fill_background(n)
        clock.start()
        await asyncio.sleep(0.3)
        await _add_probes(n, PROBES)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), timeout=30)
        late = [(stamp - datetime.fromisoformat(due).timestamp()) * 1000
                for due, stamp in published]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(IDLE_SECONDS)
        idle = (time.process_time() - cpu0) / (time.perf_counter() - wall0) * 1000
    finally:
        await clock.stop()
        events.set_publisher(None)
        await db.close_db()
    if len(late) < PROBES:
        raise RuntimeError(f"only {len(late)} of {PROBES} breaches were emitted")
    return {"p50": statistics.median(late), "p99": _percentile(late, 99), "idle": idle}


async def _backend(label: str, make_url: Any, n: int) -> list[dict[str, Any]]:
    small = await _measure(await make_url(), SMALL)
    big = await _measure(await make_url(), n)
    rows = []
    for key, what, unit in (("p50", "breach latency p50", "ms after due"),
                            ("p99", "breach latency p99", "ms after due"),
                            ("idle", "clock CPU while idle", "ms CPU per s")):
        rows.append({"name": f"SLA clock {what}, {n:,} timers, {label}", "figure": big[key],
                     "baseline": small[key], "ratio": big[key] / max(small[key], 1e-9),
                     "unit": f"{unit} (baseline: {SMALL} timers)"})
    return rows


async def run() -> list[dict[str, Any]]:
    n = 100_000 if os.environ.get("TOCSIN_BENCH_FULL") == "1" else 10_000
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        made = iter(range(100))

        async def sqlite_url() -> str:
            return f"sqlite://{Path(tmp) / f'sla-{next(made)}.db'}"

        rows += await _backend("SQLite", sqlite_url, n)
    base = postgres_base()
    if base:
        created: list[str] = []

        async def postgres_url() -> str:
            name, url = await create_postgres_database(base)
            created.append(name)
            return url

        try:
            rows += await _backend("PostgreSQL", postgres_url, n)
        finally:
            for name in created:
                await drop_postgres_database(base, name)
    return rows
