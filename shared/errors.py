"""The expected failures of every service's use cases: one base class, and the shape of
the error answer they become.

A use case raises a `DomainError` (a stable `code`, a plain-words `message`, the `fields`
the person must correct, any `extra` facts the answer carries); it never names an HTTP
status. Each service's HTTP entry point gives its error classes their statuses and
`shared.http.translated` answers with them, so the service layers import no web framework
(this module imports none either: domains may use it).
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """An expected failure. Subclasses set `code` and a default `message`; one raised
    may give another message, the fields at fault and extra facts (`retry_after_s=...`)."""

    code: str = "error"
    message: str = "The request cannot be carried out."

    def __init__(self, message: str | None = None, fields: dict[str, str] | None = None, *,
                 code: str | None = None, **extra: Any) -> None:
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        super().__init__(self.message)
        self.fields: dict[str, str] = dict(fields or {})
        self.extra: dict[str, Any] = extra

    def body(self) -> dict[str, Any]:
        """The error as answered (and, where an answer is kept for a retry, as kept)."""
        return error_body(self.code, self.message, self.fields, **self.extra)


class InvalidInput(DomainError):
    """Fields the person must correct; `fields` maps field -> plain message (never the
    value typed)."""

    code = "invalid_input"
    message = "Some fields are not valid."


def error_body(code: str, message: str, fields: dict[str, str] | None = None,
               **extra: Any) -> dict[str, Any]:
    """`{"error": {"code", "message", "fields", ...extra}}`: every error answer's shape."""
    error: dict[str, Any] = {"code": code, "message": message, "fields": fields or {}}
    error.update(extra)
    return {"error": error}
