"""Notification business rules: channels, rules, listing deliveries, re-queueing and test
sends. Plain async functions; every change is one transaction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from app import db
from app.errors import BadUserInput, Conflict, InvalidTransition, NotFound
from app.incidents.models import Service
from app.notifications import channels as configs
from app.notifications.messages import check_template
from app.notifications.models import (
    Delivery,
    DeliveryStatus,
    NotificationChannel,
    NotificationRule,
)
from app.notifications.outbox import PRIORITY_RANK, wake_workers
from app.notifications.registry import Registry, get_registry
from app.notifications.sdk import InvalidRecipient, Notifier
from app.pagination import Page, decode_cursor, encode_cursor

NAME_MAX = 200
EVENT_TYPE = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")


def _name(value: Any) -> str:
    text = str(value or "").strip()
    if not text:
        raise BadUserInput("name must not be empty", field="name")
    if len(text) > NAME_MAX:
        raise BadUserInput(f"name must be at most {NAME_MAX} characters", field="name")
    return text


# ------------------------------------------------------------------ channels


async def list_channels() -> list[NotificationChannel]:
    return await NotificationChannel.all().order_by("name")


async def _channel(channel_id: int, field: str = "id") -> NotificationChannel:
    channel = await NotificationChannel.get_or_none(id=channel_id)
    if channel is None:
        raise NotFound("no notification channel with this id", field=field)
    return channel


async def create_channel(
    *, name: str, plugin: str, config: dict[str, Any], now: datetime,
    registry: Registry | None = None,
) -> NotificationChannel:
    name = _name(name)
    notifier = (registry or get_registry()).require(plugin)
    model = await configs.validate_config(notifier, config)
    async with db.atomic():
        if await NotificationChannel.filter(name=name).exists():
            raise Conflict(f"a channel named {name!r} already exists", field="name")
        try:
            return await NotificationChannel.create(
                name=name, plugin=plugin, config=configs.seal(model), enabled=True,
                created_at=now, updated_at=now,
            )
        except IntegrityError as exc:
            raise Conflict(f"a channel named {name!r} already exists", field="name") from exc


async def update_channel(
    channel_id: int, changes: dict[str, Any], *, now: datetime, registry: Registry | None = None
) -> NotificationChannel:
    for key in ("name", "config", "enabled"):
        if key in changes and changes[key] is None:
            raise BadUserInput(f"{key} cannot be null", field=key)
    async with db.atomic():
        channel = await NotificationChannel.filter(id=channel_id).select_for_update().first()
        if channel is None:
            raise NotFound("no notification channel with this id", field="id")
        if "name" in changes:
            name = _name(changes["name"])
            if await NotificationChannel.filter(name=name).exclude(id=channel.id).exists():
                raise Conflict(f"a channel named {name!r} already exists", field="name")
            channel.name = name
        if "config" in changes:
            notifier = (registry or get_registry()).require(channel.plugin, field="config")
            model = await configs.validate_config(
                notifier, configs.merged(channel, changes["config"])
            )
            channel.config = configs.seal(model)
        if "enabled" in changes:
            channel.enabled = bool(changes["enabled"])
            channel.disabled_reason = None if channel.enabled else "disabled by a user"
        channel.updated_at = now
        await channel.save()
        return channel


async def delete_channel(channel_id: int) -> int:
    """Deletes the channel with its rules and deliveries."""
    async with db.atomic():
        channel = await _channel(channel_id)
        await channel.delete()
    return channel_id


# ------------------------------------------------------------------ rules


@dataclass
class RuleInput:
    name: str | None = None
    channel_id: int | None = None
    event_types: list[str] | None = None
    min_priority: str | None = None
    service_ids: list[int] | None = None
    recipients: list[str] | None = None
    enabled: bool | None = None
    subject_template: str | None = None
    body_template: str | None = None


def _event_types(values: Sequence[str]) -> list[str]:
    cleaned = list(dict.fromkeys(str(v).strip() for v in values))
    if not cleaned:
        raise BadUserInput("eventTypes must name at least one event type", field="eventTypes")
    for value in cleaned:
        if not EVENT_TYPE.match(value) or len(value) > 64:
            raise BadUserInput(f"{value!r} is not an event type like 'incident.created'",
                               field="eventTypes")
    return cleaned


def _min_priority(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value)
    if value not in PRIORITY_RANK:
        raise BadUserInput("minPriority must be one of P1..P5", field="minPriority")
    return value


async def _service_ids(ids: Sequence[int]) -> list[int]:
    wanted = list(dict.fromkeys(ids))
    found = set(await Service.filter(id__in=wanted).values_list("id", flat=True))
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound("serviceIds names a service that does not exist", field="serviceIds")
    return wanted


def _recipients(notifier: Notifier, values: Sequence[str]) -> list[str]:
    cleaned: list[str] = []
    for index, value in enumerate(values):
        try:
            canonical = notifier.validate_recipient(str(value))
        except InvalidRecipient as exc:
            raise BadUserInput(f"recipients[{index}]: {exc}", field="recipients") from None
        if len(canonical) > 500:
            raise BadUserInput(f"recipients[{index}] is too long", field="recipients")
        if canonical not in cleaned:
            cleaned.append(canonical)
    if not cleaned and notifier.needs_recipients:
        raise BadUserInput(
            "this channel's plugin needs at least one recipient", field="recipients"
        )
    return cleaned


async def list_rules() -> list[NotificationRule]:
    return await NotificationRule.all().order_by("name").prefetch_related("channel")


async def create_rule(
    data: RuleInput, *, now: datetime, registry: Registry | None = None
) -> NotificationRule:
    name = _name(data.name)
    if data.channel_id is None:
        raise BadUserInput("channelId is required", field="channelId")
    event_types = _event_types(data.event_types or [])
    min_priority = _min_priority(data.min_priority)
    subject = check_template(data.subject_template, "subjectTemplate")
    body = check_template(data.body_template, "bodyTemplate")
    async with db.atomic():
        channel = await _channel(data.channel_id, "channelId")
        notifier = (registry or get_registry()).require(channel.plugin, field="channelId")
        recipients = _recipients(notifier, data.recipients or [])
        service_ids = await _service_ids(data.service_ids or [])
        if await NotificationRule.filter(name=name).exists():
            raise Conflict(f"a rule named {name!r} already exists", field="name")
        rule = await NotificationRule.create(
            name=name, channel_id=channel.id, event_types=event_types,
            min_priority=min_priority, service_ids=service_ids, recipients=recipients,
            enabled=True if data.enabled is None else data.enabled,
            subject_template=subject, body_template=body, created_at=now, updated_at=now,
        )
        rule.channel = channel
        return rule


async def update_rule(
    rule_id: int, changes: dict[str, Any], *, now: datetime, registry: Registry | None = None
) -> NotificationRule:
    for key, field in (("name", "name"), ("event_types", "eventTypes"),
                       ("recipients", "recipients"), ("enabled", "enabled")):
        if key in changes and changes[key] is None:
            raise BadUserInput(f"{field} cannot be null", field=field)
    async with db.atomic():
        rule = await NotificationRule.filter(id=rule_id).select_for_update().first()
        if rule is None:
            raise NotFound("no notification rule with this id", field="id")
        channel = await _channel(rule.channel_id, "id")
        if "name" in changes:
            name = _name(changes["name"])
            if await NotificationRule.filter(name=name).exclude(id=rule.id).exists():
                raise Conflict(f"a rule named {name!r} already exists", field="name")
            rule.name = name
        if "event_types" in changes:
            rule.event_types = _event_types(changes["event_types"])
        if "min_priority" in changes:
            rule.min_priority = _min_priority(changes["min_priority"])
        if "service_ids" in changes:
            rule.service_ids = await _service_ids(changes["service_ids"] or [])
        if "recipients" in changes:
            notifier = (registry or get_registry()).require(channel.plugin, field="recipients")
            rule.recipients = _recipients(notifier, changes["recipients"])
        if "enabled" in changes:
            rule.enabled = bool(changes["enabled"])
        if "subject_template" in changes:
            rule.subject_template = check_template(changes["subject_template"],
                                                   "subjectTemplate")
        if "body_template" in changes:
            rule.body_template = check_template(changes["body_template"], "bodyTemplate")
        rule.updated_at = now
        await rule.save()
        rule.channel = channel
        return rule


async def delete_rule(rule_id: int) -> int:
    async with db.atomic():
        rule = await NotificationRule.get_or_none(id=rule_id)
        if rule is None:
            raise NotFound("no notification rule with this id", field="id")
        await rule.delete()
    return rule_id


async def services_by_id(ids: Sequence[int]) -> dict[int, Service]:
    return {s.id: s for s in await Service.filter(id__in=list(set(ids)))}


# ------------------------------------------------------------------ deliveries


@dataclass
class DeliveryFilter:
    status: list[str] | None = None
    channel_id: int | None = None


async def list_deliveries(
    flt: DeliveryFilter | None, *, first: int, after: str | None
) -> Page[Delivery]:
    """Newest first; keyset pagination on the id."""
    query = Delivery.all()
    if flt is not None and flt.status:
        query = query.filter(status__in=[DeliveryStatus(s) for s in flt.status])
    if flt is not None and flt.channel_id is not None:
        query = query.filter(channel_id=flt.channel_id)
    total = await query.count()
    if after:
        (last_id,) = decode_cursor(after, 1)
        if not isinstance(last_id, int):
            raise BadUserInput("after is not a valid cursor", field="after")
        query = query.filter(id__lt=last_id)
    rows = await query.order_by("-id").limit(first + 1).prefetch_related("channel", "event")
    items = rows[:first]
    return Page(items=items, cursors=[encode_cursor([d.id]) for d in items],
                has_next=len(rows) > first, has_previous=bool(after), total=total)


async def get_delivery(delivery_id: int) -> Delivery:
    delivery = await Delivery.get_or_none(id=delivery_id).prefetch_related("channel", "event")
    if delivery is None:
        raise NotFound("no delivery with this id", field="id")
    return delivery


async def retry_delivery(delivery_id: int, *, now: datetime) -> Delivery:
    """Re-queue a DEAD delivery (its schedule starts again) or bring a RETRYING one forward."""
    async with db.atomic() as tx:
        delivery = await Delivery.filter(id=delivery_id).select_for_update().first()
        if delivery is None:
            raise NotFound("no delivery with this id", field="id")
        if delivery.status == DeliveryStatus.DEAD:
            delivery.attempts = 0
        elif delivery.status != DeliveryStatus.RETRYING:
            raise InvalidTransition(
                f"a {delivery.status} delivery cannot be retried; only DEAD or RETRYING",
                field="id",
            )
        delivery.status = DeliveryStatus.PENDING if delivery.attempts == 0 else delivery.status
        delivery.next_attempt_at = now
        delivery.claimed_until = None
        delivery.claim_token = None
        await delivery.save()
        tx.after_commit(wake_workers)
    return await get_delivery(delivery_id)


async def test_channel(
    channel_id: int, recipient: str | None, *, now: datetime, registry: Registry | None = None
) -> Delivery:
    """Queue a test message through the channel (even a disabled one: that is how you check
    it before enabling it)."""
    async with db.atomic() as tx:
        channel = await _channel(channel_id)
        notifier = (registry or get_registry()).require(channel.plugin, field="id")
        if recipient is not None and recipient.strip():
            (recipient,) = _recipients(notifier, [recipient.strip()])
        elif notifier.needs_recipients:
            raise BadUserInput("this channel's plugin needs a recipient", field="recipient")
        else:
            recipient = ""
        delivery = await Delivery.create(
            channel_id=channel.id, event_type="test", recipient=recipient,
            status=DeliveryStatus.PENDING, next_attempt_at=now, created_at=now,
        )
        tx.after_commit(wake_workers)
    return await get_delivery(delivery.id)
