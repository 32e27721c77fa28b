"""The secret key: derived from TOCSIN_SECRET_KEY, a key file beside a SQLite database
without it, and a PostgreSQL deployment refusing to start without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.notifications.secrets import (
    SecretBox,
    SecretKeyMissing,
    key_file_for,
    resolve_secret_key,
)

ROOT = Path(__file__).resolve().parents[2]


def test_sealed_values_open_only_with_the_same_key():
    sealed = SecretBox("k" * 32).seal("hunter2")
    assert "hunter2" not in str(sealed)
    assert SecretBox("k" * 32).open(sealed) == "hunter2"
    with pytest.raises(SecretKeyMissing, match="TOCSIN_SECRET_KEY changed"):
        SecretBox("x" * 32).open(sealed)


def test_short_keys_are_refused():
    with pytest.raises(SecretKeyMissing, match="at least 32"):
        resolve_secret_key("sqlite://x.db", "too-short")


def test_sqlite_without_a_key_keeps_one_beside_the_database(tmp_path):
    url = f"sqlite://{tmp_path / 'tocsin.db'}"
    first = resolve_secret_key(url, None)
    assert key_file_for(url) == tmp_path / "tocsin.db.secret-key"
    assert (tmp_path / "tocsin.db.secret-key").stat().st_mode & 0o777 == 0o600
    assert resolve_secret_key(url, None) == first and len(first) >= 32


def test_postgres_without_a_key_refuses_naming_the_setting():
    with pytest.raises(SecretKeyMissing, match="TOCSIN_SECRET_KEY"):
        resolve_secret_key("postgres://u@127.0.0.1/db", None)


@pytest.mark.parametrize("command", [["worker"], ["serve", "--port", "1"]])
def test_commands_refuse_to_start_on_postgres_without_a_key(tmp_path, command):
    env = {k: v for k, v in os.environ.items() if k != "TOCSIN_SECRET_KEY"}
    env.update(PYTHONPATH=str(ROOT),
               TOCSIN_DATABASE_URL="postgres://nobody@127.0.0.1:1/none")
    done = subprocess.run([sys.executable, "-m", "app.cli", *command], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert "TOCSIN_SECRET_KEY is not set" in done.stderr
