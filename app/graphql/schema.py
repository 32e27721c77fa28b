"""The schema: every domain's queries and mutations merged into one, plus `node`, and the
extensions every operation runs under (error codes, limits, document caches)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as alias_limit_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_limit_rule
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from app.auth.models import Role, User
from app.auth.schema import AuthMutation, AuthQuery, UserType
from app.config import Settings
from app.events.models import Event
from app.events.schema import EventQuery, EventType
from app.graphql.context import Info
from app.graphql.errors import ErrorCodes
from app.graphql.ids import parse_global_id
from app.graphql.relay import Node
from app.incidents.models import Incident, Service
from app.incidents.schema import IncidentMutation, IncidentQuery, IncidentType, ServiceType
from app.metrics.schema import MetricsQuery
from app.notifications.schema import NotificationMutation, NotificationQuery
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


NODE_RESOLVERS: dict[str, NodeResolver] = {
    "Incident": _incident,
    "Service": _service,
    "User": _user,
    "Event": _event,
    "SlaPolicy": _sla_policy,
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
        SlaQuery, MetricsQuery,
    ),
)
Mutation = merge_types(
    "Mutation", (IncidentMutation, AuthMutation, NotificationMutation, SlaMutation)
)


class TocsinSchema(strawberry.Schema):
    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        """Quiet: client errors are the client's; unexpected ones are logged by ErrorCodes."""


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    # The depth and alias limits as rule classes made once per schema: strawberry's
    # QueryDepthLimiter / MaxAliasesLimiter make new classes per request, and the rules are
    # part of ValidationCache's key, so every request was validated from scratch (~1 ms).
    rules: list[Any] = [depth_limit_rule(settings.max_query_depth, None),
                        alias_limit_rule(settings.max_aliases)]
    if not settings.introspection_enabled:
        from graphql.validation import NoSchemaIntrospectionCustomRule

        rules.append(NoSchemaIntrospectionCustomRule)
    extensions: list[Any] = [
        ErrorCodes,
        lambda: ParserCache(maxsize=1024),
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: ValidationCache(maxsize=1024),
    ]
    return TocsinSchema(
        query=Query,
        mutation=Mutation,
        types=[IncidentType, ServiceType, UserType, EventType, SlaPolicyType],
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True),
    )


