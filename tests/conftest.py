"""Shared fixtures. Every test that takes `database` runs on SQLite and, when
TOCSIN_TEST_POSTGRES_URL is set, again on a PostgreSQL database created (and dropped) for
this run. Peers of other kinds have their own fixture files, loaded as plugins below."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from tortoise import Tortoise

from app import db
from app.auth.models import Role
from app.auth.service import create_user_with_token
from app.timesource import FrozenClock

pytest_plugins = [
    "tests.fixtures_api", "tests.fixtures_server", "tests.fixtures_tls", "tests.fixtures_http",
    "tests.fixtures_smtp", "tests.fixtures_slas", "tests.fixtures_postgres",
    "tests.fixtures_redis",
]

POSTGRES_URL = os.environ.get("TOCSIN_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def create_postgres_database(base_url: str) -> str:
    import asyncpg

    name = f"tocsin_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(base_url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_database(base_url, name)


async def drop_postgres_database(base_url: str, url: str) -> None:
    import asyncpg

    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(base_url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def database_url_factory(tmp_path_factory: pytest.TempPathFactory):
    """Makes fresh, migrated, empty databases of a backend; drops them at the end."""
    made: list[str] = []

    async def make(backend: str) -> str:
        if backend == "sqlite":
            path = tmp_path_factory.mktemp("db") / "tocsin.db"
            url = f"sqlite://{path}"
        else:
            assert POSTGRES_URL
            url = await create_postgres_database(POSTGRES_URL)
            made.append(url)
        await db.migrate(url)
        return url

    yield make
    for url in made:
        await drop_postgres_database(POSTGRES_URL or "", url)


@pytest.fixture(scope="session", params=BACKENDS)
async def database_backend(
    request: pytest.FixtureRequest, database_url_factory
) -> AsyncIterator[str]:
    url = await database_url_factory(request.param)
    await db.init_db(url)
    yield url
    await db.close_db()


def _tables() -> list[str]:
    tables: list[str] = []
    for app_models in Tortoise.apps.values():
        for model in app_models.values():
            tables.append(model._meta.db_table)
    return tables + db.SQL_TABLES  # TRUNCATE fires no row trigger: empty these too


@pytest.fixture
async def database(database_backend: str) -> str:
    """An empty, migrated database (SQLite, then PostgreSQL when configured)."""
    conn = db.connection()
    tables = _tables()
    if db.is_postgres():
        await conn.execute_script(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )
    else:
        for table in tables:
            await conn.execute_script(f'DELETE FROM "{table}"')
        await conn.execute_script("DELETE FROM sqlite_sequence")
    return database_backend


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def users(database: str, clock: FrozenClock) -> dict[Role, tuple[object, str]]:
    """One user (and its token) per role."""
    made = {}
    for role in Role:
        issued = await create_user_with_token(role.value.lower(), role, now=clock.now())
        made[role] = (await issued.api_token.user, issued.token)
    return made


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
