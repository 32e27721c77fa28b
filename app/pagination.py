"""Keyset pagination shared by every list: opaque cursors and the page-size rule."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from app.errors import BadUserInput

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next: bool
    has_previous: bool
    total: int | Callable[[], Awaitable[int]]  # a count, or how to count when asked


def page_size(first: int | None, maximum: int = MAX_PAGE_SIZE) -> int:
    if first is None:
        return min(DEFAULT_PAGE_SIZE, maximum)
    if first < 0:
        raise BadUserInput("first must not be negative", field="first")
    if first > maximum:
        raise BadUserInput(f"first must be at most {maximum}", field="first")
    return first


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadUserInput("after is not a valid cursor", field="after") from exc
    if not isinstance(values, list) or len(values) != length:
        raise BadUserInput("after is not a valid cursor", field="after")
    return values
