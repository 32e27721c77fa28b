"""The per-request GraphQL context: who is asking, what time it is, the request's loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import strawberry

from app.auth.models import Role, User
from app.auth.permissions import require_role
from app.config import Settings
from app.graphql.loaders import Loaders
from app.timesource import Clock


@dataclass
class Context:
    user: User | None
    clock: Clock
    settings: Settings
    client_address: str | None = None
    loaders: Loaders = field(default_factory=Loaders)

    def now(self) -> datetime:
        return self.clock.now()

    def require(self, role: Role) -> User:
        return require_role(self.user, role)


Info = strawberry.Info[Context, None]
