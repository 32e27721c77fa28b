"""GraphQL for notifications: plugins, channels, rules, deliveries and their mutations.
Everything here needs MANAGER or ADMIN: channels and deliveries hold addresses and URLs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from app.auth import access
from app.auth.models import Role
from app.errors import Forbidden
from app.events.schema import EventType
from app.graphql.context import Info
from app.graphql.ids import decode_id, decode_optional_id, to_global_id
from app.graphql.relay import Connection, Node, connection_from_page
from app.incidents.schema import PriorityEnum, ServiceType, given
from app.notifications import channels as configs
from app.notifications import service
from app.notifications.models import (
    Delivery,
    DeliveryStatus,
    NotificationChannel,
    NotificationRule,
)
from app.notifications.registry import get_registry
from app.pagination import page_size

DeliveryStatusEnum = strawberry.enum(DeliveryStatus, name="DeliveryStatus")


@strawberry.type(name="NotifierPlugin")
class NotifierPluginType:
    name: str = strawberry.field(description='Entry-point name: "email", "sms", "webhook", …')
    distribution: str | None = strawberry.field(description="The pip package providing it.")
    version: str | None
    loaded: bool
    error: str | None = strawberry.field(description="Why it could not be loaded.")
    config_schema: JSON | None = strawberry.field(description="JSON Schema of its Config.")


@strawberry.type(name="NotificationChannel")
class NotificationChannelType(Node):
    name: str
    plugin: str
    config: JSON = strawberry.field(description="Secrets masked.")
    enabled: bool
    disabled_reason: str | None

    @classmethod
    def from_model(cls, channel: NotificationChannel) -> NotificationChannelType:
        return cls(
            id=strawberry.ID(to_global_id("NotificationChannel", channel.id)),
            name=channel.name, plugin=channel.plugin, config=cast(JSON, configs.masked(channel)),
            enabled=channel.enabled, disabled_reason=channel.disabled_reason,
        )


@strawberry.type(name="NotificationRule")
class NotificationRuleType(Node):
    name: str
    channel: NotificationChannelType
    event_types: list[str]
    min_priority: PriorityEnum | None  # type: ignore[valid-type]
    services: list[ServiceType] = strawberry.field(description="Empty = all services.")
    recipients: list[str]
    enabled: bool
    subject_template: str | None
    body_template: str | None

    @classmethod
    def from_model(cls, rule: NotificationRule, services: dict[int, Any]
                   ) -> NotificationRuleType:
        return cls(
            id=strawberry.ID(to_global_id("NotificationRule", rule.id)),
            name=rule.name,
            channel=NotificationChannelType.from_model(rule.channel),
            event_types=list(rule.event_types),
            min_priority=rule.min_priority,
            services=[ServiceType.from_model(services[i]) for i in rule.service_ids
                      if i in services],
            recipients=list(rule.recipients),
            enabled=rule.enabled,
            subject_template=rule.subject_template,
            body_template=rule.body_template,
        )


async def rule_types(rules: list[NotificationRule]) -> list[NotificationRuleType]:
    services = await service.services_by_id([i for r in rules for i in r.service_ids])
    return [NotificationRuleType.from_model(r, services) for r in rules]


@strawberry.type(name="Delivery")
class DeliveryType(Node):
    channel: NotificationChannelType
    recipient: str = strawberry.field(description='"" where the channel names the destination.')
    event: EventType | None
    event_type: str
    status: DeliveryStatusEnum  # type: ignore[valid-type]
    attempts: int
    last_error: str | None
    provider_reference: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def from_model(cls, delivery: Delivery) -> DeliveryType:
        return cls(
            id=strawberry.ID(to_global_id("Delivery", delivery.id)),
            channel=NotificationChannelType.from_model(delivery.channel),
            recipient=delivery.recipient,
            event=EventType.from_model(delivery.event) if delivery.event else None,
            event_type=delivery.event_type,
            status=DeliveryStatus(delivery.status),
            attempts=delivery.attempts,
            last_error=delivery.last_error,
            provider_reference=delivery.provider_reference,
            created_at=delivery.created_at,
            next_attempt_at=delivery.next_attempt_at,
            delivered_at=delivery.delivered_at,
        )


DeliveryConnection = Connection[DeliveryType]


@strawberry.input
class DeliveryFilter:
    status: list[DeliveryStatusEnum] | None = None  # type: ignore[valid-type]
    channel_id: strawberry.ID | None = None


@strawberry.input
class CreateNotificationChannelInput:
    name: str
    plugin: str
    config: JSON


@strawberry.input
class UpdateNotificationChannelInput:
    name: str | None = strawberry.UNSET
    config: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Keys given replace those keys."
    )
    enabled: bool | None = strawberry.UNSET


@strawberry.input
class CreateNotificationRuleInput:
    name: str
    channel_id: strawberry.ID
    event_types: list[str]
    recipients: list[str]
    min_priority: PriorityEnum | None = None  # type: ignore[valid-type]
    service_ids: list[strawberry.ID] | None = None
    enabled: bool | None = True
    subject_template: str | None = strawberry.field(
        default=None, description="Jinja2, sandboxed; context: event, incident, default_subject."
    )
    body_template: str | None = strawberry.field(
        default=None, description="Jinja2, sandboxed; context: event, incident, default_text."
    )


@strawberry.input
class UpdateNotificationRuleInput:
    name: str | None = strawberry.UNSET
    event_types: list[str] | None = strawberry.UNSET
    min_priority: PriorityEnum | None = strawberry.UNSET  # type: ignore[valid-type]
    service_ids: list[strawberry.ID] | None = strawberry.UNSET
    recipients: list[str] | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET
    subject_template: str | None = strawberry.UNSET
    body_template: str | None = strawberry.UNSET


def _service_ids(ids: list[strawberry.ID] | None) -> list[int]:
    return [decode_id(i, "Service", "serviceIds") for i in ids or []]


@strawberry.type
class NotificationQuery:
    @strawberry.field
    async def notifier_plugins(self, info: Info) -> list[NotifierPluginType]:
        info.context.require(Role.MANAGER)
        return [
            NotifierPluginType(name=p.name, distribution=p.distribution, version=p.version,
                               loaded=p.loaded, error=p.error,
                               config_schema=cast(JSON | None, p.config_schema))
            for p in get_registry().all()
        ]

    @strawberry.field
    async def notification_channels(self, info: Info) -> list[NotificationChannelType]:
        info.context.require(Role.MANAGER)
        return [NotificationChannelType.from_model(c) for c in await service.list_channels()]

    @strawberry.field
    async def notification_rules(self, info: Info) -> list[NotificationRuleType]:
        info.context.require(Role.MANAGER)
        return await rule_types(await service.list_rules())

    @strawberry.field(description="Newest first.")
    async def deliveries(
        self, info: Info, filter: DeliveryFilter | None = None, first: int | None = None,
        after: str | None = None,
    ) -> DeliveryConnection:
        info.context.require(Role.MANAGER)
        flt = None
        if filter is not None:
            flt = service.DeliveryFilter(
                status=[str(s) for s in filter.status] if filter.status else None,
                channel_id=decode_optional_id(filter.channel_id, "NotificationChannel",
                                              "filter.channelId"),
            )
        page = await service.list_deliveries(
            flt, first=page_size(first, info.context.settings.max_page_size), after=after
        )
        return connection_from_page(page, [DeliveryType.from_model(d) for d in page.items])


def _may_follow(role: Role | str, event_types: list[str]) -> None:
    """Access events (a token revoked, a user deactivated or re-roled) are ADMIN-only in the
    event log; a rule routing them is too, or a MANAGER could read them from deliveries."""
    hidden = sorted(set(event_types) & access.ACCESS_EVENT_TYPES)
    if hidden and not access.visible_to(Role(role)):
        raise Forbidden(f"only ADMINs may notify on {', '.join(hidden)}", field="eventTypes")


@strawberry.type
class NotificationMutation:
    @strawberry.mutation
    async def create_notification_channel(
        self, info: Info, input: CreateNotificationChannelInput
    ) -> NotificationChannelType:
        info.context.require(Role.MANAGER)
        channel = await service.create_channel(
            name=input.name, plugin=input.plugin, config=cast(dict[str, Any], input.config),
            now=info.context.now(),
        )
        return NotificationChannelType.from_model(channel)

    @strawberry.mutation
    async def update_notification_channel(
        self, info: Info, id: strawberry.ID, input: UpdateNotificationChannelInput
    ) -> NotificationChannelType:
        info.context.require(Role.MANAGER)
        channel = await service.update_channel(
            decode_id(id, "NotificationChannel"), given(input, "name", "config", "enabled"),
            now=info.context.now(),
        )
        return NotificationChannelType.from_model(channel)

    @strawberry.mutation
    async def delete_notification_channel(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        info.context.require(Role.MANAGER)
        await service.delete_channel(decode_id(id, "NotificationChannel"))
        return id

    @strawberry.mutation
    async def create_notification_rule(
        self, info: Info, input: CreateNotificationRuleInput
    ) -> NotificationRuleType:
        actor = info.context.require(Role.MANAGER)
        _may_follow(actor.role, input.event_types)
        rule = await service.create_rule(
            service.RuleInput(
                name=input.name,
                channel_id=decode_id(input.channel_id, "NotificationChannel", "channelId"),
                event_types=input.event_types,
                min_priority=str(input.min_priority) if input.min_priority else None,
                service_ids=_service_ids(input.service_ids),
                recipients=input.recipients,
                enabled=input.enabled,
                subject_template=input.subject_template,
                body_template=input.body_template,
            ),
            now=info.context.now(),
        )
        return (await rule_types([rule]))[0]

    @strawberry.mutation
    async def update_notification_rule(
        self, info: Info, id: strawberry.ID, input: UpdateNotificationRuleInput
    ) -> NotificationRuleType:
        actor = info.context.require(Role.MANAGER)
        changes = given(input, "name", "event_types", "recipients", "enabled",
                        "subject_template", "body_template")
        _may_follow(actor.role, changes.get("event_types") or [])
        if input.min_priority is not strawberry.UNSET:
            changes["min_priority"] = str(input.min_priority) if input.min_priority else None
        if input.service_ids is not strawberry.UNSET:
            changes["service_ids"] = _service_ids(input.service_ids)
        rule = await service.update_rule(
            decode_id(id, "NotificationRule"), changes, now=info.context.now()
        )
        return (await rule_types([rule]))[0]

    @strawberry.mutation
    async def delete_notification_rule(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        info.context.require(Role.MANAGER)
        await service.delete_rule(decode_id(id, "NotificationRule"))
        return id

    @strawberry.mutation(description="Queues a test message; the worker sends it.")
    async def test_notification_channel(
        self, info: Info, id: strawberry.ID, recipient: str | None = None
    ) -> DeliveryType:
        info.context.require(Role.MANAGER)
        delivery = await service.test_channel(
            decode_id(id, "NotificationChannel"), recipient, now=info.context.now()
        )
        return DeliveryType.from_model(delivery)

    @strawberry.mutation
    async def retry_delivery(self, info: Info, id: strawberry.ID) -> DeliveryType:
        info.context.require(Role.MANAGER)
        delivery = await service.retry_delivery(decode_id(id, "Delivery"), now=info.context.now())
        return DeliveryType.from_model(delivery)
