"""Finding problems in incidents: `problem_candidates` groups recent unlinked incidents that
recur on one service under similar titles; `suggested_problems` ranks the open problems of an
incident's service by how well they fit it (see app/problems/similarity.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise.expressions import Subquery

from app.errors import BadUserInput
from app.incidents.models import Incident, IncidentStatus
from app.problems import rules
from app.problems.models import Problem, ProblemIncident, ProblemStatus
from app.problems.similarity import jaccard, problem_score, words

MAX_DAYS = 3650
# Titles at least this similar (shared words / all words) belong to one candidate.
SAME_TITLE = 0.5
# The newest incidents looked at; older ones in the window are left out of the grouping.
SCAN_LIMIT = 20_000


@dataclass
class Candidate:
    service_id: int | None
    title: str
    incidents: list[Incident]


@dataclass
class _Group:
    seed: frozenset[str]
    ids: list[int] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)


async def problem_candidates(*, days: int, min_incidents: int, now: datetime
                             ) -> list[Candidate]:
    """Recent (created within `days`) incidents linked to no problem and not cancelled,
    grouped by service and similar title, in groups of at least `min_incidents`; biggest
    group first. Each incident joins the first earlier group whose founding title shares at
    least half its words (Jaccard ≥ 0.5 after normalising); titles with no word are skipped."""
    if not 1 <= days <= MAX_DAYS:
        raise BadUserInput(f"days must be between 1 and {MAX_DAYS}", field="days")
    if min_incidents < 2:
        raise BadUserInput("minIncidents must be at least 2", field="minIncidents")
    linked = Subquery(ProblemIncident.all().values("incident_id"))
    rows = await (
        Incident.filter(created_at__gte=now - timedelta(days=days))
        .exclude(status=IncidentStatus.CANCELLED)
        .exclude(id__in=linked)
        .order_by("-created_at", "-id")
        .limit(SCAN_LIMIT)
        .values_list("id", "title", "service_id")
    )
    groups: dict[int | None, list[_Group]] = {}
    for incident_id, title, service_id in reversed(rows):  # oldest first: stable seeds
        title_words = words(title)
        if not title_words:
            continue
        service_groups = groups.setdefault(service_id, [])
        home = next((g for g in service_groups if jaccard(g.seed, title_words) >= SAME_TITLE),
                    None)
        if home is None:
            home = _Group(seed=title_words)
            service_groups.append(home)
        home.ids.append(incident_id)
        home.titles.append(title)
    chosen = [(service_id, g) for service_id, gs in groups.items() for g in gs
              if len(g.ids) >= min_incidents]
    by_id = {i.id: i for i in await Incident.filter(
        id__in=[i for _, g in chosen for i in g.ids])}
    candidates = [
        Candidate(
            service_id=service_id,
            title=_typical_title(g.titles),
            incidents=sorted((by_id[i] for i in g.ids), key=lambda i: i.number),
        )
        for service_id, g in chosen
    ]
    candidates.sort(key=lambda c: (-len(c.incidents), -max(i.number for i in c.incidents)))
    return candidates


def _typical_title(titles: list[str]) -> str:
    """The earliest title among those whose words are the group's most frequent wording."""
    wording = Counter(words(t) for t in titles).most_common(1)[0][0]
    return next(t for t in titles if words(t) == wording)


async def suggested_problems(incidents: Sequence[Incident]) -> dict[int, list[Problem]]:
    """For each incident, the open problems of its service (or, for an incident without a
    service, those without one) that share at least one word with it, best fit first: by
    `problem_score`, then KNOWN_ERROR before others (it has a workaround), then newest.
    The problem an incident is already linked to is left out. Two queries in all."""
    if not incidents:
        return {}
    service_ids = {i.service_id for i in incidents}
    scope = Problem.filter(status__in=list(rules.OPEN_STATUSES))
    known = [s for s in service_ids if s is not None]
    if None in service_ids:
        open_problems = await scope.filter(service_id__in=known) if known else []
        open_problems = [*open_problems, *await scope.filter(service_id__isnull=True)]
    else:
        open_problems = await scope.filter(service_id__in=known)
    links = dict(await ProblemIncident.filter(
        incident_id__in=[i.id for i in incidents]).values_list("incident_id", "problem_id"))
    result: dict[int, list[Problem]] = {}
    for incident in incidents:
        scored = []
        for problem in open_problems:
            if problem.service_id != incident.service_id or links.get(incident.id) == problem.id:
                continue
            score = problem_score(
                incident.title, incident.description,
                (problem.title, problem.description, problem.root_cause, problem.workaround),
                problem.title,
            )
            if score > 0:
                known_error = problem.status == ProblemStatus.KNOWN_ERROR
                scored.append((-score, not known_error, -problem.number, problem))
        scored.sort(key=lambda row: row[:3])
        result[incident.id] = [row[3] for row in scored]
    return result
