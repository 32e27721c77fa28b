"""Upgrading a database that holds data: build it at an earlier migration with tortoise's
migrate API, write rows with plain SQL (as the older code would have), run `tocsin migrate`,
and read everything back through today's models — on SQLite and PostgreSQL.

The starting points are derived from app/migrations, so the test follows new migrations on its
own: the first migration (every upgrade step) and the one before the latest (the newest step
on its own). The rows use only the first migration's columns; a later migration that cannot
take such rows (say, a NOT NULL column without a default) fails here, as it would fail in
production."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS, POSTGRES_URL, create_postgres_database, drop_postgres_database
from tests.fixtures_server import ROOT

MIGRATIONS = sorted(
    p.stem for p in (ROOT / "app" / "migrations").glob("[0-9][0-9][0-9][0-9]_*.py"))
STARTS = {"from-first": MIGRATIONS[0], "from-previous": MIGRATIONS[max(len(MIGRATIONS) - 2, 0)]}
# With two migrations both starting points are the first: run that upgrade once.
STARTS = {name: m for name, m in STARTS.items() if name == "from-first" or m != MIGRATIONS[0]}
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    return result


class Raw:
    """Plain SQL on either backend: `?` markers, Python values adapted per driver."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = url.startswith("postgres")

    def _adapt(self, value: Any) -> Any:
        if self.postgres:
            return json.dumps(value) if isinstance(value, dict) else value
        if isinstance(value, datetime):
            return value.isoformat(sep=" ")
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, dict):
            return json.dumps(value)
        return value

    async def run(self, statements: list[tuple[str, list[Any]]]) -> None:
        if self.postgres:
            import asyncpg

            conn = await asyncpg.connect(self.url.replace("postgres://", "postgresql://", 1))
            try:
                async with conn.transaction():
                    for sql, params in statements:
                        numbered = sql
                        for i in range(1, len(params) + 1):
                            numbered = numbered.replace("?", f"${i}", 1)
                        await conn.execute(numbered, *[self._adapt(p) for p in params])
            finally:
                await conn.close()
        else:
            conn = sqlite3.connect(self.url.removeprefix("sqlite://"))
            try:
                with conn:
                    for sql, params in statements:
                        conn.execute(sql, [self._adapt(p) for p in params])
            finally:
                conn.close()


    async def applied(self) -> list[str]:
        sql = "SELECT name FROM tortoise_migrations ORDER BY name"
        if self.postgres:
            import asyncpg

            conn = await asyncpg.connect(self.url.replace("postgres://", "postgresql://", 1))
            try:
                return [row["name"] for row in await conn.fetch(sql)]
            finally:
                await conn.close()
        conn = sqlite3.connect(self.url.removeprefix("sqlite://"))
        try:
            return [row[0] for row in conn.execute(sql)]
        finally:
            conn.close()


# What an operator's database held before the upgrade, in the first migration's columns.
ROWS: list[tuple[str, list[Any]]] = [
    ("INSERT INTO users (name, role, active, created_at) VALUES (?, ?, ?, ?)",
     ["ana", "RESPONDER", True, T0]),
    ("INSERT INTO services (name, description, public, created_at, updated_at)"
     " VALUES (?, ?, ?, ?, ?)", ["Checkout", "Web shop", True, T0, T0]),
    ("INSERT INTO counters (kind, value) VALUES (?, ?)", ["incident", 2]),
    ("INSERT INTO incidents (number, title, status, impact, urgency, priority, service_id,"
     " public, started_at, created_at, updated_at)"
     " VALUES (?, ?, ?, ?, ?, ?, (SELECT id FROM services WHERE name = 'Checkout'), ?, ?, ?, ?)",
     [1, "Card payments fail", "NEW", "HIGH", "HIGH", "P1", False, T0, T0, T0]),
    ("INSERT INTO incidents (number, title, status, impact, urgency, priority, public,"
     " started_at, created_at, updated_at, acknowledged_at, resolved_at, resolution)"
     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
     [2, "Slow search", "RESOLVED", "LOW", "MEDIUM", "P4", True, T0, T0, T0, T0, T0, "cache"]),
    ("INSERT INTO events (type, occurred_at, actor_id, incident_id, priority, to_status,"
     " public, payload) VALUES (?, ?, (SELECT id FROM users WHERE name = 'ana'),"
     " (SELECT id FROM incidents WHERE number = 1), ?, ?, ?, ?)",
     ["incident.created", T0, "P1", "NEW", False, {"title": "Card payments fail"}]),
    ("INSERT INTO events (type, occurred_at, incident_id, note, public, payload)"
     " VALUES (?, ?, (SELECT id FROM incidents WHERE number = 2), ?, ?, ?)",
     ["incident.resolved", T0, "Cache flushed", True, {}]),
]


@pytest.mark.parametrize("start", sorted(STARTS))
@pytest.mark.parametrize("backend", BACKENDS)
async def test_an_upgrade_keeps_the_data(backend: str, start: str, tmp_path: Path):
    if backend == "sqlite":
        url = f"sqlite://{tmp_path / 'old.db'}"
    else:
        assert POSTGRES_URL
        url = await create_postgres_database(POSTGRES_URL)
    try:
        run("tests.ops.migration_probe", "to", url, STARTS[start], cwd=tmp_path)
        raw = Raw(url)
        assert await raw.applied() == MIGRATIONS[: MIGRATIONS.index(STARTS[start]) + 1]
        await raw.run(ROWS)
        run("app.cli", "migrate", "--database-url", url, cwd=tmp_path)
        assert await raw.applied() == MIGRATIONS
        seen = json.loads(run("tests.ops.migration_probe", "read", url, cwd=tmp_path).stdout)
    finally:
        if backend != "sqlite":
            await drop_postgres_database(POSTGRES_URL or "", url)

    assert [(i["number"], i["title"], i["status"], i["priority"], i["service"])
            for i in seen["incidents"]] == [
        (1, "Card payments fail", "NEW", "P1", "Checkout"),
        (2, "Slow search", "RESOLVED", "P4", None),
    ]
    assert all(i["created_at"].startswith("2026-01-05T10:00:00") for i in seen["incidents"])
    assert [(e["type"], e["payload"], e["note"], e["public"]) for e in seen["events"]] == [
        ("incident.created", {"title": "Card payments fail"}, None, False),
        ("incident.resolved", {}, "Cache flushed", True),
    ]
    assert seen["appended"] > max(e["id"] for e in seen["events"])


def test_the_starting_points_are_real_migrations():
    assert MIGRATIONS[0] == "0001_initial"
    assert len(MIGRATIONS) >= 2, "with one migration there is nothing to upgrade across"
    assert STARTS.get("from-previous", MIGRATIONS[0]) == MIGRATIONS[-2]
