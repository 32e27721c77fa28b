"""The notifier plugin SDK: the only module a plugin imports.

A plugin is a class registered under the entry-point group `tocsin.notifiers`:

    [project.entry-points."tocsin.notifiers"]
    pager = "tocsin_pager:PagerNotifier"

It subclasses `Notifier`, names itself, declares the SDK version it was written for, gives a
pydantic `Config` (secrets as `SecretStr`), checks recipients, and delivers a `Message` the
host has already rendered. It never touches the database: the host decides what to send,
when to retry, and records the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

API_VERSION = 1


class NotifierConfig(BaseModel):
    """Base for plugin configs: unknown keys are refused so typos surface at creation."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class IncidentSummary:
    reference: str
    title: str
    status: str
    priority: str
    service: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Message:
    """What the host asks a plugin to deliver to one recipient."""

    idempotency_key: str  # the delivery id: the same on every retry of this delivery
    event_type: str  # "incident.created", "sla.breached", "test", ...
    subject: str
    text: str
    html: str | None = None
    recipient: str | None = None  # None where the channel names its destination (webhook)
    thread_key: str | None = None  # stable per incident/problem: lets mail thread replies
    occurred_at: datetime | None = None
    incident: IncidentSummary | None = None
    data: dict[str, Any] = field(default_factory=dict)  # the event, as JSON-ready data


@dataclass(frozen=True)
class DeliveryResult:
    """Build with `delivered`, `retry` or `failed`."""

    outcome: str  # "delivered" | "retry" | "failed"
    provider_reference: str | None = None
    retry_after: float | None = None  # seconds, when the provider said when to come back
    error: str | None = None
    disable_channel: bool = False  # the destination is gone for good (e.g. webhook 410)

    @classmethod
    def delivered(cls, provider_reference: str | None = None) -> DeliveryResult:
        return cls("delivered", provider_reference=provider_reference)

    @classmethod
    def retry(cls, error: str, retry_after: float | None = None) -> DeliveryResult:
        return cls("retry", retry_after=retry_after, error=error)

    @classmethod
    def failed(cls, error: str, *, disable_channel: bool = False) -> DeliveryResult:
        return cls("failed", error=error, disable_channel=disable_channel)


class InvalidRecipient(ValueError):
    """Raised by `validate_recipient` with a message saying what is wrong."""


class Notifier:
    """Base class of every notifier plugin."""

    name: ClassVar[str]
    api_version: ClassVar[int] = API_VERSION
    Config: ClassVar[type[NotifierConfig]] = NotifierConfig
    # False where the channel itself names the destination (a webhook URL): rules may then
    # list no recipients.
    needs_recipients: ClassVar[bool] = True

    def validate_recipient(self, recipient: str) -> str:
        """Return the recipient in canonical form, or raise InvalidRecipient."""
        return recipient

    async def validate_config(self, config: Any) -> None:
        """Extra checks beyond the pydantic model (e.g. an address that may not be reached).
        Raise ValueError with a message naming the field."""

    async def send(self, message: Message, config: Any) -> DeliveryResult:
        raise NotImplementedError
