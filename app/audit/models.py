"""Audit records. They hold names and ids only, never arguments: secrets and token hashes
cannot end up here because nothing a client sent is copied in."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from app.auth.models import User


class AuditEntry(Model):
    id = fields.IntField(primary_key=True)
    at = fields.DatetimeField()
    actor: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    address = fields.CharField(max_length=64, null=True)
    operation = fields.CharField(max_length=100)
    target = fields.CharField(max_length=200, null=True)
    outcome = fields.CharField(max_length=40)  # "OK", or the error code that refused it

    class Meta:
        table = "audit_entries"
