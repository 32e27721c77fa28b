"""Running the delivery worker: inside `tocsin serve` (started by the app's lifespan) or alone
as `tocsin worker`. Both open the secret box first, so a PostgreSQL deployment without
TOCSIN_SECRET_KEY refuses to start rather than fail on the first send."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app import db
from app.config import Settings
from app.notifications import secrets
from app.notifications.dispatcher import Dispatcher, DispatchSettings
from app.notifications.registry import get_registry
from app.timesource import Clock, SystemClock

log = logging.getLogger(__name__)


def configure_secrets(settings: Settings) -> None:
    secrets.configure(settings.database_url, settings.secret_key)


@asynccontextmanager
async def running_worker(settings: Settings, clock: Clock) -> AsyncIterator[Dispatcher]:
    """A dispatcher running in the background for the duration of the block."""
    dispatcher = Dispatcher(
        registry=get_registry(), clock=clock, settings=DispatchSettings.from_settings(settings)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop), name="tocsin-delivery-worker")
    try:
        yield dispatcher
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=settings.delivery_send_timeout + 5)
        except TimeoutError:
            task.cancel()


async def run_worker(settings: Settings) -> None:
    """`tocsin worker`: the delivery worker and the SLA clock, until SIGTERM or SIGINT."""
    from app.slas.clock import SlaClock

    configure_secrets(settings)
    await db.init_db(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    dispatcher = Dispatcher(
        registry=get_registry(), clock=SystemClock(),
        settings=DispatchSettings.from_settings(settings),
    )
    # Events this process appends (sla.*, delivery.dead) reach the API processes' subscribers
    # through the broker, like any other change.
    from app.broker import create_broker
    from app.events import service as events

    broker = create_broker(settings.broker_url, channel=settings.broker_channel)
    await broker.start()
    events.set_publisher(broker.publish)
    sla_clock = SlaClock(SystemClock()) if settings.sla_clock else None
    if sla_clock is not None:
        sla_clock.start()
    try:
        await dispatcher.run(stop)
    finally:
        if sla_clock is not None:
            await sla_clock.stop()
        events.set_publisher(None)
        await broker.close()
        await db.close_db()
