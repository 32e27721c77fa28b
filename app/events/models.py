"""The event log: one row per thing that happened. Its id is the public `sequence`."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Event(Model):
    id = fields.BigIntField(primary_key=True)
    type = fields.CharField(max_length=64, db_index=True)
    occurred_at = fields.DatetimeField()
    actor = fields.ForeignKeyField(
        "models.User", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    incident = fields.ForeignKeyField(
        "models.Incident", related_name="events", null=True, on_delete=fields.CASCADE
    )
    # Denormalised at append time so subscription filters need no join.
    service_id = fields.IntField(null=True)
    priority = fields.CharField(max_length=2, null=True)
    from_status = fields.CharField(max_length=32, null=True)
    to_status = fields.CharField(max_length=32, null=True)
    note = fields.TextField(null=True)
    public = fields.BooleanField(default=False)
    payload = fields.JSONField(default=dict)

    actor_id: int | None
    incident_id: int | None

    class Meta:
        table = "events"
        indexes = (("incident_id", "id"),)

    @property
    def sequence(self) -> str:
        return str(self.id)
