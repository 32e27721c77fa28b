"""A notifier plugin written only against `app.notifications.sdk`, as a third party would.

It "delivers" by appending one JSON line per send to the file named in its config, so tests
(and worker processes they start) see exactly what was sent. The recipient's local part
chooses the outcome: `ok…` delivers, `retry…` asks to retry (after `retry_after` seconds when
the config gives it), `fail…` fails for good, `gone…` fails and asks to disable the channel,
`slow…` sleeps longer than any sane timeout.
"""

from __future__ import annotations

import asyncio
import json
import os

from pydantic import SecretStr

from app.notifications.sdk import (
    API_VERSION,
    DeliveryResult,
    InvalidRecipient,
    Message,
    Notifier,
    NotifierConfig,
)


class RecorderConfig(NotifierConfig):
    path: str
    token: SecretStr | None = None
    delay: float = 0.0  # seconds each send takes
    retry_after: float | None = None


def record(config: RecorderConfig, message: Message, outcome: str) -> None:
    line = json.dumps({
        "key": message.idempotency_key,
        "recipient": message.recipient,
        "event_type": message.event_type,
        "subject": message.subject,
        "text": message.text,
        "thread_key": message.thread_key,
        "incident": message.incident.reference if message.incident else None,
        "token": config.token.get_secret_value() if config.token else None,
        "outcome": outcome,
        "pid": os.getpid(),
    })
    with open(config.path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


class RecorderNotifier(Notifier):
    name = "recorder"
    api_version = API_VERSION
    Config = RecorderConfig

    def validate_recipient(self, recipient: str) -> str:
        local, at, domain = recipient.strip().partition("@")
        if not at or not local or not domain:
            raise InvalidRecipient(f"{recipient!r} is not an address like name@example.org")
        return f"{local}@{domain.lower()}"

    async def send(self, message: Message, config: RecorderConfig) -> DeliveryResult:
        if config.delay:
            await asyncio.sleep(config.delay)
        who = (message.recipient or "ok").split("@")[0]
        if who.startswith("slow"):
            await asyncio.sleep(3600)
        if who.startswith("retry"):
            record(config, message, "retry")
            return DeliveryResult.retry("mailbox busy", retry_after=config.retry_after)
        if who.startswith("fail"):
            record(config, message, "failed")
            return DeliveryResult.failed("no such mailbox")
        if who.startswith("gone"):
            record(config, message, "failed")
            return DeliveryResult.failed("destination removed", disable_channel=True)
        if who.startswith("boom"):
            raise RuntimeError("the plugin crashed")
        record(config, message, "delivered")
        return DeliveryResult.delivered(provider_reference=f"rec-{message.idempotency_key}")


class BroadcastRecorderNotifier(RecorderNotifier):
    """Like a webhook: the channel names the destination, so rules list no recipients."""

    name = "recorder-broadcast"
    needs_recipients = False
