"""Webhook notifier (Standard Webhooks): signed JSON POSTs to a channel's URL."""

from .notifier import WebhookConfig, WebhookNotifier

__all__ = ["WebhookConfig", "WebhookNotifier"]
