"""How `tocsin serve` runs uvicorn: the checks before several processes start, and a graceful
shutdown.

On SIGTERM (or Ctrl-C) each API process first drains (`app.ops.lifecycle.drain`: /readyz turns
503, WebSockets are closed with 1001 "going away"), then uvicorn stops accepting connections,
lets in-flight requests finish for up to `TOCSIN_SHUTDOWN_GRACE_SECONDS`, cancels what is left,
and runs the lifespan shutdown (broker, worker, database).
"""

from __future__ import annotations

import logging
import socket

import uvicorn
from uvicorn.supervisors import multiprocess

from app.config import Settings
from app.logs import logging_config
from app.ops import lifecycle

log = logging.getLogger(__name__)

DRAINING_TIMEOUT = 5.0


def refusal(settings: Settings, workers: int) -> str | None:
    """Why these settings cannot run `workers` API processes, or None when they can."""
    if workers < 1:
        return "--workers must be at least 1"
    if workers == 1:
        return None
    if settings.uses_sqlite:
        return (f"SQLite cannot be shared by {workers} processes: set TOCSIN_DATABASE_URL to "
                "PostgreSQL or use --workers 1")
    if settings.uses_memory_broker:
        return (f"the in-process event broker (TOCSIN_BROKER_URL={settings.broker_url}) cannot "
                f"reach {workers} processes: set TOCSIN_BROKER_URL to redis://… or "
                "postgres://…, or use --workers 1")
    return None


class TocsinServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        log.info("draining: /readyz answers 503, open WebSockets are closed with 1001")
        await lifecycle.drain(DRAINING_TIMEOUT)
        await super().shutdown(sockets)


class TocsinProcess(multiprocess.Process):
    """A uvicorn worker process whose server drains like `TocsinServer`."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = TocsinServer(config=self.config)
        return self._server


def serve(settings: Settings, *, host: str, port: int, workers: int,
          app_factory: str = "app.asgi:create_app", loop: str = "auto") -> None:
    config = uvicorn.Config(
        app_factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=logging_config(settings),
        log_level=settings.log_level.lower(),
        access_log=False,  # the request middleware logs one line per request, with its id
        ws_per_message_deflate=False,
        loop=loop,  # "auto" picks uvloop: lower tail latency at saturation (bench/api.py)
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)),
    )
    if workers > 1:
        multiprocess.Process = TocsinProcess  # type: ignore[misc]  # the class it starts
        sock = config.bind_socket()
        multiprocess.Multiprocess(config, sockets=[sock]).run()
    else:
        TocsinServer(config).run()
