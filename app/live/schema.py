"""The Subscription type. Strawberry declares it (names, arguments, types, descriptions, so it
is validated and exported like everything else); the WebSocket endpoint (app.live.websocket)
serves it: it subscribes each operation to the fan-out and renders every event once per
group of identical operations, with these fields' resolvers returning the event itself."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from app.events.schema import EventType
from app.graphql.context import Info
from app.incidents.schema import IncidentType, PriorityEnum
from app.statuspage.schema import StatusPage

NOT_HERE = "subscriptions are served over WebSocket at /graphql (graphql-transport-ws)"


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every event the caller may see, filtered; `after` replays from the event "
        "log first."
    )
    async def events(
        self,
        info: Info,
        after: str | None = None,
        types: list[str] | None = None,
        service_id: strawberry.ID | None = None,
        incident_id: strawberry.ID | None = None,
        min_priority: PriorityEnum | None = None,  # type: ignore[valid-type]
    ) -> AsyncGenerator[EventType, None]:
        raise RuntimeError(NOT_HERE)
        yield  # a generator: the endpoint, not this body, produces the stream

    @strawberry.subscription(description="The incident's current state after each change to it.")
    async def incident_changed(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[IncidentType, None]:
        raise RuntimeError(NOT_HERE)
        yield

    @strawberry.subscription(
        description="Public: no token needed. A fresh snapshot after each change that alters "
        "the page."
    )
    async def status_page(self, info: Info) -> AsyncGenerator[StatusPage, None]:
        raise RuntimeError(NOT_HERE)
        yield
