"""Standard Webhooks signing: secrets of the form `whsec_<base64>` and `v1,<base64 HMAC>`
signatures over `id.timestamp.body`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


def secret_key(secret: str) -> bytes:
    """The raw key of a `whsec_` secret; ValueError saying what is wrong otherwise."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with '{SECRET_PREFIX}'")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except binascii.Error as error:
        raise ValueError(f"is not '{SECRET_PREFIX}' followed by base64") from error
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"must encode {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} random bytes, not {len(key)}"
        )
    return key


def signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")
