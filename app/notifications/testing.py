"""A test kit for notifier plugin authors (use it from pytest; nothing here touches a database).

    from app.notifications.testing import check_plugin, installed_plugin, sample_message

    def test_contract():
        check_plugin(PagerNotifier)                  # the class honours the SDK contract

    def test_discovered():
        assert installed_plugin("pager").loaded      # the entry point resolves to it

    async def test_send(receiver):                   # your own real peer, e.g. a local server
        config = PagerNotifier.Config(url=receiver.url, token="s3cret")
        result = await PagerNotifier().send(sample_message(recipient="ops"), config)
        assert result.outcome == "delivered"
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any

from app.notifications.registry import GROUP, PluginInfo, contract_error, load_entry_point
from app.notifications.sdk import IncidentSummary, Message, Notifier


def check_plugin(notifier_class: type[Notifier]) -> Notifier:
    """Assert the class is a plugin the host will load; returns an instance."""
    problem = contract_error(notifier_class)
    assert problem is None, f"{notifier_class.__name__}: {problem}"
    notifier = notifier_class()
    schema = notifier.Config.model_json_schema()
    assert schema.get("type") == "object", "Config's JSON Schema must describe an object"
    return notifier


def installed_plugin(name: str) -> PluginInfo:
    """Load the installed entry point `name` exactly as the host does (errors included)."""
    for entry in entry_points(group=GROUP):
        if entry.name == name:
            return load_entry_point(entry)
    raise AssertionError(f"no entry point {name!r} in group {GROUP!r}: is the package "
                         "installed (pip install -e .)?")


def sample_message(**changes: Any) -> Message:
    """A message like the host sends for a new P1 incident; override any field."""
    message = Message(
        idempotency_key="4242",
        event_type="incident.created",
        subject="[P1] INC-7 opened: Card payments fail",
        text="INC-7: Card payments fail\nStatus: NEW   Priority: P1\nService: Checkout",
        html="<pre>INC-7: Card payments fail</pre>",
        recipient="ops@example.org",
        thread_key="tocsin-incident-7",
        occurred_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        incident=IncidentSummary("INC-7", "Card payments fail", "NEW", "P1", "Checkout"),
        data={"sequence": "1", "type": "incident.created"},
    )
    return replace(message, **changes)
