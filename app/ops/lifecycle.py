"""Readiness checks and draining hooks: the seams other parts join.

Readiness: `/readyz` runs every registered check (the database; the event broker, registered
by the app lifespan once live updates run as `add_readiness_check("broker", broker.ping)`). A
check is an async function that raises (or times out) when its dependency is unreachable.

Draining: when `tocsin serve` receives SIGTERM it first marks the process as draining (so
`/readyz` answers 503 and load balancers stop sending it traffic), then runs every hook
registered with `on_draining` — closing WebSockets with 1001 "going away" is one — and only
then lets uvicorn stop accepting, wait for in-flight requests and run the lifespan shutdown.
Lifespan shutdown alone is too late for WebSockets: uvicorn has closed them with 1012 by then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[object]]
DrainingHook = Callable[[], Awaitable[None]]

_checks: dict[str, Check] = {}
_draining_hooks: list[DrainingHook] = []
_draining = False


def add_readiness_check(name: str, check: Check) -> None:
    """Make `/readyz` depend on `check` (replaces an earlier check of the same name)."""
    _checks[name] = check


def remove_readiness_check(name: str) -> None:
    _checks.pop(name, None)


def readiness_checks() -> dict[str, Check]:
    return dict(_checks)


async def run_readiness_checks(limit: float) -> dict[str, bool]:
    """Each check's outcome by name; a check that raises or outlasts `limit` seconds is down."""

    async def one(name: str, check: Check) -> bool:
        try:
            await asyncio.wait_for(check(), limit)
        except Exception as exc:  # report, don't crash: this is what the probe is for
            log.warning("readiness check %s failed: %s", name, exc or type(exc).__name__)
            return False
        return True

    names = list(_checks)
    results = await asyncio.gather(*(one(name, _checks[name]) for name in names))
    return dict(zip(names, results, strict=True))


def on_draining(hook: DrainingHook) -> None:
    """Run `hook()` when the server starts to shut down, before connections are closed."""
    if hook not in _draining_hooks:
        _draining_hooks.append(hook)


def remove_draining_hook(hook: DrainingHook) -> None:
    if hook in _draining_hooks:
        _draining_hooks.remove(hook)


def is_draining() -> bool:
    return _draining


async def drain(limit: float) -> None:
    """Mark the process draining and run every draining hook (together, within `limit` seconds)."""
    global _draining
    _draining = True

    async def one(hook: DrainingHook) -> None:
        try:
            await hook()
        except Exception:
            log.exception("draining hook failed")

    if _draining_hooks:
        try:
            await asyncio.wait_for(
                asyncio.gather(*(one(hook) for hook in list(_draining_hooks))), limit
            )
        except TimeoutError:
            log.warning("draining hooks did not finish within %.1fs", limit)


def reset() -> None:
    """Back to the state of a fresh process (tests build many apps in one process)."""
    global _draining
    _draining = False
