"""Public GraphQL for the status page (no token needed). Its types lead to nothing internal."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.graphql.context import Info
from app.incidents.schema import IncidentStatusEnum, PriorityEnum, ServiceStatusEnum
from app.statuspage import service


@strawberry.type
class StatusPageService:
    key: str = strawberry.field(
        description="Stable for the service's life (a rename keeps it); opaque.")
    name: str
    status: ServiceStatusEnum  # type: ignore[valid-type]


@strawberry.type
class StatusPageUpdate:
    at: datetime
    message: str


@strawberry.type
class StatusPageIncident:
    reference: str
    title: str
    status: IncidentStatusEnum  # type: ignore[valid-type]
    priority: PriorityEnum  # type: ignore[valid-type]
    created_at: datetime
    updates: list[StatusPageUpdate]


@strawberry.type
class StatusPage:
    services: list[StatusPageService]
    incidents: list[StatusPageIncident]
    updated_at: datetime


def to_graphql(page: service.StatusPage) -> StatusPage:
    return StatusPage(
        services=[StatusPageService(key=s.key, name=s.name, status=s.status)
                  for s in page.services],
        incidents=[
            StatusPageIncident(
                reference=i.reference,
                title=i.title,
                status=i.status,
                priority=i.priority,
                created_at=i.created_at,
                updates=[StatusPageUpdate(at=u.at, message=u.message) for u in i.updates],
            )
            for i in page.incidents
        ],
        updated_at=page.updated_at,
    )


@strawberry.type
class StatusPageQuery:
    @strawberry.field(description="Public: no token needed.")
    async def status_page(self, info: Info) -> StatusPage:
        return to_graphql(await service.build_status_page(now=info.context.now()))
