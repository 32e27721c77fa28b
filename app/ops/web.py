"""What `create_app` installs for operations: the request middleware, /metrics, /readyz,
and the start/stop wiring of the seams (`app.ops.lifecycle`, `app.ops.metrics`)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app import db
from app.config import Settings
from app.ops import lifecycle
from app.ops.gauges import register_core_gauges
from app.ops.metrics import Metrics, instrument_schema, register_gauge, unregister_gauge
from app.ops.requests import OpenWebSockets, RequestMiddleware
from app.timesource import Clock

READINESS_TIMEOUT = 2.0


async def check_database() -> None:
    await db.connection().execute_query("SELECT 1")


class Operations:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = Metrics()
        self.websockets = OpenWebSockets()

    def install(self, app: Starlette, schema: Any) -> None:
        instrument_schema(schema, self.metrics)
        if self.settings.metrics:
            app.add_route("/metrics", self.metrics_endpoint, methods=["GET"])
        app.add_middleware(
            RequestMiddleware, metrics=self.metrics, websockets=self.websockets,
            routes=lambda: {path for route in app.routes if (path := getattr(route, "path", ""))},
        )
        lifecycle.add_readiness_check("database", check_database)
        lifecycle.on_draining(self.websockets.close_all)
        register_core_gauges(self.clock)

    def live_started(self, live: Any) -> None:
        """Lifespan start, once live updates run: /readyz checks the event broker, and
        /metrics reports this process's subscriptions."""
        lifecycle.add_readiness_check("broker", live.broker.ping)

        async def subscriptions() -> float:
            return float(live.fanout.subscriber_count)

        register_gauge("tocsin_subscriptions",
                       "GraphQL subscriptions open in this process (all WebSocket connections).",
                       subscriptions)

    async def stop(self) -> None:
        """Lifespan shutdown: this app's WebSockets no longer need closing on drain."""
        lifecycle.remove_draining_hook(self.websockets.close_all)
        lifecycle.remove_readiness_check("broker")
        unregister_gauge("tocsin_subscriptions")

    async def metrics_endpoint(self, request: Request) -> Response:
        body = await self.metrics.exposition(self.settings.metrics_gauge_timeout)
        return Response(body, headers={"Content-Type": self.metrics.content_type})

    async def readyz(self, request: Request) -> Response:
        """200 when every dependency answers; 503 naming what is down, or while draining."""
        results = await lifecycle.run_readiness_checks(READINESS_TIMEOUT)
        body: dict[str, Any] = {name: "up" if ok else "down" for name, ok in results.items()}
        if lifecycle.is_draining():
            return JSONResponse({"status": "draining", **body}, status_code=503)
        if not all(results.values()):
            return JSONResponse({"status": "unavailable", **body}, status_code=503)
        return JSONResponse({"status": "ok", **body})
