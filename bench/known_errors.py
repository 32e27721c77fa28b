"""Known-error search on SQLite: `knownErrors(search)` through the FTS5 index against the
same question asked with a LIKE scan over the four text columns, over 20,000 problems (half
of them known errors). The ratio is queries per second, FTS over LIKE."""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tortoise.expressions import Q

from app import db
from app.problems import queries
from app.problems.models import Problem, ProblemStatus

PROBLEMS = 20_000
# A vocabulary of 3,375 made-up words, so a word picks out a few dozen problems as real
# words do (a search for a word that is in most problems costs FTS its ranking of them all).
_SYLLABLES = "ka lo mi nu pe ro sa ti vu wa xe yo za be co".split()
WORDS = [a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in _SYLLABLES]
SEARCHES: list[str] = []  # filled from the generated titles


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + f" {rng.randrange(10**6)}"


async def _rate(ask: Callable[[str], Awaitable[Any]], seconds: float = 2.0) -> float:
    for search in SEARCHES:
        await ask(search)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        await ask(SEARCHES[count % len(SEARCHES)])
        count += 1
    return count / (time.perf_counter() - start)


async def _like(search: str) -> list[Problem]:
    query = Problem.filter(status=ProblemStatus.KNOWN_ERROR)
    for term in queries.search_terms(search):
        query = query.filter(Q(title__icontains=term) | Q(description__icontains=term)
                             | Q(root_cause__icontains=term) | Q(workaround__icontains=term))
    return await query.limit(100)


async def run() -> list[dict[str, Any]]:
    rng = random.Random(7)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{Path(tmp) / 'bench.db'}"
        await db.migrate(url)
        await db.init_db(url)
        try:
            async with db.atomic():
                await Problem.bulk_create([
                    Problem(number=n, title=_text(rng, 4), description=_text(rng, 20),
                            root_cause=_text(rng, 6), workaround=_text(rng, 6),
                            status=ProblemStatus.KNOWN_ERROR if n % 2 else ProblemStatus.NEW,
                            created_at=now, updated_at=now)
                    for n in range(1, PROBLEMS + 1)
                ], batch_size=1000)
            titles = await Problem.filter(status=ProblemStatus.KNOWN_ERROR).limit(4).values_list(
                "title", flat=True)
            SEARCHES[:] = [" ".join(str(t).split()[:2]) for t in titles]
            for search in SEARCHES:
                assert await queries.known_errors(search, limit=100), search
            fts = await _rate(lambda s: queries.known_errors(s, limit=100))
            like = await _rate(_like)
        finally:
            await db.close_db()
    return [{"name": f"knownErrors search, {PROBLEMS} problems, SQLite FTS5", "figure": fts,
             "baseline": like, "ratio": fts / like, "unit": "queries/s (baseline: LIKE scan)"}]
