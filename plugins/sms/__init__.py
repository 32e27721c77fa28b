"""SMS notifier: Twilio-compatible Messages API, E.164 recipients, two-segment bodies."""

from .notifier import SmsConfig, SmsNotifier

__all__ = ["SmsConfig", "SmsNotifier"]
