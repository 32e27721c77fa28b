"""The `tocsin` command as operators and scripts use it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tocsin(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's code, whatever is installed
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env=env)


def test_token_create_prints_the_token_alone(tmp_path: Path):
    url = f"sqlite://{tmp_path / 'cli.db'}"
    made = tocsin("token", "create", "--name", "deploy-bot", "--role", "RESPONDER",
                  "--database-url", url, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tocsin_")
    again = tocsin("token", "create", "--name", "deploy-bot", "--role", "VIEWER",
                   "--database-url", url, cwd=tmp_path)
    assert again.returncode == 1 and again.stdout == "" and "already exists" in again.stderr


def test_token_create_refuses_unknown_roles(tmp_path: Path):
    made = tocsin("token", "create", "--name", "x", "--role", "GOD",
                  "--database-url", f"sqlite://{tmp_path / 'x.db'}", cwd=tmp_path)
    assert made.returncode == 2 and made.stdout == ""


def test_committed_schema_matches_the_code(tmp_path: Path):
    exported = tocsin("export-schema", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == (ROOT / "schema.graphql").read_text()


def test_migrate_is_idempotent(tmp_path: Path):
    url = f"sqlite://{tmp_path / 'm.db'}"
    assert tocsin("migrate", "--database-url", url, cwd=tmp_path).returncode == 0
    assert tocsin("migrate", "--database-url", url, cwd=tmp_path).returncode == 0
