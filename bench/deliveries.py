"""Delivery throughput, in process: events appended with a rule that fans each out to ten
recipients of an in-process no-op plugin, then drained by the worker (claim under a lease,
build the message, send, record). The baseline calls the same plugin directly in a loop, so
the ratio is the worker's cost per delivery. SQLite always; PostgreSQL too when
TOCSIN_BENCH_POSTGRES_URL points at a server where the user may create databases."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from app import db
from app.auth.models import Role
from app.auth.service import create_user_with_token
from app.events import service as events
from app.notifications import secrets, service
from app.notifications.dispatcher import Dispatcher, DispatchSettings
from app.notifications.registry import Registry
from app.notifications.sdk import DeliveryResult, Message, Notifier
from app.notifications.testing import sample_message
from app.timesource import SystemClock
from bench.seed import create_postgres_database, drop_postgres_database

EVENTS = 300
RECIPIENTS = 10


class NoopNotifier(Notifier):
    name = "noop"

    async def send(self, message: Message, config: Any) -> DeliveryResult:
        return DeliveryResult.delivered(provider_reference=message.idempotency_key)


async def _direct_rate(count: int) -> float:
    notifier, config = NoopNotifier(), NoopNotifier.Config()
    messages = [sample_message(idempotency_key=str(n)) for n in range(count)]
    start = time.perf_counter()
    for message in messages:
        await notifier.send(message, config)
    return count / (time.perf_counter() - start)


async def _measure(url: str, label: str) -> list[dict[str, Any]]:
    await db.migrate(url)
    await db.init_db(url)
    try:
        clock = SystemClock()
        secrets.configure("sqlite://:memory:", "bench-secret-key-0123456789abcdefghij")
        registry = Registry()
        registry.add(NoopNotifier)
        issued = await create_user_with_token("bench", Role.ADMIN, now=clock.now())
        actor = await issued.api_token.user
        channel = await service.create_channel(name="noop", plugin="noop", config={},
                                               now=clock.now(), registry=registry)
        await service.create_rule(service.RuleInput(
            name="fan out", channel_id=channel.id, event_types=["bench.tick"],
            recipients=[f"r{n}" for n in range(RECIPIENTS)]), now=clock.now(),
            registry=registry)
        worker = Dispatcher(registry=registry, clock=clock,
                            settings=DispatchSettings(schedule=[10], batch_size=500,
                                                      concurrency=64))
        total = EVENTS * RECIPIENTS
        start = time.perf_counter()
        for _ in range(EVENTS):
            async with db.atomic():
                await events.append("bench.tick", now=clock.now(), actor_id=actor.id)
        appended = time.perf_counter()
        report = await worker.drain()
        done = time.perf_counter()
        assert report.delivered == total, report
        direct = await _direct_rate(total)
    finally:
        await db.close_db()
    end_to_end = total / (done - start)
    drained = total / (done - appended)
    return [
        {"name": f"deliveries end to end (append → DELIVERED), {label}",
         "figure": end_to_end, "baseline": direct, "ratio": end_to_end / direct,
         "unit": "deliveries/s (baseline: plugin called in a loop)"},
        {"name": f"worker overhead per delivery, {label}",
         "figure": 1e6 / drained, "baseline": 1e6 / direct, "ratio": direct / drained,
         "unit": "µs per delivery (ratio: worker ÷ direct call)"},
    ]


async def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += await _measure(f"sqlite://{Path(tmp) / 'bench.db'}", "SQLite")
    base = os.environ.get("TOCSIN_BENCH_POSTGRES_URL")
    if base:
        name, url = await create_postgres_database(base)
        try:
            rows += await _measure(url, "PostgreSQL")
        finally:
            await drop_postgres_database(base, name)
    return rows
