"""Structured JSON logs with correlation ids, and a last line of defence against secrets.

`log_context(...)` binds fields (event_id, correlation_id, account, request_id) to every
log line written inside it. The redaction filter masks digit runs shaped like an SSN or a
card number wherever they appear, so a careless message cannot leak one.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

import orjson

from shared import tracing

# A read-only default: `log_context` sets a new mapping, never changes the one in place.
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "log_context", default=MappingProxyType({}))

# 9 digits (SSN, possibly dashed) or 12-19 digits (card and long bank account numbers).
_SECRET_DIGITS = re.compile(r"(?<!\d)(?:\d{3}-\d{2}-\d{4}|\d{9}|\d{12,19})(?!\d)")
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    return _SECRET_DIGITS.sub("[redacted]", text)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_context.get())


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(), "service": self.service,
            "logger": record.name, "msg": record.getMessage(),
        }
        entry.update(_context.get())
        entry.update(tracing.log_ids())
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        line = orjson.dumps(entry, default=str).decode()
        return redact(line)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "faststream", "aiohttp.access"):
        logging.getLogger(noisy).setLevel("WARNING")
