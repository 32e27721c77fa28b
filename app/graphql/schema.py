"""The schema: every domain's queries and mutations merged into one, plus `node`, and the
extensions every operation runs under (error codes, limits, document caches)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.extensions import MaxTokensLimiter, ParserCache
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from app.audit.schema import AuditQuery
from app.auth.models import Role, User
from app.auth.schema import AuthMutation, AuthQuery, UserType
from app.config import Settings
from app.events.models import Event
from app.events.schema import EventQuery, EventType
from app.graphql.audit import audit_every_mutation
from app.graphql.context import Info
from app.graphql.errors import ErrorCodes
from app.graphql.executor import FastLeafExecutor
from app.graphql.ids import parse_global_id
from app.graphql.limits import CachedValidation, make_validator
from app.graphql.relay import Node
from app.incidents.models import Incident, Service
from app.incidents.schema import IncidentMutation, IncidentQuery, IncidentType, ServiceType
from app.live.schema import Subscription
from app.metrics.schema import MetricsQuery
from app.notifications.schema import NotificationMutation, NotificationQuery
from app.problems.models import Problem
from app.problems.schema import ProblemMutation, ProblemQuery, ProblemType
from app.slas.models import SlaPolicy
from app.slas.schema import SlaMutation, SlaPolicyType, SlaQuery
from app.statuspage.schema import StatusPageQuery

NodeResolver = Callable[[int], Awaitable[Any]]


async def _incident(pk: int) -> Any:
    found = await Incident.get_or_none(id=pk)
    return IncidentType.from_model(found) if found else None


async def _service(pk: int) -> Any:
    found = await Service.get_or_none(id=pk)
    return ServiceType.from_model(found) if found else None


async def _user(pk: int) -> Any:
    found = await User.get_or_none(id=pk)
    return UserType.from_model(found) if found else None


async def _event(pk: int) -> Any:
    found = await Event.get_or_none(id=pk)
    return EventType.from_model(found) if found else None


async def _sla_policy(pk: int) -> Any:
    found = await SlaPolicy.get_or_none(id=pk)
    return SlaPolicyType.from_model(found) if found else None


async def _problem(pk: int) -> Any:
    found = await Problem.get_or_none(id=pk)
    return ProblemType.from_model(found) if found else None


NODE_RESOLVERS: dict[str, NodeResolver] = {
    "Incident": _incident,
    "Service": _service,
    "User": _user,
    "Event": _event,
    "SlaPolicy": _sla_policy,
    "Problem": _problem,
}


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by its global id; null when there is none.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        info.context.require(Role.VIEWER)
        type_name, pk = parse_global_id(id)
        resolver = NODE_RESOLVERS.get(type_name)
        return await resolver(pk) if resolver else None


Query = merge_types(
    "Query",
    (
        NodeQuery, AuthQuery, IncidentQuery, EventQuery, StatusPageQuery, NotificationQuery,
        SlaQuery, MetricsQuery, ProblemQuery, AuditQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (IncidentMutation, AuthMutation, NotificationMutation, SlaMutation, ProblemMutation),
)
audit_every_mutation(Mutation)


class TocsinSchema(strawberry.Schema):
    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        """Quiet: client errors are the client's; unexpected ones are logged by ErrorCodes."""


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    hide_suggestions = not settings.field_suggestions_enabled
    # One validator per schema: the limits' rule classes are built once, so validation
    # results can be cached (see app/graphql/limits.py).
    validator = make_validator(settings)
    extensions: list[Any] = [
        lambda: ErrorCodes(hide_suggestions=hide_suggestions),
        lambda: ParserCache(maxsize=1024),
        lambda: CachedValidation(validator),
    ]
    if settings.max_tokens > 0:
        extensions.append(lambda: MaxTokensLimiter(max_token_count=settings.max_tokens))
    schema = TocsinSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[IncidentType, ServiceType, UserType, EventType, SlaPolicyType, ProblemType],
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True),
        execution_context_class=FastLeafExecutor,
    )
    schema.validator = validator  # type: ignore[attr-defined]
    return schema


