"""The one base class of every event payload (and of the values payloads nest).

A payload is strict when it is built and tolerant when it is read:

- Building one (`SomeData(...)`, in the producing service) forbids unknown fields, so a
  misspelt or undocumented field fails in the producer's own tests, never on the wire.
- Reading one (`SomeData.read(data)`, which the idempotent consumer does through the
  registry in `shared.contracts.registry`) ignores unknown fields: a producer that adds an
  optional field, which keeps the topic's version (docs/events.md), never breaks a consumer.

Payloads are frozen: a handler cannot change the event it was given. An event payload names
its type in `EVENT_TYPE`, so the outbox builds the envelope (type, version, data) from the
payload alone; values that only appear inside payloads (a method, a contact) leave it empty.
"""
from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict


def is_none(value: object) -> bool:
    """For `Field(exclude_if=is_none)`: an optional field the wire omits while it is unset
    (as docs/events.md writes it with a trailing `?`), rather than sending null."""
    return value is None


class Payload(BaseModel):
    """Frozen; unknown fields refused when built, ignored when read (`read`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    EVENT_TYPE: ClassVar[str] = ""  # the event type this is the `data` of ("" for parts)
    EVENT_VERSION: ClassVar[int] = 1

    @classmethod
    def read(cls, data: Any) -> Self:
        """The payload of a received event: validated, unknown fields ignored."""
        return cls.model_validate(data, extra="ignore")

    def to_data(self) -> dict[str, Any]:
        """The envelope's `data`: JSON values, as docs/events.md fixes them."""
        return self.model_dump(mode="json")
