"""Logging to standard error: readable lines in development, one JSON object per line in
production (`TOCSIN_ENV=production`). Standard output stays for command results.

Every line logged while a request is handled carries that request's id (`requestId`): the
request middleware binds it in a context variable, and a logging filter copies it onto each
record. Work done later on a request's behalf (a delivery of one of its events) binds the same
id again with `bound_request_id(...)`.
"""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from app.config import Settings

_request_id: ContextVar[str | None] = ContextVar("tocsin_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled in this task, if any."""
    return _request_id.get()


@contextmanager
def bound_request_id(request_id: str | None) -> Iterator[None]:
    """Log (and append events) under `request_id` for the duration of the block."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (as `request_id`; None outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["requestId"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [{request_id}]" if request_id else line


def logging_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` for this process; uvicorn applies it in each worker."""
    level = settings.log_level.strip().upper()
    numeric = logging.getLevelNamesMapping().get(level)
    if numeric is None:
        raise ValueError(f"TOCSIN_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
    formatter = "app.logs.JsonFormatter" if settings.production else "app.logs.TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "app.logs.RequestIdFilter"}},
        "formatters": {"tocsin": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "tocsin",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # uvicorn's own loggers go through the same handler (JSON in production).
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            # Tocsin writes its own access line (with the request id and operation).
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            "tortoise": {"level": max(numeric, logging.WARNING)},
        },
    }


def setup_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))
