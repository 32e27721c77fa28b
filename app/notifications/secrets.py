"""Channel secrets at rest: the fields a plugin's Config types as `SecretStr` are stored
Fernet-encrypted under a key derived (HKDF/SHA-256) from `TOCSIN_SECRET_KEY`, and shown to
clients only masked.

Without `TOCSIN_SECRET_KEY`, a SQLite run keeps a random key in a file beside its database
(`tocsin.db.secret-key`); a PostgreSQL run refuses to start, because several processes
would each invent a different key.
"""

from __future__ import annotations

import base64
import os
import secrets as random_source
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_KEY_LENGTH = 32
MASK = "********"
ENCRYPTED = "$encrypted"  # stored form of a secret value: {"$encrypted": "<fernet token>"}


class SecretKeyMissing(RuntimeError):
    """Raised at start-up when the deployment cannot have a stable secret key."""


def derive_fernet_key(secret_key: str) -> bytes:
    if len(secret_key) < MIN_KEY_LENGTH:
        raise SecretKeyMissing(
            f"TOCSIN_SECRET_KEY must be at least {MIN_KEY_LENGTH} characters long"
        )
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"tocsin",
        info=b"tocsin notification channel secrets",
    ).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


def key_file_for(database_url: str) -> Path | None:
    """`sqlite://path/tocsin.db` → `path/tocsin.db.secret-key`; None for in-memory SQLite."""
    path = database_url.split("://", 1)[1].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path).with_name(Path(path).name + ".secret-key")


def resolve_secret_key(database_url: str, secret_key: str | None) -> str:
    if secret_key:
        derive_fernet_key(secret_key)  # refuses short keys early
        return secret_key
    if not database_url.startswith("sqlite"):
        raise SecretKeyMissing(
            "TOCSIN_SECRET_KEY is not set: a PostgreSQL deployment needs it (any string of "
            f"{MIN_KEY_LENGTH}+ characters, the same in every process) to encrypt channel "
            "secrets"
        )
    path = key_file_for(database_url)
    if path is None:
        return random_source.token_urlsafe(48)
    if not path.exists():
        # O_EXCL: two processes starting together on one SQLite file agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(random_source.token_urlsafe(48))
    return path.read_text().strip()


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        self._fernet = Fernet(derive_fernet_key(secret_key))

    def seal(self, value: str) -> dict[str, str]:
        return {ENCRYPTED: self._fernet.encrypt(value.encode()).decode()}

    def open(self, stored: Any) -> str:
        if isinstance(stored, dict) and ENCRYPTED in stored:
            try:
                return self._fernet.decrypt(stored[ENCRYPTED].encode()).decode()
            except InvalidToken:
                raise SecretKeyMissing(
                    "a channel secret cannot be decrypted: TOCSIN_SECRET_KEY changed"
                ) from None
        return str(stored)


_box: SecretBox | None = None


def configure(database_url: str, secret_key: str | None) -> None:
    """Called once at start-up (serve, worker); raises SecretKeyMissing when it cannot."""
    global _box
    _box = SecretBox(resolve_secret_key(database_url, secret_key))


def box() -> SecretBox:
    if _box is None:
        raise SecretKeyMissing("channel secrets are not configured (secrets.configure)")
    return _box


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and ENCRYPTED in value
