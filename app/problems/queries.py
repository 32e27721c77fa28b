"""Reading problems: the keyset-paginated `problems` list, lookups by reference, full-text
search over known errors, and the batched lookups behind `Incident.problem` and
`Problem.incidents`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import Q

from app import db
from app.errors import BadUserInput
from app.incidents.models import Incident
from app.pagination import Page, decode_cursor, encode_cursor
from app.problems.models import Problem, ProblemIncident, ProblemStatus
from app.problems.similarity import STOP_WORDS

MAX_SEARCH_TERMS = 16
_TERM = re.compile(r"[^\W_]+")  # letters and digits: never an operator of either FTS syntax


@dataclass
class ProblemFilter:
    status: list[ProblemStatus] | None = None
    service_id: int | None = None


async def list_problems(flt: ProblemFilter | None, *, first: int, after: str | None
                        ) -> Page[Problem]:
    """Newest first (created_at, then id), keyset-paginated like incidents."""
    query = Problem.all()
    if flt is not None and flt.status:
        query = query.filter(status__in=list(flt.status))
    if flt is not None and flt.service_id is not None:
        query = query.filter(service_id=flt.service_id)
    total = await query.count()
    if after:
        raw_key, raw_id = decode_cursor(after, 2)
        try:
            key, last_id = datetime.fromisoformat(str(raw_key)), int(raw_id)
        except (TypeError, ValueError):
            raise BadUserInput("after is not a valid cursor", field="after") from None
        query = query.filter(Q(created_at__lt=key) | Q(created_at=key, id__lt=last_id))
    rows = await query.order_by("-created_at", "-id").limit(first + 1)
    items = rows[:first]
    return Page(
        items=items,
        cursors=[encode_cursor([p.created_at.isoformat(), p.id]) for p in items],
        has_next=len(rows) > first,
        has_previous=after is not None,
        total=total,
    )


async def get_by_reference(reference: str) -> Problem | None:
    text = reference.strip().upper()
    if not text.startswith("PRB-") or not text[4:].isdigit():
        return None
    return await Problem.get_or_none(number=int(text[4:]))


def search_terms(text: str | None) -> list[str]:
    """The words to look for. Stop words are dropped here, as PostgreSQL's English
    configuration would, so both databases answer "the pods" alike."""
    found = [t for t in _TERM.findall((text or "").lower()) if t not in STOP_WORDS]
    return found[:MAX_SEARCH_TERMS]


async def known_errors(search: str | None, *, limit: int) -> list[Problem]:
    """KNOWN_ERROR problems matching every word of `search` (as a prefix, stemmed), best
    match first; all of them, most recently updated first, when `search` has no words.

    Title weighs most, then root cause and workaround, then description: SQLite's bm25 with
    column weights over the FTS5 table, PostgreSQL's ts_rank over the weighted tsvector."""
    terms = search_terms(search)
    known = Problem.filter(status=ProblemStatus.KNOWN_ERROR)
    if not terms:
        return await known.order_by("-updated_at", "-id").limit(limit)
    conn = db.connection()
    status = ProblemStatus.KNOWN_ERROR.value
    if db.is_postgres():
        rows = await conn.execute_query_dict(
            "SELECT id FROM problems, to_tsquery('english', $1) AS q"
            " WHERE status = $2 AND search_document @@ q"
            " ORDER BY ts_rank(search_document, q) DESC, id LIMIT $3",
            [" & ".join(f"{t}:*" for t in terms), status, limit],
        )
    else:
        rows = await conn.execute_query_dict(
            "SELECT p.id AS id FROM problems_fts JOIN problems p ON p.id = problems_fts.rowid"
            " WHERE problems_fts MATCH ? AND p.status = ?"
            " ORDER BY bm25(problems_fts, 10.0, 2.0, 5.0, 5.0), p.id LIMIT ?",
            [" ".join(f'"{t}"*' for t in terms), status, limit],
        )
    ids = [int(row["id"]) for row in rows]
    found = {p.id: p for p in await Problem.filter(id__in=ids)}
    return [found[i] for i in ids if i in found]


async def problems_of_incidents(incident_ids: Sequence[int]) -> dict[int, Problem]:
    """The problem each incident is linked to (incidents without one are absent)."""
    links = await ProblemIncident.filter(incident_id__in=list(incident_ids)).prefetch_related(
        "problem"
    )
    return {link.incident_id: link.problem for link in links}


async def incidents_of_problems(problem_ids: Sequence[int]) -> dict[int, list[Incident]]:
    """Each problem's linked incidents, by incident number (one query)."""
    links = await ProblemIncident.filter(problem_id__in=list(problem_ids)).values_list(
        "problem_id", "incident_id"
    )
    owner = {int(incident_id): int(problem_id) for problem_id, incident_id in links}
    grouped: dict[int, list[Incident]] = {pid: [] for pid in problem_ids}
    if owner:
        for incident in await Incident.filter(id__in=list(owner)).order_by("number"):
            grouped[owner[incident.id]].append(incident)
    return grouped
