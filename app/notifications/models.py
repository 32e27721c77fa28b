"""Notification storage: channels (a configured plugin), rules (which events go to which
channel and recipients) and deliveries (the outbox: one row per message to send)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from app.db import optional_text
from app.events.models import Event


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    RETRYING = "RETRYING"
    DELIVERED = "DELIVERED"
    DEAD = "DEAD"


DUE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class NotificationChannel(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    plugin = fields.CharField(max_length=100)
    # The plugin's Config as JSON; SecretStr fields hold {"$encrypted": "<fernet token>"}.
    config: dict[str, Any] = fields.JSONField(default=dict)  # type: ignore[assignment]
    enabled = fields.BooleanField(default=True)
    disabled_reason = optional_text()
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "notification_channels"


class NotificationRule(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    channel: fields.ForeignKeyRelation[NotificationChannel] = fields.ForeignKeyField(
        "models.NotificationChannel", related_name="rules", on_delete=fields.CASCADE
    )
    event_types: list[str] = fields.JSONField(default=list)  # type: ignore[assignment]
    min_priority = fields.CharField(max_length=2, null=True)
    service_ids: list[int] = fields.JSONField(default=list)  # type: ignore[assignment]
    recipients: list[str] = fields.JSONField(default=list)  # type: ignore[assignment]
    enabled = fields.BooleanField(default=True)
    subject_template = optional_text()
    body_template = optional_text()
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    channel_id: int

    class Meta:
        table = "notification_rules"


class Delivery(Model):
    id = fields.BigIntField(primary_key=True)
    channel: fields.ForeignKeyRelation[NotificationChannel] = fields.ForeignKeyField(
        "models.NotificationChannel", related_name="deliveries", on_delete=fields.CASCADE
    )
    rule: fields.ForeignKeyNullableRelation[NotificationRule] = fields.ForeignKeyField(
        "models.NotificationRule", related_name="deliveries", null=True,
        on_delete=fields.SET_NULL,
    )
    event: fields.ForeignKeyNullableRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="deliveries", null=True, on_delete=fields.CASCADE
    )
    event_type = fields.CharField(max_length=64)  # "test" for testNotificationChannel
    recipient = fields.CharField(max_length=500, default="")  # "" where the channel names it
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    # The lease: a worker owns the row until then; after a crash another worker takes it.
    claimed_until = fields.DatetimeField(null=True)
    claim_token = fields.CharField(max_length=32, null=True)
    last_error = optional_text()
    provider_reference = fields.CharField(max_length=500, null=True)
    created_at = fields.DatetimeField()
    delivered_at = fields.DatetimeField(null=True)

    channel_id: int
    rule_id: int | None
    event_id: int | None

    class Meta:
        table = "deliveries"
        # (status, delivered_at): /metrics counts recent deliveries without a full scan
        indexes = (("status", "next_attempt_at"), ("channel_id", "id"),
                   ("status", "delivered_at"))
