"""Cost of the database-derived gauges as the tables grow: one /metrics scrape (outbox depth and
age, deliveries by plugin and status, SLA timers, open incidents) over 100,000 deliveries
(`TOCSIN_BENCH_FULL`: 1,000,000) against the same scrape over 1,000. Most rows are DELIVERED,
spread over 30 days as in a deployment that has run for a while; 100 are due."""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from app import db
from app.asgi import create_app
from app.notifications.models import Delivery, NotificationChannel
from app.timesource import SystemClock
from bench.ops_overhead import _rate
from bench.settings import bench_settings

SMALL = 1_000
LARGE = 1_000_000 if os.environ.get("TOCSIN_BENCH_FULL") else 100_000


async def _fill(channel_id: int, start: int, stop: int) -> None:
    now = SystemClock().now()
    field = Delivery._meta.fields_map["created_at"]
    due = field.to_db_value(now - timedelta(seconds=5), Delivery)
    conn = db.connection()
    rows = []
    for n in range(start, stop):
        pending = n < 100
        # spread over the last 30 days, newest last, like a deployment's history
        stamp = field.to_db_value(now - timedelta(days=30) * (1 - n / stop), Delivery)
        rows.append([channel_id, "incident.created", "", "PENDING" if pending else "DELIVERED",
                     0 if pending else 1, due if pending else None, stamp,
                     None if pending else stamp])
    for chunk in range(0, len(rows), 5000):
        await conn.execute_many(
            "INSERT INTO deliveries (channel_id, event_type, recipient, status, attempts, "
            "next_attempt_at, created_at, delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows[chunk:chunk + 5000])


async def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{Path(tmp) / 'bench.db'}"
        await db.migrate(url)
        await db.init_db(url)
        try:
            now = SystemClock().now()
            channel = await NotificationChannel.create(
                name="bench", plugin="webhook", config={}, created_at=now, updated_at=now)
            app = create_app(bench_settings(), manage_db=False)

            async def scrape(client: httpx.AsyncClient) -> None:
                assert (await client.get("/metrics")).status_code == 200

            rates: dict[int, float] = {}
            await _fill(channel.id, 0, SMALL)
            for size in (SMALL, LARGE):
                if size == LARGE:
                    await _fill(channel.id, SMALL, LARGE)
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                             base_url="http://bench") as client:
                    for _ in range(2):
                        rates[size] = max(rates.get(size, 0.0),
                                          await _rate(client, scrape, seconds=1.5))
        finally:
            await db.close_db()
    return [
        {"name": f"ops: /metrics scrape over {LARGE:,} vs {SMALL:,} deliveries",
         "figure": rates[LARGE], "baseline": rates[SMALL], "ratio": rates[LARGE] / rates[SMALL],
         "unit": "scrapes/s (ratio: large/small)"},
    ]
