"""Storage: the tortoise configuration, start-up and shutdown, migrations, and `atomic()`, the
one transaction helper every change goes through (it runs after-commit hooks, which is where
appended events are handed to the broker)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import orjson
from tortoise import Tortoise, connections, fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

log = logging.getLogger(__name__)

# Every module holding tortoise models; later domains add theirs here.
MODEL_MODULES = [
    "app.auth.models",
    "app.incidents.models",
    "app.events.models",
    "app.notifications.models",
    "app.slas.models",
    "app.problems.models",
    "app.audit.models",
]
# Tables that hand-written migrations create outside the models (kept by triggers).
SQL_TABLES = ["incident_day_stats"]


def optional_text() -> fields.Field[str | None]:
    """A nullable TEXT column, typed as such (tortoise types every TextField as `str`)."""
    return cast("fields.Field[str | None]", fields.TextField(null=True))


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _normalise_url(database_url)},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "app.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgres://" + url.removeprefix("postgresql://")
    return url


# Used by `tortoise makemigrations` (pyproject [tool.tortoise]) when developers add a migration.
MIGRATION_CONFIG = tortoise_config("sqlite://:memory:")


async def init_db(database_url: str) -> None:
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def close_db() -> None:
    await Tortoise.close_connections()
    # tortoise caches SQL per connection *name*; a later init on another dialect under the
    # same name (tests run SQLite, then PostgreSQL) must not reuse SQLite's statements.
    from tortoise.backends.base.executor import EXECUTOR_CACHE

    EXECUTOR_CACHE.clear()


async def migrate(database_url: str) -> None:
    """Apply every committed migration (idempotent)."""
    from tortoise.migrations.api import migrate as run_migrations

    try:
        await run_migrations(config=tortoise_config(database_url))
    finally:
        await close_db()  # also after a failed migration, or the process would hang


def connection() -> BaseDBAsyncClient:
    return connections.get("default")


def is_postgres() -> bool:
    return connection().capabilities.dialect == "postgres"


AfterCommit = Callable[[], Awaitable[None]]


@dataclass
class Transaction:
    """One unit of work: the connection to use and what to do once it has committed."""

    connection: BaseDBAsyncClient
    after_commit_hooks: list[AfterCommit] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    def after_commit(self, hook: AfterCommit) -> None:
        self.after_commit_hooks.append(hook)


_current: ContextVar[Transaction | None] = ContextVar("tocsin_transaction", default=None)


def current_transaction() -> Transaction:
    tx = _current.get()
    if tx is None:
        raise RuntimeError("this operation must run inside db.atomic()")
    return tx


@asynccontextmanager
async def atomic() -> AsyncIterator[Transaction]:
    """Run the block in one transaction; a nested call joins the outer one.

    After-commit hooks run only when the outermost block commits; a rollback drops them.
    """
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    async with in_transaction() as conn:
        tx = Transaction(connection=conn)
        token = _current.set(tx)
        try:
            yield tx
        finally:
            _current.reset(token)
    for hook in tx.after_commit_hooks:
        try:
            await hook()
        except Exception:  # a failed publish must not undo a committed change
            log.exception("after-commit hook failed")


def placeholders(conn: BaseDBAsyncClient, count: int, *, start: int = 1) -> str:
    """Parameter markers for raw SQL: `?, ?` on SQLite, `$1, $2` on PostgreSQL."""
    if conn.capabilities.dialect == "postgres":
        return ", ".join(f"${i}" for i in range(start, start + count))
    return ", ".join("?" for _ in range(count))


# ------------------------------------------------------------------ plain rows for hot reads
#
# Building a tortoise model costs ~40-110 µs a row, most of it parsing SQLite's timestamp text
# with the iso8601 package and running every field's converter; `datetime.fromisoformat` does
# the same parse ~20x faster. Hot list reads (a page of incidents and its SLA timers) fetch
# plain rows instead: the same attribute names and Python values as the models, read-only.


def _as_datetime(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _as_bool(value: Any) -> Any:
    return None if value is None else bool(value)


def _as_json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _decoder(field: fields.Field[Any]) -> Callable[[Any], Any] | None:
    if isinstance(field, fields.DatetimeField):
        return _as_datetime
    if isinstance(field, fields.BooleanField):
        return _as_bool
    if isinstance(field, fields.JSONField):
        return _as_json
    return None


_decoders: dict[type[Model], list[tuple[str, str, Callable[[Any], Any] | None]]] = {}


def _decoders_for(model: type[Model]) -> list[tuple[str, str, Callable[[Any], Any] | None]]:
    found = _decoders.get(model)
    if found is None:
        meta = model._meta
        found = [(name, column, _decoder(meta.fields_map[name]))
                 for name, column in meta.fields_db_projection.items()]
        _decoders[model] = found
    return found


async def plain_rows(query: QuerySet[Any]) -> list[SimpleNamespace]:
    """The rows `query` selects, as plain objects carrying the model's attribute names."""
    query._choose_db_if_not_chosen()
    query._make_query()
    sql, params = query.query.get_parameterized_sql()
    rows = await query._db.execute_query_dict(sql, params)
    decoders = _decoders_for(query.model)
    out = []
    for row in rows:
        item = SimpleNamespace()
        values = item.__dict__
        for name, column, decode in decoders:
            value = row[column]
            values[name] = decode(value) if decode is not None else value
        out.append(item)
    return out
