"""The web application: `create_app()` wires settings, the clock, the database and the GraphQL
endpoint into one Starlette app (the lifespan opens and closes the database)."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from app import db
from app.auth import service as auth
from app.config import Settings, get_settings
from app.graphql.context import Context
from app.graphql.http import GraphQLHTTPEndpoint
from app.graphql.ratelimit import Monotonic, RateLimiter
from app.graphql.schema import build_schema
from app.live.runtime import LiveUpdates
from app.ops.web import Operations
from app.slas.clock import SlaClock
from app.statuspage import web as status_web
from app.timesource import Clock, SystemClock

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    clock: Clock


def create_app(
    settings: Settings | None = None, clock: Clock | None = None, *, manage_db: bool = True,
    rate_clock: Monotonic | None = None,
) -> Starlette:
    """`manage_db=False` leaves opening the database to the caller (tests do it once);
    `rate_clock` is the monotonic time the rate limiter reads (tests move it by hand)."""
    runtime = Runtime(settings=settings or get_settings(), clock=clock or SystemClock())
    schema = build_schema(runtime.settings)

    async def build_context(request: Request) -> Context:
        token = auth.bearer_token(request.headers.get("authorization"))
        user = await auth.authenticate(token, now=runtime.clock.now()) if token else None
        return Context(
            user=user,
            clock=runtime.clock,
            settings=runtime.settings,
            client_address=request.client.host if request.client else None,
        )

    limiter = RateLimiter(runtime.settings, rate_clock) if rate_clock else RateLimiter(
        runtime.settings)
    live = LiveUpdates(schema, runtime.settings, runtime.clock, limiter=limiter)
    graphql = GraphQLHTTPEndpoint(schema, build_context, graphiql=runtime.settings.graphiql_enabled,
                                  settings=runtime.settings, limiter=limiter)
    ops = Operations(runtime.settings, runtime.clock)  # /metrics, /readyz, request ids, draining

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_db:
            await db.init_db(runtime.settings.database_url)
        # `serve --no-worker` leaves the delivery worker and the SLA clock to `tocsin worker`.
        background = runtime.settings.worker and runtime.settings.sla_clock
        sla_clock = SlaClock(runtime.clock) if background else None
        if sla_clock is not None:
            sla_clock.start()
        await live.start()
        ops.live_started(live)  # the broker's readiness check, the subscriptions gauge
        # Long-lived start-up objects leave the collector's view: full collections stay short.
        gc.collect()
        gc.freeze()
        try:
            async with AsyncExitStack() as stack:
                if manage_db:
                    from app.notifications import worker

                    worker.configure_secrets(runtime.settings)
                    if runtime.settings.worker:
                        await stack.enter_async_context(
                            worker.running_worker(runtime.settings, runtime.clock)
                        )
                yield
        finally:
            if sla_clock is not None:
                await sla_clock.stop()
            await live.stop()
            await ops.stop()
            await limiter.close()  # its Redis connections, when the buckets are shared
            if manage_db:
                await db.close_db()

    app = Starlette(
        routes=[
            Route("/graphql", graphql.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            WebSocketRoute("/graphql", live.endpoint),
            Route("/healthz", healthz),
            Route("/readyz", ops.readyz),
            *status_web.routes(),
        ],
        lifespan=lifespan,
        middleware=[Middleware(
            CORSMiddleware, allow_origins=runtime.settings.allowed_origins,
            allow_methods=["GET", "POST"], allow_headers=["authorization", "content-type"],
            max_age=600,
        )],
    )
    ops.install(app, schema)
    app.state.ops = ops
    app.state.runtime = runtime
    app.state.schema = schema
    app.state.live = live
    app.state.validator = schema.validator  # type: ignore[attr-defined]
    return app
