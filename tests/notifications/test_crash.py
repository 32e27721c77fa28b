"""At-least-once across a crash: a real `tocsin worker` process is killed with SIGKILL in the
middle of a batch, a new one is started, and every delivery still completes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.auth.models import Role
from app.incidents import service as incidents
from app.incidents.models import Impact, Urgency
from app.notifications import service
from app.notifications.models import Delivery, DeliveryStatus
from app.timesource import utcnow
from tests.notifications.conftest import SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
BATCH = 10


def start_worker(database_url: str, tmp: Path, n: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TOCSIN_DATABASE_URL": database_url,
           "TOCSIN_SECRET_KEY": SECRET_KEY, "TOCSIN_DELIVERY_LEASE_SECONDS": "1.5",
           "TOCSIN_DELIVERY_BATCH_SIZE": str(BATCH), "TOCSIN_DELIVERY_CONCURRENCY": "3",
           "TOCSIN_DELIVERY_POLL_SECONDS": "0.1", "TOCSIN_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], cwd=tmp, env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=(tmp / f"worker-{n}.log").open("w"))


async def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def test_killed_worker_loses_nothing(database, users, clock, sends, tmp_path):
    clock.set(utcnow())  # the worker processes run on the real clock
    channel = await service.create_channel(
        name="crash", plugin="recorder", config={"path": str(sends.path), "delay": 0.05},
        now=clock.now())
    recipients = [f"ok-{n}@example.org" for n in range(3)]
    await service.create_rule(service.RuleInput(
        name="all", channel_id=channel.id, event_types=["incident.created"],
        recipients=recipients), now=clock.now())
    actor = users[Role.RESPONDER][0]
    for n in range(20):
        await incidents.create_incident(incidents.NewIncident(
            title=f"outage {n}", impact=Impact.LOW, urgency=Urgency.LOW), actor=actor,
            now=clock.now())
    ids = {d.id for d in await Delivery.all()}
    assert len(ids) == 60

    first = start_worker(database, tmp_path, 1)
    try:
        # Kill while a batch is half sent: some sends done, the batch not yet recorded.
        async def mid_batch() -> bool:
            done = len(sends.all())
            return done >= 15 and done % BATCH not in (0, BATCH - 1)

        await wait_for(mid_batch, 30, "the first worker to be mid-batch")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    stranded = await Delivery.filter(status=DeliveryStatus.PENDING,
                                     claimed_until__isnull=False).count()
    assert stranded > 0, "the kill should leave claimed, unfinished deliveries"
    assert await Delivery.filter(status=DeliveryStatus.DELIVERED).count() < 60

    second = start_worker(database, tmp_path, 2)
    try:
        async def all_delivered() -> bool:
            return await Delivery.filter(status=DeliveryStatus.DELIVERED).count() == 60

        await wait_for(all_delivered, 60, "every delivery to complete after the restart")
    finally:
        second.terminate()
        second.wait(timeout=10)

    sent = sends.all()
    keys = [s["key"] for s in sent]
    assert {int(k) for k in keys} == ids  # none lost
    assert len({s["pid"] for s in sent}) == 2  # both workers sent some
    # Duplicates are only those the first worker sent but never recorded (at-least-once).
    duplicates = {k for k in keys if keys.count(k) > 1}
    assert len(duplicates) < BATCH
    retried = await Delivery.filter(attempts=2).count()
    assert retried >= stranded
