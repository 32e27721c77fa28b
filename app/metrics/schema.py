"""GraphQL for metrics: `metrics(from, to, serviceId)`, readable by every role."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.auth.models import Role
from app.errors import BadUserInput
from app.graphql.context import Info
from app.graphql.ids import decode_optional_id
from app.metrics import service


@strawberry.type(name="IncidentMetrics")
class IncidentMetricsType:
    incident_count: int = strawberry.field(description="Incidents created in range, any status.")
    open_count: int = strawberry.field(description="Of those, how many are open now.")
    mtta_seconds: float | None = strawberry.field(
        description="Mean of acknowledgedAt - createdAt, incidents created in range.")
    mttr_seconds: float | None = strawberry.field(
        description="Mean of resolvedAt - createdAt, incidents created in range.")
    sla_compliance_percent: float | None = strawberry.field(
        description="100 * MET / (MET + BREACHED) over timers ended in range.")


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
        if from_ is not None and to is not None and to < from_:
            raise BadUserInput("to must not be before from", field="to")
        found = await service.incident_metrics(
            start=from_, end=to,
            service_id=decode_optional_id(service_id, "Service", "serviceId"),
        )
        return IncidentMetricsType(
            incident_count=found.incident_count,
            open_count=found.open_count,
            mtta_seconds=found.mtta_seconds,
            mttr_seconds=found.mttr_seconds,
            sla_compliance_percent=found.sla_compliance_percent,
        )
