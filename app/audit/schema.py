"""GraphQL for the audit log: `auditLog` (ADMIN), newest first."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.audit import service
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.auth.schema import UserType
from app.graphql.context import Info
from app.graphql.ids import to_global_id
from app.graphql.relay import Connection, Node, connection_from_page
from app.pagination import page_size


@strawberry.type(name="AuditEntry")
class AuditEntryType(Node):
    at: datetime
    address: str | None = strawberry.field(description="The client address.")
    operation: str = strawberry.field(description='The mutation field name, e.g. "createApiToken".')
    target: str | None = strawberry.field(description="What it acted on (a reference or id).")
    outcome: str = strawberry.field(
        description='"OK", or the error code that refused the mutation (e.g. FORBIDDEN).')
    actor_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, entry: AuditEntry) -> AuditEntryType:
        return cls(
            id=strawberry.ID(to_global_id("AuditEntry", entry.id)),
            at=entry.at,
            address=entry.address,
            operation=entry.operation,
            target=entry.target,
            outcome=entry.outcome,
            actor_id=entry.actor_id,  # type: ignore[attr-defined]
        )

    @strawberry.field
    async def actor(self, info: Info) -> UserType | None:
        if self.actor_id is None:
            return None
        user = await info.context.loaders.user.load(self.actor_id)
        return UserType.from_model(user) if user else None


AuditEntryConnection = Connection[AuditEntryType]


@strawberry.type
class AuditQuery:
    @strawberry.field(description="Every mutation's record, newest first (ADMIN).")
    async def audit_log(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> AuditEntryConnection:
        info.context.require(Role.ADMIN)
        page = await service.list_entries(
            first=page_size(first, info.context.settings.max_page_size), after=after
        )
        return connection_from_page(page, [AuditEntryType.from_model(e) for e in page.items])
