"""The outbox: inside the transaction that appends an event, every enabled rule that matches it
writes its Delivery rows, so a notification is never lost nor invented by a crash. Workers in
this process are woken once the transaction commits."""

from __future__ import annotations

import asyncio

from app import db
from app.events.models import Event
from app.notifications.models import Delivery, DeliveryStatus, NotificationRule

PRIORITY_RANK = {"P1": 1, "P2": 2, "P3": 3, "P4": 4, "P5": 5}

_wakeups: set[asyncio.Event] = set()


def subscribe_wakeup(signal: asyncio.Event) -> None:
    _wakeups.add(signal)


def unsubscribe_wakeup(signal: asyncio.Event) -> None:
    _wakeups.discard(signal)


async def wake_workers() -> None:
    for signal in list(_wakeups):
        signal.set()


def rule_matches(
    rule: NotificationRule, event_type: str, priority: str | None, service_id: int | None
) -> bool:
    """DESIGN.md: the type is listed, the incident is at least as urgent as minPriority (a P2
    rule fires for P1 and P2), and its service is listed or the rule lists none."""
    if event_type not in rule.event_types:
        return False
    if rule.min_priority:
        if priority not in PRIORITY_RANK:
            return False
        if PRIORITY_RANK[priority] > PRIORITY_RANK[rule.min_priority]:
            return False
    return not rule.service_ids or service_id in rule.service_ids


async def _enabled_rules(tx: db.Transaction) -> list[NotificationRule]:
    # One query per transaction, however many events it appends.
    cached: list[NotificationRule] | None = tx.state.get("notification_rules")
    if cached is None:
        cached = await NotificationRule.filter(enabled=True, channel__enabled=True).using_db(
            tx.connection
        )
        tx.state["notification_rules"] = cached
    return cached


async def write_deliveries(event: Event) -> None:
    """The append hook (registered in app.notifications.__init__)."""
    tx = db.current_transaction()
    rules = await _enabled_rules(tx)
    rows: list[Delivery] = []
    for rule in rules:
        if not rule_matches(rule, event.type, event.priority, event.service_id):
            continue
        for recipient in rule.recipients or [""]:
            rows.append(Delivery(
                channel_id=rule.channel_id, rule_id=rule.id, event_id=event.id,
                event_type=event.type, recipient=recipient, status=DeliveryStatus.PENDING,
                next_attempt_at=event.occurred_at, created_at=event.occurred_at,
            ))
    if not rows:
        return
    await Delivery.bulk_create(rows, using_db=tx.connection)
    if not tx.state.get("wake_workers"):
        tx.state["wake_workers"] = True
        tx.after_commit(wake_workers)


def install() -> None:
    from app.events import service as events

    events.add_append_hook(write_deliveries)
