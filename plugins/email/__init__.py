"""Email notifier: SMTP with explicit transport security, one mail thread per incident."""

from .notifier import EmailConfig, EmailNotifier

__all__ = ["EmailConfig", "EmailNotifier"]
