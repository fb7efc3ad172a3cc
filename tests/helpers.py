"""Small helpers every test folder shares: waiting for an asynchronous effect, and
publishing envelopes as their producing service would."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from shared.contracts.envelope import Envelope
from shared.contracts.topics import topic_for


async def wait_for(predicate, timeout_s: float = 30.0, what: str = "condition",
                   poll_s: float = 0.05) -> Any:
    """Poll `predicate()` (plain or async) until it returns something truthy; return that.
    Fails the test, naming `what`, when `timeout_s` passes first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {what}")


async def publish_events(producer: AIOKafkaProducer, *events: Envelope) -> None:
    """Each envelope on its type's topic, keyed and with the type/version headers."""
    for e in events:
        await producer.send_and_wait(topic_for(e.event_type), e.to_bytes(), key=e.key.encode(),
                                     headers=e.headers())


class ServiceEnvMixin:
    """For a test env dataclass with `service` and `producer` fields: the service's pool,
    and publishing as the producing services would."""

    service: Any
    producer: AIOKafkaProducer

    @property
    def pool(self) -> asyncpg.Pool:
        assert self.service.pool is not None
        return self.service.pool

    async def publish(self, *events: Envelope) -> None:
        await publish_events(self.producer, *events)
