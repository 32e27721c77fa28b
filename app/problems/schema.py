"""GraphQL for problems: the Problem type, the `problems` list, known-error search, problem
candidates, and the problem mutations; plus the resolvers behind `Incident.problem`,
`Incident.suggestedProblems` and `Event.problem`. VIEWER reads; MANAGER creates, updates and
resolves problems; RESPONDER and up link and unlink incidents (the responder who recognises a
known error links it while working the incident)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.auth.models import Role
from app.graphql.context import Info
from app.graphql.ids import decode_id, decode_optional_id, to_global_id
from app.graphql.relay import Connection, Node, connection_from_page
from app.incidents.schema import IncidentType, ServiceType, given, load_service
from app.pagination import page_size
from app.problems import queries, recurrence, service
from app.problems.models import Problem, ProblemStatus

ProblemStatusEnum = strawberry.enum(ProblemStatus, name="ProblemStatus")


@strawberry.type(name="Problem")
class ProblemType(Node):
    number: int
    reference: str = strawberry.field(description='e.g. "PRB-7"')
    title: str
    description: str | None
    status: ProblemStatusEnum  # type: ignore[valid-type]
    root_cause: str | None
    workaround: str | None
    resolution: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    pk: strawberry.Private[int]
    service_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, problem: Problem) -> ProblemType:
        return cls(
            id=strawberry.ID(to_global_id("Problem", problem.id)),
            number=problem.number,
            reference=problem.reference,
            title=problem.title,
            description=problem.description,
            status=ProblemStatus(problem.status),
            root_cause=problem.root_cause,
            workaround=problem.workaround,
            resolution=problem.resolution,
            created_at=problem.created_at,
            updated_at=problem.updated_at,
            resolved_at=problem.resolved_at,
            closed_at=problem.closed_at,
            pk=problem.id,
            service_id=problem.service_id,
        )

    @strawberry.field
    async def service(self, info: Info) -> ServiceType | None:
        return await load_service(info, self.service_id)

    @strawberry.field(description="The linked incidents, by number.")
    async def incidents(self, info: Info) -> list[IncidentType]:
        linked = await info.context.loaders.problem_incidents.load(self.pk)
        return [IncidentType.from_model(i) for i in linked]


ProblemConnection = Connection[ProblemType]


@strawberry.type(name="ProblemCandidate")
class ProblemCandidateType:
    title: str = strawberry.field(description="The most frequent title of the group.")
    incidents: list[IncidentType]
    service_id: strawberry.Private[int | None]

    @strawberry.field
    async def service(self, info: Info) -> ServiceType | None:
        return await load_service(info, self.service_id)


@strawberry.input
class ProblemFilter:
    status: list[ProblemStatusEnum] | None = None  # type: ignore[valid-type]
    service_id: strawberry.ID | None = None


@strawberry.input
class CreateProblemInput:
    title: str
    description: str | None = None
    service_id: strawberry.ID | None = None
    incident_ids: list[strawberry.ID] | None = None


@strawberry.input
class UpdateProblemInput:
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    root_cause: str | None = strawberry.UNSET
    workaround: str | None = strawberry.UNSET
    status: ProblemStatusEnum | None = strawberry.UNSET  # type: ignore[valid-type]


def _incident_ids(ids: list[strawberry.ID] | None, field: str) -> list[int]:
    return [decode_id(i, "Incident", field) for i in ids or []]


# ------------------------------------------------------------------ fields on other types


async def problem_of_incident(info: Info, incident_pk: int) -> ProblemType | None:
    found = await info.context.loaders.incident_problem.load(incident_pk)
    return ProblemType.from_model(found) if found else None


async def problems_suggested_for(info: Info, incident_pk: int, first: int | None
                                 ) -> list[ProblemType]:
    size = page_size(5 if first is None else first, info.context.settings.max_page_size)
    ranked = await info.context.loaders.suggested_problems.load(incident_pk)
    return [ProblemType.from_model(p) for p in ranked[:size]]


async def problem_by_id(info: Info, problem_pk: int) -> ProblemType | None:
    found = await info.context.loaders.problem.load(problem_pk)
    return ProblemType.from_model(found) if found else None


@strawberry.type
class ProblemQuery:
    @strawberry.field(description="Newest first.")
    async def problems(
        self,
        info: Info,
        filter: ProblemFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ProblemConnection:
        info.context.require(Role.VIEWER)
        flt = None
        if filter is not None:
            flt = queries.ProblemFilter(
                status=filter.status,
                service_id=decode_optional_id(filter.service_id, "Service", "filter.serviceId"),
            )
        page = await queries.list_problems(
            flt, first=page_size(first, info.context.settings.max_page_size), after=after
        )
        return connection_from_page(page, [ProblemType.from_model(p) for p in page.items])

    @strawberry.field(description="Null when there is none.")
    async def problem(self, info: Info, reference: str) -> ProblemType | None:
        info.context.require(Role.VIEWER)
        found = await queries.get_by_reference(reference)
        return ProblemType.from_model(found) if found else None

    @strawberry.field(
        description="KNOWN_ERROR problems matching every word of the text (full-text: title, "
        "description, root cause, workaround), best match first; all of them without text."
    )
    async def known_errors(self, info: Info, search: str | None = None) -> list[ProblemType]:
        info.context.require(Role.VIEWER)
        found = await queries.known_errors(search, limit=info.context.settings.max_page_size)
        return [ProblemType.from_model(p) for p in found]

    @strawberry.field(
        description="Recent incidents linked to no problem, grouped by service and similar "
        "title, in groups of at least minIncidents; biggest group first."
    )
    async def problem_candidates(
        self, info: Info, days: int | None = 30, min_incidents: int | None = 3
    ) -> list[ProblemCandidateType]:
        info.context.require(Role.VIEWER)
        found = await recurrence.problem_candidates(
            days=30 if days is None else days,
            min_incidents=3 if min_incidents is None else min_incidents,
            now=info.context.now(),
        )
        return [
            ProblemCandidateType(
                title=c.title,
                incidents=[IncidentType.from_model(i) for i in c.incidents],
                service_id=c.service_id,
            )
            for c in found
        ]


@strawberry.type
class ProblemMutation:
    @strawberry.mutation
    async def create_problem(self, info: Info, input: CreateProblemInput) -> ProblemType:
        actor = info.context.require(Role.MANAGER)
        data = service.NewProblem(
            title=input.title,
            description=input.description,
            service_id=decode_optional_id(input.service_id, "Service", "serviceId"),
            incident_ids=_incident_ids(input.incident_ids, "incidentIds"),
        )
        created = await service.create_problem(data, actor=actor, now=info.context.now())
        return ProblemType.from_model(created)

    @strawberry.mutation
    async def update_problem(
        self, info: Info, id: strawberry.ID, input: UpdateProblemInput
    ) -> ProblemType:
        actor = info.context.require(Role.MANAGER)
        updated = await service.update_problem(
            decode_id(id, "Problem"),
            given(input, "title", "description", "root_cause", "workaround", "status"),
            actor=actor,
            now=info.context.now(),
        )
        return ProblemType.from_model(updated)

    @strawberry.mutation
    async def link_incidents_to_problem(
        self, info: Info, problem_id: strawberry.ID, incident_ids: list[strawberry.ID]
    ) -> ProblemType:
        actor = info.context.require(Role.RESPONDER)
        linked = await service.link_incidents(
            decode_id(problem_id, "Problem", "problemId"),
            _incident_ids(incident_ids, "incidentIds"),
            actor=actor,
            now=info.context.now(),
        )
        return ProblemType.from_model(linked)

    @strawberry.mutation
    async def unlink_incident_from_problem(
        self, info: Info, incident_id: strawberry.ID
    ) -> IncidentType:
        actor = info.context.require(Role.RESPONDER)
        incident = await service.unlink_incident(
            decode_id(incident_id, "Incident", "incidentId"), actor=actor, now=info.context.now()
        )
        return IncidentType.from_model(incident)

    @strawberry.mutation
    async def resolve_problem(
        self,
        info: Info,
        id: strawberry.ID,
        resolution: str,
        resolve_linked_incidents: bool | None = False,
    ) -> ProblemType:
        actor = info.context.require(Role.MANAGER)
        resolved = await service.resolve_problem(
            decode_id(id, "Problem"),
            resolution,
            resolve_linked_incidents=bool(resolve_linked_incidents),
            actor=actor,
            now=info.context.now(),
        )
        return ProblemType.from_model(resolved)
