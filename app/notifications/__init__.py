"""Notifications: plugins (sdk, registry), channels and rules, the outbox and its worker.

Importing the package registers the outbox hook on the event log. Tortoise imports
`app.notifications.models` whenever the database is opened, so every process that appends
events (API, worker, CLI, tests) writes its Delivery rows in the same transaction.
"""

from app.notifications.outbox import install as _install_outbox

_install_outbox()
