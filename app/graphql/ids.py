"""Opaque global ids: base64 of "TypeName:pk". Malformed or foreign ids are BAD_USER_INPUT."""

from __future__ import annotations

import base64
import binascii

from app.errors import BadUserInput


def to_global_id(type_name: str, pk: int | str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def parse_global_id(value: str, field: str = "id") -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode((value + "=" * (-len(value) % 4)).encode()).decode()
        type_name, pk = raw.split(":", 1)
        return type_name, int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadUserInput(f"{field} is not a valid id", field=field) from None


def decode_id(value: str, expected: str, field: str = "id") -> int:
    type_name, pk = parse_global_id(value, field)
    if type_name != expected:
        raise BadUserInput(f"{field} is not a {expected} id", field=field)
    return pk


def decode_optional_id(value: str | None, expected: str, field: str) -> int | None:
    return None if value is None else decode_id(value, expected, field)
