"""Plugins that import fine but break the contract in one way each."""

from app.notifications.sdk import DeliveryResult, Message, Notifier


class LegacyNotifier(Notifier):
    name = "legacy"
    api_version = 0  # written for an SDK that no longer exists

    async def send(self, message: Message, config: object) -> DeliveryResult:
        return DeliveryResult.delivered()


class DictConfigNotifier(Notifier):
    name = "dict-config"
    Config = dict  # type: ignore[assignment]  # not a pydantic model


class NamelessNotifier(Notifier):
    pass  # never says what it is called
