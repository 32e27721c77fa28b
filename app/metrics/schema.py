"""GraphQL for metrics: `metrics(from, to, serviceId)`, readable by every role, with its
breakdowns by priority and by service and its `trend(interval)` series."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from app.auth.models import Role
from app.graphql.context import Info
from app.graphql.ids import decode_optional_id
from app.incidents.schema import PriorityEnum, ServiceType
from app.metrics import service
from app.metrics import trend as trends
from app.metrics.service import IncidentMetrics, PriorityFigures, ServiceFigures

IntervalEnum = strawberry.enum(trends.Interval, name="MetricsInterval",
                               description="DAY: UTC days. WEEK: weeks starting Monday, UTC.")

MTTA = "Mean of acknowledgedAt - createdAt over the acknowledged incidents."
MTTR = "Mean of resolvedAt - createdAt over the resolved incidents."
MTTD = "Mean of createdAt - startedAt (time to detect; startedAt defaults to createdAt)."
SLA = "100 * MET / (MET + BREACHED) over SLA timers ended in range."


def _figures(f: service.Figures) -> dict[str, Any]:
    """The figures every metrics type carries, as keyword arguments."""
    return {"incident_count": f.incident_count, "open_count": f.open_count,
            "mtta_seconds": f.mtta_seconds, "mttr_seconds": f.mttr_seconds,
            "mttd_seconds": f.mttd_seconds, "sla_compliance_percent": f.sla_compliance_percent}


@strawberry.type(name="PriorityMetrics")
class PriorityMetricsType:
    priority: PriorityEnum  # type: ignore[valid-type]
    incident_count: int
    open_count: int
    mtta_seconds: float | None = strawberry.field(description=MTTA)
    mttr_seconds: float | None = strawberry.field(description=MTTR)
    mttd_seconds: float | None = strawberry.field(description=MTTD)
    sla_compliance_percent: float | None = strawberry.field(description=SLA)

    @classmethod
    def from_figures(cls, f: PriorityFigures) -> PriorityMetricsType:
        return cls(priority=f.priority, **_figures(f))


@strawberry.type(name="ServiceMetrics")
class ServiceMetricsType:
    service: ServiceType | None = strawberry.field(
        description="Null for the incidents filed against no service.")
    incident_count: int
    open_count: int
    mtta_seconds: float | None = strawberry.field(description=MTTA)
    mttr_seconds: float | None = strawberry.field(description=MTTR)
    mttd_seconds: float | None = strawberry.field(description=MTTD)
    sla_compliance_percent: float | None = strawberry.field(description=SLA)

    @classmethod
    def from_figures(cls, f: ServiceFigures) -> ServiceMetricsType:
        return cls(service=ServiceType.from_model(f.service) if f.service else None,
                   **_figures(f))


@strawberry.type(name="MetricsBucket")
class MetricsBucketType:
    start: datetime = strawberry.field(description="Start of the UTC day or week (Monday).")
    incident_count: int = strawberry.field(description="Incidents created in the bucket.")
    open_count: int = strawberry.field(description="Of those, how many are open now.")
    mtta_seconds: float | None = strawberry.field(description=MTTA)
    mttr_seconds: float | None = strawberry.field(description=MTTR)
    mttd_seconds: float | None = strawberry.field(description=MTTD)


@strawberry.type(name="IncidentMetrics")
class IncidentMetricsType:
    incident_count: int = strawberry.field(description="Incidents created in range, any status.")
    open_count: int = strawberry.field(description="Of those, how many are open now.")
    mtta_seconds: float | None = strawberry.field(
        description="Mean of acknowledgedAt - createdAt, incidents created in range.")
    mttr_seconds: float | None = strawberry.field(
        description="Mean of resolvedAt - createdAt, incidents created in range.")
    mttd_seconds: float | None = strawberry.field(description=MTTD)
    sla_compliance_percent: float | None = strawberry.field(
        description="100 * MET / (MET + BREACHED) over timers ended in range.")
    by_priority: list[PriorityMetricsType] = strawberry.field(
        description="Every priority, P1 first, including those with no incident.")
    by_service: list[ServiceMetricsType] = strawberry.field(
        description="Each service with incidents created or SLA timers ended in range, most"
        " incidents first; incidents with no service form a row whose service is null.")
    scope: strawberry.Private[service.Scope]

    @strawberry.field(description="One bucket per day or week across the range, empty ones"
                      " included (at most 1000). Without `from` it starts at the first incident;"
                      " without `to` it ends now.")
    async def trend(
        self, info: Info, interval: IntervalEnum = trends.Interval.DAY  # type: ignore[valid-type]
    ) -> list[MetricsBucketType]:
        buckets = await trends.trend(self.scope, interval, now=info.context.now())
        return [MetricsBucketType(
            start=b.start, incident_count=b.incident_count, open_count=b.open_count,
            mtta_seconds=b.mtta_seconds, mttr_seconds=b.mttr_seconds,
            mttd_seconds=b.mttd_seconds) for b in buckets]

    @classmethod
    def from_figures(cls, f: IncidentMetrics) -> IncidentMetricsType:
        return cls(**_figures(f),
                   by_priority=[PriorityMetricsType.from_figures(p) for p in f.by_priority],
                   by_service=[ServiceMetricsType.from_figures(s) for s in f.by_service],
                   scope=f.scope)


@strawberry.type
class MetricsQuery:
    @strawberry.field(description="Ranges are [from, to); either end may be left open.")
    async def metrics(
        self,
        info: Info,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        service_id: strawberry.ID | None = None,
    ) -> IncidentMetricsType:
        info.context.require(Role.VIEWER)
        found = await service.incident_metrics(
            start=from_, end=to,
            service_id=decode_optional_id(service_id, "Service", "serviceId"),
        )
        return IncidentMetricsType.from_figures(found)
