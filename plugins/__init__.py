"""Tocsin's first-party notifier plugins (email, sms, webhook), installed as the import
package `tocsin_plugins` and declared through the `tocsin.notifiers` entry points exactly as a
third-party plugin would be. Each one imports only the SDK, `app.notifications.sdk`."""
