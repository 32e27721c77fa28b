"""GraphQL for the event log: the Event type, its connection, and the `events` query."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from app.auth import access
from app.auth.models import Role
from app.errors import BadUserInput
from app.events import service
from app.events.models import Event
from app.graphql.context import Info
from app.graphql.ids import to_global_id
from app.graphql.relay import Connection, Edge, Node, PageInfo
from app.pagination import page_size

if TYPE_CHECKING:
    from app.auth.schema import UserType
    from app.incidents.schema import IncidentType, ServiceType
    from app.problems.schema import ProblemType


@strawberry.type(name="Event")
class EventType(Node):
    sequence: str = strawberry.field(
        description="Decimal integer, strictly increasing; pass as `after` to resume."
    )
    type: str
    occurred_at: datetime
    from_status: str | None
    to_status: str | None
    note: str | None
    public: bool
    actor_id: strawberry.Private[int | None]
    incident_id: strawberry.Private[int | None]
    problem_id: strawberry.Private[int | None]
    service_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, event: Event) -> EventType:
        return cls(
            id=strawberry.ID(to_global_id("Event", event.id)),
            sequence=str(event.id),
            type=event.type,
            occurred_at=event.occurred_at,
            from_status=event.from_status,
            to_status=event.to_status,
            note=event.note,
            public=event.public,
            actor_id=event.actor_id,
            incident_id=event.incident_id,
            problem_id=event.problem_id,
            service_id=event.service_id,
        )

    @strawberry.field
    async def actor(
        self, info: Info
    ) -> Annotated[UserType, strawberry.lazy("app.auth.schema")] | None:
        from app.auth.schema import UserType

        if self.actor_id is None:
            return None
        user = await info.context.loaders.user.load(self.actor_id)
        return UserType.from_model(user) if user else None

    @strawberry.field
    async def incident(
        self, info: Info
    ) -> Annotated[IncidentType, strawberry.lazy("app.incidents.schema")] | None:
        from app.incidents.schema import IncidentType

        if self.incident_id is None:
            return None
        incident = await info.context.loaders.incident.load(self.incident_id)
        return IncidentType.from_model(incident) if incident else None

    @strawberry.field
    async def problem(
        self, info: Info
    ) -> Annotated[ProblemType, strawberry.lazy("app.problems.schema")] | None:
        from app.problems.schema import problem_by_id

        return None if self.problem_id is None else await problem_by_id(info, self.problem_id)

    @strawberry.field(
        description="The service the event is about: the service itself for service.created "
        "and service.updated, else the service its incident or problem was on at that moment."
    )
    async def service(
        self, info: Info
    ) -> Annotated[ServiceType, strawberry.lazy("app.incidents.schema")] | None:
        from app.incidents.schema import load_service

        return await load_service(info, self.service_id)


EventConnection = Connection[EventType]


def hidden_event_types(role: Role) -> frozenset[str]:
    """The event types a reader of `role` may not see: access events are for ADMINs."""
    return frozenset() if access.visible_to(role) else access.ACCESS_EVENT_TYPES


def parse_sequence(after: str | None) -> int | None:
    if after is None or after == "":
        return None
    if not after.isdigit():
        raise BadUserInput("after must be an event sequence (a decimal integer)", field="after")
    return int(after)


def event_connection(
    events: list[Event], *, has_next: bool, has_previous: bool, total: int
) -> Connection[EventType]:
    edges = [Edge(cursor=str(e.id), node=EventType.from_model(e)) for e in events]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total=total,
    )


@strawberry.type
class EventQuery:
    @strawberry.field(
        description="The event log, oldest first (access events such as token.revoked only "
        "for ADMINs)."
    )
    async def events(
        self,
        info: Info,
        after: str | None = None,
        types: list[str] | None = None,
        first: int | None = None,
    ) -> EventConnection:
        reader = info.context.require(Role.VIEWER)
        page = await service.list_events(
            after=parse_sequence(after), types=types,
            first=page_size(first, info.context.settings.max_page_size),
            hidden_types=hidden_event_types(Role(reader.role)),
        )
        return event_connection(
            page.events, has_next=page.has_next, has_previous=after is not None, total=page.total
        )
