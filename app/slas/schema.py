"""GraphQL for SLAs: policies (create, update, list), the preview of due times, and the timer
type that `Incident.slaTimers` returns. Resolvers decode, check the role, call one service
function."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.auth.models import Role
from app.errors import BadUserInput
from app.graphql.context import Info
from app.graphql.ids import decode_id, to_global_id
from app.graphql.relay import Node
from app.incidents.models import Priority
from app.incidents.schema import PriorityEnum
from app.slas import policies
from app.slas import service as timers
from app.slas.calendar import BusinessCalendar
from app.slas.models import SlaKind, SlaPolicy, SlaState, SlaTimer

SlaKindEnum = strawberry.enum(SlaKind, name="SlaKind")
SlaStateEnum = strawberry.enum(SlaState, name="SlaState")


@strawberry.type(name="WorkingHours")
class WorkingHoursType:
    weekday: int = strawberry.field(description="1 = Monday … 7 = Sunday")
    start: str = strawberry.field(description='"09:00"')
    end: str = strawberry.field(description='"17:00"; "24:00" is the end of the day')


@strawberry.type(name="SlaTarget")
class SlaTargetType:
    priority: PriorityEnum  # type: ignore[valid-type]
    kind: SlaKindEnum  # type: ignore[valid-type]
    seconds: int


@strawberry.type(name="SlaPolicy")
class SlaPolicyType(Node):
    name: str
    timezone: str = strawberry.field(description="IANA name")
    working_hours: list[WorkingHoursType] = strawberry.field(description="Empty = 24x7.")
    holidays: list[str] = strawberry.field(description="ISO dates")
    warn_at_percent: int
    targets: list[SlaTargetType]

    @classmethod
    def from_model(cls, policy: SlaPolicy) -> SlaPolicyType:
        return cls(
            id=strawberry.ID(to_global_id("SlaPolicy", policy.id)),
            name=policy.name,
            timezone=policy.timezone,
            working_hours=[WorkingHoursType(weekday=int(r["weekday"]), start=r["start"],
                                            end=r["end"]) for r in policy.working_hours],
            holidays=list(policy.holidays),
            warn_at_percent=policy.warn_at_percent,
            targets=[SlaTargetType(priority=Priority(t["priority"]), kind=SlaKind(t["kind"]),
                                   seconds=int(t["seconds"])) for t in policy.targets],
        )


@strawberry.type(name="SlaTimer")
class SlaTimerType:
    kind: SlaKindEnum  # type: ignore[valid-type]
    state: SlaStateEnum  # type: ignore[valid-type]
    target_seconds: int
    due_at: datetime | None = strawberry.field(description="Null while paused.")
    elapsed_seconds: int = strawberry.field(description="Business seconds consumed.")
    remaining_seconds: int = strawberry.field(description="Negative once breached.")
    breached_at: datetime | None

    @classmethod
    def from_view(cls, v: timers.TimerView) -> SlaTimerType:
        return cls(kind=v.kind, state=v.state, target_seconds=v.target_seconds, due_at=v.due_at,
                   elapsed_seconds=v.elapsed_seconds, remaining_seconds=v.remaining_seconds,
                   breached_at=v.breached_at)


@strawberry.type(name="SlaPreviewTarget")
class SlaPreviewTargetType:
    kind: SlaKindEnum  # type: ignore[valid-type]
    seconds: int
    due_at: datetime
    warn_at: datetime


@strawberry.input
class WorkingHoursInput:
    weekday: int
    start: str
    end: str


@strawberry.input
class SlaTargetInput:
    priority: PriorityEnum  # type: ignore[valid-type]
    kind: SlaKindEnum  # type: ignore[valid-type]
    seconds: int


@strawberry.input
class CreateSlaPolicyInput:
    name: str
    timezone: str
    targets: list[SlaTargetInput]
    working_hours: list[WorkingHoursInput] | None = None
    holidays: list[str] | None = None
    warn_at_percent: int | None = None


@strawberry.input
class UpdateSlaPolicyInput:
    name: str | None = strawberry.UNSET
    timezone: str | None = strawberry.UNSET
    working_hours: list[WorkingHoursInput] | None = strawberry.UNSET
    holidays: list[str] | None = strawberry.UNSET
    warn_at_percent: int | None = strawberry.UNSET
    targets: list[SlaTargetInput] | None = strawberry.UNSET


def _hours(ranges: list[WorkingHoursInput]) -> list[policies.WorkingHours]:
    return [policies.WorkingHours(weekday=r.weekday, start=r.start, end=r.end) for r in ranges]


def _targets(targets: list[SlaTargetInput]) -> list[policies.Target]:
    return [policies.Target(priority=Priority(t.priority), kind=SlaKind(t.kind),
                            seconds=t.seconds) for t in targets]


def _create_input(data: CreateSlaPolicyInput) -> policies.PolicyInput:
    return policies.PolicyInput(
        name=data.name, timezone=data.timezone,
        working_hours=_hours(data.working_hours or []), holidays=data.holidays or [],
        warn_at_percent=75 if data.warn_at_percent is None else data.warn_at_percent,
        targets=_targets(data.targets),
    )


def _update_input(data: UpdateSlaPolicyInput) -> policies.PolicyInput:
    """Omitted = unchanged; null clears working hours and holidays and is refused elsewhere."""
    for name, field in (("name", "name"), ("timezone", "timezone"),
                        ("warn_at_percent", "warnAtPercent"), ("targets", "targets")):
        if getattr(data, name) is None:
            raise BadUserInput(f"{field} cannot be null", field=field)
    unset = strawberry.UNSET
    return policies.PolicyInput(
        name=None if data.name is unset else data.name,
        timezone=None if data.timezone is unset else data.timezone,
        working_hours=None if data.working_hours is unset else _hours(data.working_hours or []),
        holidays=None if data.holidays is unset else (data.holidays or []),
        warn_at_percent=None if data.warn_at_percent is unset else data.warn_at_percent,
        targets=None if data.targets is unset else _targets(data.targets or []),
    )


async def service_policy(info: Info, policy_id: int | None) -> SlaPolicyType | None:
    """`Service.slaPolicy`, batched through the request's loader."""
    if policy_id is None:
        return None
    found = await info.context.loaders.sla_policy.load(policy_id)
    return SlaPolicyType.from_model(found) if found else None


async def incident_timers(info: Info, incident_id: int) -> list[SlaTimerType]:
    """`Incident.slaTimers` as of the request's `now`, batched through the loader."""
    return timer_types(await info.context.loaders.sla_timers.load(incident_id),
                       info.context.now())


def timer_types(rows: list[tuple[SlaTimer, BusinessCalendar]], now: datetime
                ) -> list[SlaTimerType]:
    return [SlaTimerType.from_view(timers.view(t, cal, now)) for t, cal in rows]


@strawberry.type
class SlaQuery:
    @strawberry.field
    async def sla_policies(self, info: Info) -> list[SlaPolicyType]:
        info.context.require(Role.VIEWER)
        return [SlaPolicyType.from_model(p) for p in await policies.list_policies()]

    @strawberry.field(description="The due times a new incident would get under a policy.")
    async def sla_preview(
        self,
        info: Info,
        policy_id: strawberry.ID,
        priority: PriorityEnum,  # type: ignore[valid-type]
        start: datetime | None = None,
    ) -> list[SlaPreviewTargetType]:
        info.context.require(Role.VIEWER)
        found = await policies.preview(
            decode_id(policy_id, "SlaPolicy", "policyId"), Priority(priority),
            start or info.context.now(),
        )
        return [SlaPreviewTargetType(kind=p.kind, seconds=p.seconds, due_at=p.due_at,
                                     warn_at=p.warn_at) for p in found]


@strawberry.type
class SlaMutation:
    @strawberry.mutation
    async def create_sla_policy(self, info: Info, input: CreateSlaPolicyInput) -> SlaPolicyType:
        actor = info.context.require(Role.MANAGER)
        created = await policies.create_policy(_create_input(input), actor=actor,
                                               now=info.context.now())
        return SlaPolicyType.from_model(created)

    @strawberry.mutation
    async def update_sla_policy(
        self, info: Info, id: strawberry.ID, input: UpdateSlaPolicyInput
    ) -> SlaPolicyType:
        actor = info.context.require(Role.MANAGER)
        updated = await policies.update_policy(
            decode_id(id, "SlaPolicy"), _update_input(input), actor=actor, now=info.context.now()
        )
        return SlaPolicyType.from_model(updated)
