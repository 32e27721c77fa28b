"""Notification fixtures: a fixed secret key, the registry of installed plugins (the test
plugin distributions under tests/plugins, pip-installed by `make test`), a file the
recorder plugin writes each send to, and a dispatcher on the frozen clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.notifications import secrets, service
from app.notifications.dispatcher import Dispatcher, DispatchSettings
from app.notifications.models import NotificationChannel
from app.notifications.registry import Registry, set_registry
from app.timesource import FrozenClock

SECRET_KEY = "tocsin-tests-secret-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def secret_box() -> None:
    secrets.configure("sqlite://:memory:", SECRET_KEY)


@pytest.fixture(scope="session")
def installed_registry() -> Registry:
    registry = Registry.discover()
    recorder = registry.plugins.get("recorder")
    assert recorder is not None and recorder.loaded, (
        "the test plugin distribution tests/plugins/tocsin-test-notifier is not installed: "
        "run `make test` (it installs them)"
    )
    return registry


@pytest.fixture(autouse=True)
def registry(installed_registry: Registry) -> Iterator[Registry]:
    set_registry(installed_registry)
    yield installed_registry
    set_registry(None)


class Sends:
    """What the recorder plugin wrote: one dict per send, in order."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def all(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]


@pytest.fixture
def sends(tmp_path: Path) -> Sends:
    return Sends(tmp_path / "sends.jsonl")


def dispatch_settings(**changes: Any) -> DispatchSettings:
    base: dict[str, Any] = {"schedule": [10, 60, 600], "lease_seconds": 60,
                            "send_timeout": 2, "concurrency": 8, "batch_size": 50}
    return DispatchSettings(**{**base, **changes})


@pytest.fixture
def dispatcher(registry: Registry, clock: FrozenClock) -> Dispatcher:
    # draw() = 0.5 puts the jitter in the middle: waits are exactly the schedule's.
    return Dispatcher(registry=registry, clock=clock, settings=dispatch_settings(),
                      draw=lambda: 0.5)


@pytest.fixture
async def recorder_channel(database: str, sends: Sends, clock: FrozenClock
                           ) -> NotificationChannel:
    return await service.create_channel(
        name="ops recorder", plugin="recorder",
        config={"path": str(sends.path), "token": "s3cret-token"}, now=clock.now(),
    )
