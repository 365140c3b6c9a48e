"""Logging set-up: plain text, or one JSON object per line (``log_format = "json"``) carrying the
platform, ticket and delivery being worked on.

The receiver (around each request) and the worker (around each claim) put what they know in a
context variable with :func:`log_context`; every line logged inside, by any module, carries it.
A call can also pass ``extra={"ticket": ...}`` itself.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONTEXT_FIELDS = ("platform", "ticket", "delivery")

# (field, value) pairs: a tuple, so that the default can never be changed in place.
_context: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("tierlift_log_context",
                                                               default=())


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Inside the block, every log line carries ``fields`` (``platform``, ``ticket``,
    ``delivery``; ``None`` values are left out), on top of the enclosing block's."""
    token = _context.set(_merged(fields))
    try:
        yield
    finally:
        _context.reset(token)


def add_log_context(**fields: str | None) -> None:
    """Add to the current :func:`log_context` block what became known inside it (the delivery
    id once the body is parsed); the block's end removes it again."""
    _context.set(_merged(fields))


def _merged(fields: dict[str, str | None]) -> tuple[tuple[str, str], ...]:
    merged = dict(_context.get())
    merged.update((k, str(v)) for k, v in fields.items() if v is not None)
    return tuple(merged.items())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and the platform,
    ticket and delivery where known; ``exception`` holds a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_context.get())
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str | int = "INFO", log_format: str = "text", *,
                      stream: IO[str] | None = None) -> logging.Handler:
    """Log to ``stream`` (default stderr) in ``log_format`` (``text`` or ``json``), replacing
    the root logger's handlers; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
