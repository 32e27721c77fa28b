"""GraphQL for services and incidents: types, the `incidents` list, and the lifecycle
mutations. Resolvers decode arguments, check the role, and call one service function."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.auth.models import Role, User
from app.auth.schema import UserType
from app.events.schema import EventConnection, EventType, event_connection, parse_sequence
from app.graphql.context import Info
from app.graphql.ids import decode_id, decode_optional_id, to_global_id
from app.graphql.loaders import now_or_later
from app.graphql.relay import Connection, Node, connection_from_page, selected_node_fields
from app.incidents import queries, service
from app.incidents.models import (
    Impact,
    Incident,
    IncidentStatus,
    Priority,
    Service,
    ServiceStatus,
    Urgency,
)
from app.pagination import page_size

if TYPE_CHECKING:
    from app.problems.schema import ProblemType
    from app.slas.schema import SlaPolicyType, SlaTimerType

ImpactEnum = strawberry.enum(Impact, name="Impact")
UrgencyEnum = strawberry.enum(Urgency, name="Urgency")
PriorityEnum = strawberry.enum(Priority, name="Priority")
IncidentStatusEnum = strawberry.enum(IncidentStatus, name="IncidentStatus")
ServiceStatusEnum = strawberry.enum(ServiceStatus, name="ServiceStatus")
IncidentOrderEnum = strawberry.enum(queries.IncidentOrder, name="IncidentOrder")


@strawberry.type(name="Service")
class ServiceType(Node):
    name: str
    description: str | None
    public: bool = strawberry.field(description="Shown on the status page.")
    pk: strawberry.Private[int]
    sla_policy_id: strawberry.Private[int | None] = None

    @classmethod
    def from_model(cls, service: Service) -> ServiceType:
        return cls(
            id=strawberry.ID(to_global_id("Service", service.id)),
            name=service.name,
            description=service.description,
            public=service.public,
            pk=service.id,
            sla_policy_id=service.sla_policy_id,
        )

    @strawberry.field(description="Derived from the priorities of all its open incidents.")
    async def status(self, info: Info) -> ServiceStatusEnum:  # type: ignore[valid-type]
        return await info.context.loaders.service_status.load(self.pk)

    @strawberry.field
    async def sla_policy(
        self, info: Info
    ) -> Annotated[SlaPolicyType, strawberry.lazy("app.slas.schema")] | None:
        from app.slas.schema import service_policy

        return await service_policy(info, self.sla_policy_id)


def _service_type(found: Service | None) -> ServiceType | None:
    return ServiceType.from_model(found) if found else None


def _user_type(found: User | None) -> UserType | None:
    return UserType.from_model(found) if found else None


async def prime_page(info: Info, items: list[Incident]) -> None:
    """Load what the page's incidents are asked for (service, assignee, SLA timers) in one
    batch each, before their fields resolve, so those resolve at once."""
    wanted = selected_node_fields(info)
    loaders = info.context.loaders
    loads: list[Awaitable[Any]] = []
    if "service" in wanted:
        loads.append(loaders.service.load_many(
            sorted({i.service_id for i in items if i.service_id is not None})))
    if "assignee" in wanted:
        loads.append(loaders.user.load_many(
            sorted({i.assignee_id for i in items if i.assignee_id is not None})))
    if "slaTimers" in wanted:
        loads.append(loaders.sla_timers.load_many([i.id for i in items]))
    await asyncio.gather(*loads)


async def load_service(info: Info, service_id: int | None) -> ServiceType | None:
    """The service with this id through the request's loader (None for none)."""
    if service_id is None:
        return None
    found = await info.context.loaders.service.load(service_id)
    return ServiceType.from_model(found) if found else None


@strawberry.type(name="Incident")
class IncidentType(Node):
    number: int
    reference: str = strawberry.field(description='e.g. "INC-42"')
    title: str
    description: str | None
    status: IncidentStatusEnum  # type: ignore[valid-type]
    impact: ImpactEnum  # type: ignore[valid-type]
    urgency: UrgencyEnum  # type: ignore[valid-type]
    priority: PriorityEnum  # type: ignore[valid-type]
    resolution: str | None
    public: bool = strawberry.field(description="Listed on the status page.")
    public_title: str | None = strawberry.field(description="Title shown publicly.")
    started_at: datetime = strawberry.field(description="When impact began.")
    created_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    pk: strawberry.Private[int]
    service_id: strawberry.Private[int | None]
    assignee_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, incident: Incident) -> IncidentType:
        return cls(
            id=strawberry.ID(to_global_id("Incident", incident.id)),
            number=incident.number,
            reference=incident.reference,
            title=incident.title,
            description=incident.description,
            status=IncidentStatus(incident.status),
            impact=Impact(incident.impact),
            urgency=Urgency(incident.urgency),
            priority=Priority(incident.priority),
            resolution=incident.resolution,
            public=incident.public,
            public_title=incident.public_title or incident.title,
            started_at=incident.started_at,
            created_at=incident.created_at,
            acknowledged_at=incident.acknowledged_at,
            resolved_at=incident.resolved_at,
            closed_at=incident.closed_at,
            pk=incident.id,
            service_id=incident.service_id,
            assignee_id=incident.assignee_id,
        )

    # Sync resolvers answering at once from loaders a list read primed (else awaitables).
    @strawberry.field(graphql_type=ServiceType | None)
    def service(self, info: Info) -> Any:
        if self.service_id is None:
            return None
        return now_or_later(info.context.loaders.service, self.service_id, _service_type)

    @strawberry.field(graphql_type=UserType | None)
    def assignee(self, info: Info) -> Any:
        if self.assignee_id is None:
            return None
        return now_or_later(info.context.loaders.user, self.assignee_id, _user_type)

    @strawberry.field(
        graphql_type=list[Annotated["SlaTimerType", strawberry.lazy("app.slas.schema")]])
    def sla_timers(self, info: Info) -> Any:
        from app.slas.schema import timer_types

        now = info.context.now()
        return now_or_later(info.context.loaders.sla_timers, self.pk,
                            lambda rows: timer_types(rows, now))

    @strawberry.field(description="This incident's events, oldest first.")
    async def timeline(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> EventConnection:
        size = page_size(first, info.context.settings.max_page_size)
        piece = await info.context.loaders.timeline.load((self.pk, size, parse_sequence(after)))
        return event_connection(
            piece.events, has_next=piece.has_next, has_previous=after is not None,
            total=piece.total,
        )

    @strawberry.field(description="The problem this incident is linked to.")
    async def problem(
        self, info: Info
    ) -> Annotated[ProblemType, strawberry.lazy("app.problems.schema")] | None:
        from app.problems.schema import problem_of_incident

        return await problem_of_incident(info, self.pk)

    @strawberry.field(
        description="Open problems of the incident's service that fit it, best first "
        "(shared words of the titles, then of everything the problem says; known errors "
        "first on a tie)."
    )
    async def suggested_problems(
        self, info: Info, first: int | None = 5
    ) -> list[Annotated[ProblemType, strawberry.lazy("app.problems.schema")]]:
        from app.problems.schema import problems_suggested_for

        return await problems_suggested_for(info, self.pk, first)


IncidentConnection = Connection[IncidentType]


@strawberry.input
class IncidentFilter:
    status: list[IncidentStatusEnum] | None = None  # type: ignore[valid-type]
    priority: list[PriorityEnum] | None = None  # type: ignore[valid-type]
    service_id: strawberry.ID | None = None
    assignee_id: strawberry.ID | None = None
    open: bool | None = None
    search: str | None = None


@strawberry.input
class CreateServiceInput:
    name: str
    description: str | None = None
    sla_policy_id: strawberry.ID | None = None
    public: bool | None = True


@strawberry.input
class UpdateServiceInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    sla_policy_id: strawberry.ID | None = strawberry.UNSET
    public: bool | None = strawberry.UNSET


@strawberry.input
class CreateIncidentInput:
    title: str
    impact: ImpactEnum  # type: ignore[valid-type]
    urgency: UrgencyEnum  # type: ignore[valid-type]
    description: str | None = None
    service_id: strawberry.ID | None = None
    assignee_id: strawberry.ID | None = None
    public: bool | None = False
    public_title: str | None = None
    started_at: datetime | None = None


@strawberry.input
class UpdateIncidentInput:
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    impact: ImpactEnum | None = strawberry.UNSET  # type: ignore[valid-type]
    urgency: UrgencyEnum | None = strawberry.UNSET  # type: ignore[valid-type]
    assignee_id: strawberry.ID | None = strawberry.UNSET
    service_id: strawberry.ID | None = strawberry.UNSET
    public: bool | None = strawberry.UNSET
    public_title: str | None = strawberry.UNSET


def given(data: object, *names: str) -> dict[str, Any]:
    """The fields the client sent (explicit nulls included), as a plain dict."""
    return {n: getattr(data, n) for n in names if getattr(data, n) is not strawberry.UNSET}


@strawberry.type
class IncidentQuery:
    @strawberry.field
    async def services(self, info: Info) -> list[ServiceType]:
        info.context.require(Role.VIEWER)
        return [ServiceType.from_model(s) for s in await Service.all().order_by("name")]

    @strawberry.field
    async def incidents(
        self,
        info: Info,
        filter: IncidentFilter | None = None,
        order_by: IncidentOrderEnum | None = queries.IncidentOrder.CREATED_AT_DESC,  # type: ignore[valid-type,assignment]
        first: int | None = None,
        after: str | None = None,
    ) -> IncidentConnection:
        info.context.require(Role.VIEWER)
        flt = None
        if filter is not None:
            flt = queries.IncidentFilter(
                status=filter.status,
                priority=filter.priority,
                service_id=decode_optional_id(filter.service_id, "Service", "filter.serviceId"),
                assignee_id=decode_optional_id(filter.assignee_id, "User", "filter.assigneeId"),
                open=filter.open,
                search=filter.search,
            )
        page = await queries.list_incidents(
            flt,
            order_by or queries.IncidentOrder.CREATED_AT_DESC,
            first=page_size(first, info.context.settings.max_page_size),
            after=after,
        )
        await prime_page(info, page.items)
        return connection_from_page(page, [IncidentType.from_model(i) for i in page.items])

    @strawberry.field(description="Null when there is none.")
    async def incident(self, info: Info, reference: str) -> IncidentType | None:
        info.context.require(Role.VIEWER)
        found = await queries.get_by_reference(reference)
        return IncidentType.from_model(found) if found else None


@strawberry.type
class IncidentMutation:
    @strawberry.mutation
    async def create_service(self, info: Info, input: CreateServiceInput) -> ServiceType:
        actor = info.context.require(Role.MANAGER)
        created = await service.create_service(
            name=input.name,
            description=input.description,
            public=True if input.public is None else input.public,
            actor=actor,
            now=info.context.now(),
            sla_policy_id=decode_optional_id(input.sla_policy_id, "SlaPolicy", "slaPolicyId"),
        )
        return ServiceType.from_model(created)

    @strawberry.mutation
    async def update_service(
        self, info: Info, id: strawberry.ID, input: UpdateServiceInput
    ) -> ServiceType:
        actor = info.context.require(Role.MANAGER)
        changes = given(input, "name", "description", "public")
        if input.sla_policy_id is not strawberry.UNSET:
            changes["sla_policy_id"] = decode_optional_id(
                input.sla_policy_id, "SlaPolicy", "slaPolicyId")
        updated = await service.update_service(
            decode_id(id, "Service"),
            changes,
            actor=actor,
            now=info.context.now(),
        )
        return ServiceType.from_model(updated)

    @strawberry.mutation
    async def create_incident(self, info: Info, input: CreateIncidentInput) -> IncidentType:
        actor = info.context.require(Role.RESPONDER)
        data = service.NewIncident(
            title=input.title,
            impact=input.impact,
            urgency=input.urgency,
            description=input.description,
            service_id=decode_optional_id(input.service_id, "Service", "serviceId"),
            assignee_id=decode_optional_id(input.assignee_id, "User", "assigneeId"),
            public=bool(input.public),
            public_title=input.public_title,
            started_at=input.started_at,
        )
        created = await service.create_incident(data, actor=actor, now=info.context.now())
        return IncidentType.from_model(created)

    @strawberry.mutation
    async def update_incident(
        self, info: Info, id: strawberry.ID, input: UpdateIncidentInput
    ) -> IncidentType:
        actor = info.context.require(Role.RESPONDER)
        changes = given(
            input, "title", "description", "impact", "urgency", "public", "public_title"
        )
        if input.service_id is not strawberry.UNSET:
            changes["service_id"] = decode_optional_id(input.service_id, "Service", "serviceId")
        if input.assignee_id is not strawberry.UNSET:
            changes["assignee_id"] = decode_optional_id(input.assignee_id, "User", "assigneeId")
        updated = await service.update_incident(
            decode_id(id, "Incident"), changes, actor=actor, now=info.context.now()
        )
        return IncidentType.from_model(updated)

    @strawberry.mutation
    async def acknowledge_incident(
        self, info: Info, id: strawberry.ID, note: str | None = None
    ) -> IncidentType:
        actor = info.context.require(Role.RESPONDER)
        return IncidentType.from_model(
            await service.acknowledge(
                decode_id(id, "Incident"), actor=actor, now=info.context.now(), note=note
            )
        )

    @strawberry.mutation
    async def change_incident_status(
        self,
        info: Info,
        id: strawberry.ID,
        status: IncidentStatusEnum,  # type: ignore[valid-type]
        note: str | None = None,
    ) -> IncidentType:
        actor = info.context.require(Role.RESPONDER)
        return IncidentType.from_model(
            await service.change_status(
                decode_id(id, "Incident"), status, actor=actor, now=info.context.now(), note=note
            )
        )

    @strawberry.mutation
    async def resolve_incident(
        self, info: Info, id: strawberry.ID, resolution: str
    ) -> IncidentType:
        actor = info.context.require(Role.RESPONDER)
        return IncidentType.from_model(
            await service.resolve(
                decode_id(id, "Incident"), resolution, actor=actor, now=info.context.now()
            )
        )

    @strawberry.mutation
    async def close_incident(self, info: Info, id: strawberry.ID) -> IncidentType:
        actor = info.context.require(Role.RESPONDER)
        return IncidentType.from_model(
            await service.close(decode_id(id, "Incident"), actor=actor, now=info.context.now())
        )

    @strawberry.mutation
    async def reopen_incident(
        self, info: Info, id: strawberry.ID, note: str | None = None
    ) -> IncidentType:
        actor = info.context.require(Role.RESPONDER)
        return IncidentType.from_model(
            await service.reopen(
                decode_id(id, "Incident"), actor=actor, now=info.context.now(), note=note
            )
        )

    @strawberry.mutation
    async def add_incident_note(
        self, info: Info, id: strawberry.ID, note: str, public: bool | None = False
    ) -> EventType:
        actor = info.context.require(Role.RESPONDER)
        event = await service.add_note(
            decode_id(id, "Incident"), note, public=bool(public), actor=actor,
            now=info.context.now(),
        )
        return EventType.from_model(event)


