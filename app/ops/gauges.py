"""The scrape-time gauges Tocsin's core provides; other domains register theirs beside
their own code with `app.ops.metrics.register_gauge`."""

from __future__ import annotations

from tortoise.functions import Count

from app.incidents.models import Incident, Priority
from app.incidents.rules import OPEN_STATUSES
from app.ops.metrics import register_gauge


async def open_incidents_by_priority() -> dict[tuple[str, ...], float]:
    rows = await (
        Incident.filter(status__in=[str(s) for s in OPEN_STATUSES])
        .annotate(n=Count("id"))
        .group_by("priority")
        .values("priority", "n")
    )
    counts: dict[tuple[str, ...], float] = {(str(p),): 0.0 for p in Priority}
    for row in rows:
        counts[(str(row["priority"]),)] = float(row["n"])
    return counts


def register_core_gauges() -> None:
    register_gauge(
        "tocsin_open_incidents", "Open incidents (NEW, ACKNOWLEDGED, IN_PROGRESS, ON_HOLD).",
        open_incidents_by_priority, labels=("priority",),
    )
