"""Channel configs: validated against the plugin's pydantic `Config`, secrets sealed before
they are stored, masked whenever they are shown, opened only for the plugin's `send`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from app.errors import BadUserInput
from app.notifications import secrets
from app.notifications.models import NotificationChannel
from app.notifications.sdk import Notifier


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(["config", *(str(part) for part in loc)])


async def validate_config(notifier: Notifier, config: dict[str, Any]) -> BaseModel:
    """The plugin's Config for these values, or BAD_USER_INPUT naming the refused field."""
    if not isinstance(config, dict):
        raise BadUserInput("config must be a JSON object", field="config")
    try:
        model = notifier.Config.model_validate(config)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_path(tuple(first.get("loc", ())))
        raise BadUserInput(f"{field}: {first.get('msg', 'invalid')}", field=field) from None
    try:
        await notifier.validate_config(model)
    except ValueError as exc:
        raise BadUserInput(f"config: {exc}", field="config") from None
    return model


def seal(model: BaseModel) -> dict[str, Any]:
    """The JSON stored for a validated config: secret fields encrypted."""
    stored = model.model_dump(mode="json")
    box = secrets.box()
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            stored[name] = box.seal(value.get_secret_value())
        elif isinstance(value, SecretBytes):
            stored[name] = box.seal(value.get_secret_value().decode())
    return stored


def opened(channel: NotificationChannel) -> dict[str, Any]:
    """The stored config with its secrets decrypted (never leaves the server)."""
    box = secrets.box()
    return {k: box.open(v) if secrets.is_sealed(v) else v for k, v in channel.config.items()}


def masked(channel: NotificationChannel) -> dict[str, Any]:
    return {k: secrets.MASK if secrets.is_sealed(v) else v for k, v in channel.config.items()}


def merged(channel: NotificationChannel, changes: dict[str, Any]) -> dict[str, Any]:
    """Given keys replace those keys; a secret sent back masked keeps its stored value."""
    if not isinstance(changes, dict):
        raise BadUserInput("config must be a JSON object", field="config")
    values = opened(channel)
    for key, value in changes.items():
        if value == secrets.MASK and secrets.is_sealed(channel.config.get(key)):
            continue
        values[key] = value
    return values


def plugin_config(notifier: Notifier, channel: NotificationChannel) -> BaseModel:
    """The Config instance handed to `send`."""
    return notifier.Config.model_validate(opened(channel))
