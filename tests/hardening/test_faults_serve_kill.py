"""kill -9 of a real `tocsin serve` (its in-process delivery worker mid-batch, sends in
flight), restarted on the same database: every delivery completes, none is lost. Deliveries
go through the recorder plugin (tests/plugins), whose slow sends keep several in flight."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter

from app.notifications.models import Delivery, DeliveryStatus
from tests.fixtures_server import RunningServer, start_server, stop_server
from tests.hardening.served import Admin, wait_until
from tests.notifications.conftest import Sends

INCIDENTS = 10
RECIPIENTS = [f"ok-{n}@example.org" for n in range(3)]
CONCURRENCY = 3
SETTINGS = {
    "TOCSIN_DELIVERY_LEASE_SECONDS": "1.5",  # a dead worker's claims come back this soon
    "TOCSIN_DELIVERY_RETRY_SCHEDULE": "0.2,0.5,1,1,1",
    "TOCSIN_DELIVERY_POLL_SECONDS": "0.1",
    "TOCSIN_DELIVERY_CONCURRENCY": str(CONCURRENCY),
    "TOCSIN_DELIVERY_BATCH_SIZE": "6",
    "TOCSIN_RATE_LIMIT_PER_TOKEN": "0", "TOCSIN_RATE_LIMIT_PER_ADDRESS": "0",
}


def kill(server: RunningServer) -> None:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)


async def test_killed_server_loses_no_delivery(database, tmp_path):
    sends = Sends(tmp_path / "sends.jsonl")
    first = start_server(tmp_path, database, extra_env=SETTINGS)
    second: RunningServer | None = None
    admin = Admin(first.url, first.admin_token)
    try:
        channel = admin.create_channel("recorder", "recorder", {
            # Slow enough sends that claims stay in flight between the check and the kill,
            # also on a busy machine (0.25 s left that window too small now and then).
            "path": str(sends.path), "delay": 0.5})
        admin.create_rule(channel, ["incident.created"], RECIPIENTS)
        for n in range(INCIDENTS):
            admin.create_incident(f"outage {n}")
        total = INCIDENTS * len(RECIPIENTS)

        # Kill once some sends are done and others are claimed, in flight.
        async def claimed_unfinished() -> int:
            return await Delivery.filter(status=DeliveryStatus.PENDING,
                                         claimed_until__isnull=False).count()

        deadline = time.monotonic() + 60
        while not (len(sends.all()) >= 8 and await claimed_unfinished()):
            assert time.monotonic() < deadline, "the first server never got mid-batch"
            await asyncio.sleep(0.02)
        kill(first)
        assert len(sends.all()) < total, "the server finished before it could be killed"
        stranded = await claimed_unfinished()
        assert stranded > 0, "the kill should leave claimed, unfinished deliveries"

        second = start_server(tmp_path, database, extra_env=SETTINGS)
        admin = Admin(second.url, first.admin_token)

        def all_delivered() -> bool:
            found = admin.deliveries()
            return len(found) == total and all(
                d["status"] == "DELIVERED" for d in found.values())

        wait_until(all_delivered, 60, "every delivery to complete after the restart")
        deliveries = admin.deliveries()
    finally:
        if first.process.poll() is None:
            kill(first)
        if second is not None:
            stop_server(second)

    sent = sends.all()
    keys = Counter(int(s["key"]) for s in sent)
    assert set(keys) == set(deliveries), "a delivery was lost (or one was invented)"
    assert {s["recipient"] for s in sent} == set(RECIPIENTS)
    assert len({s["pid"] for s in sent}) == 2, "both server processes sent some"
    # At-least-once: a repeat only for a send the first server made but never recorded.
    repeated = [k for k, n in keys.items() if n > 1]
    assert all(keys[k] == 2 for k in repeated) and len(repeated) <= CONCURRENCY * 2
    assert sum(1 for d in deliveries.values() if d["attempts"] >= 2) >= stranded
