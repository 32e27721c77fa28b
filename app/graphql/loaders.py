"""DataLoaders: one per kind of lookup, created per request, so a page of N incidents costs
the same number of queries as a page of one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from strawberry.dataloader import DataLoader

from app.auth.models import User
from app.events import service as events
from app.incidents import service as incidents
from app.incidents.models import Incident, Service, ServiceStatus
from app.problems import queries as problem_queries
from app.problems import recurrence
from app.problems.models import Problem
from app.slas import service as slas
from app.slas.calendar import BusinessCalendar
from app.slas.models import SlaPolicy, SlaTimer


async def _users(ids: Sequence[int]) -> list[User | None]:
    found = {u.id: u for u in await User.filter(id__in=list(ids))}
    return [found.get(i) for i in ids]


async def _services(ids: Sequence[int]) -> list[Service | None]:
    found = {s.id: s for s in await Service.filter(id__in=list(ids))}
    return [found.get(i) for i in ids]


async def _incidents(ids: Sequence[int]) -> list[Incident | None]:
    found = {i.id: i for i in await Incident.filter(id__in=list(ids))}
    return [found.get(i) for i in ids]


async def _service_statuses(ids: Sequence[int]) -> list[ServiceStatus]:
    statuses = await incidents.service_statuses(list(ids))
    return [statuses[i] for i in ids]


async def _sla_policies(ids: Sequence[int]) -> list[SlaPolicy | None]:
    found = {p.id: p for p in await SlaPolicy.filter(id__in=list(ids))}
    return [found.get(i) for i in ids]


async def _sla_timers(ids: Sequence[int]) -> list[list[tuple[SlaTimer, BusinessCalendar]]]:
    found = await slas.load_timers(list(ids))
    return [found[i] for i in ids]


TimelineKey = tuple[int, int, int | None]  # incident id, first, after


async def _timelines(keys: Sequence[TimelineKey]) -> list[events.TimelineSlice]:
    # Group by (first, after): one batch per distinct page request, usually exactly one.
    groups: dict[tuple[int, int | None], list[int]] = {}
    for incident_id, first, after in keys:
        groups.setdefault((first, after), []).append(incident_id)
    found: dict[TimelineKey, events.TimelineSlice] = {}
    for (first, after), ids in groups.items():
        slices = await events.timelines(ids, after=after, first=first)
        for incident_id, piece in slices.items():
            found[(incident_id, first, after)] = piece
    return [found[key] for key in keys]


async def _problems(ids: Sequence[int]) -> list[Problem | None]:
    found = {p.id: p for p in await Problem.filter(id__in=list(ids))}
    return [found.get(i) for i in ids]


async def _incident_problems(incident_ids: Sequence[int]) -> list[Problem | None]:
    found = await problem_queries.problems_of_incidents(incident_ids)
    return [found.get(i) for i in incident_ids]


async def _problem_incidents(problem_ids: Sequence[int]) -> list[list[Incident]]:
    found = await problem_queries.incidents_of_problems(problem_ids)
    return [found[i] for i in problem_ids]


async def _suggested_problems(incident_ids: Sequence[int]) -> list[list[Problem]]:
    incidents_found = await Incident.filter(id__in=list(incident_ids))
    ranked = await recurrence.suggested_problems(incidents_found)
    return [ranked.get(i, []) for i in incident_ids]


@dataclass
class Loaders:
    user: DataLoader[int, User | None] = field(default_factory=lambda: DataLoader(_users))
    service: DataLoader[int, Service | None] = field(
        default_factory=lambda: DataLoader(_services)
    )
    incident: DataLoader[int, Incident | None] = field(
        default_factory=lambda: DataLoader(_incidents)
    )
    service_status: DataLoader[int, ServiceStatus] = field(
        default_factory=lambda: DataLoader(_service_statuses)
    )
    timeline: DataLoader[TimelineKey, events.TimelineSlice] = field(
        default_factory=lambda: DataLoader(_timelines)
    )
    sla_policy: DataLoader[int, SlaPolicy | None] = field(
        default_factory=lambda: DataLoader(_sla_policies)
    )
    sla_timers: DataLoader[int, list[tuple[SlaTimer, BusinessCalendar]]] = field(
        default_factory=lambda: DataLoader(_sla_timers)
    )
    problem: DataLoader[int, Problem | None] = field(
        default_factory=lambda: DataLoader(_problems)
    )
    incident_problem: DataLoader[int, Problem | None] = field(
        default_factory=lambda: DataLoader(_incident_problems)
    )
    problem_incidents: DataLoader[int, list[Incident]] = field(
        default_factory=lambda: DataLoader(_problem_incidents)
    )
    suggested_problems: DataLoader[int, list[Problem]] = field(
        default_factory=lambda: DataLoader(_suggested_problems)
    )


K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")


def now_or_later(loader: DataLoader[K, V], key: K, convert: Callable[[V], R]
                 ) -> R | Awaitable[R]:
    """`convert(loaded value)`, at once when the loader already holds the key (a list read
    primes its loaders for the page), else as an awaitable that loads it.

    A resolver answering at once spares graphql-core a task per field: a page of 50
    incidents asking for service, assignee and timers otherwise schedules 150 of them."""
    future = loader.cache_map.get(key)
    if future is not None and future.done() and not future.cancelled() and (
            future.exception() is None):
        return convert(future.result())

    async def later() -> R:
        return convert(await loader.load(key))

    return later()
