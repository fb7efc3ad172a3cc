"""Small helpers every test folder shares: waiting for an asynchronous effect, publishing
envelopes as their producing service would, reading a service's events as its subscribers
see them (TopicTap), and calling a service's HTTP API as an authenticated caller."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.calendar import NEW_YORK, business_now
from shared.contracts.envelope import Envelope
from shared.contracts.topics import TOPICS, topic_for
from shared.service_auth import TokenSigner


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


class DayClock:
    """A service's clock that a test can pin to a business date (10:00 in New York that
    day): `fix(day)`; `fix(None)` (and the start) is the real clock."""

    def __init__(self, day: date | None = None, hour: int = 10) -> None:
        self.day, self.hour = day, hour

    def fix(self, day: date | None, hour: int = 10) -> None:
        self.day, self.hour = day, hour

    def __call__(self) -> datetime:
        if self.day is None:
            return business_now()
        return datetime(self.day.year, self.day.month, self.day.day, self.hour, tzinfo=NEW_YORK)


def service_client(service: Any, caller: str = "operator", app: web.Application | None = None,
                   **kwargs: Any) -> TestClient:
    """A test client of a service's app (shared.runtime.Service) whose every request carries
    `caller`'s service token, signed with the key in the service's own settings."""
    signer = TokenSigner.from_keys(service.settings.service_keys, caller)
    return TestClient(TestServer(app if app is not None else service.app),
                      middlewares=(signer.client_middleware(service.name),), **kwargs)


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


def topics_of(producer: str) -> list[str]:
    """The topics a service publishes to (shared.contracts.topics: one per producer and
    major version)."""
    return [t.name for t in TOPICS.values() if t.producer == producer]


@dataclass(frozen=True)
class Tapped:
    """One record a subscriber received: where it was, its Kafka key and headers, its raw
    value and the envelope parsed from it."""

    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, bytes]
    value: bytes
    envelope: Envelope


class TopicTap:
    """What a subscriber of a service's topics sees, from the moment the tap starts.

    A consumer outside any group, assigned every partition of `topics` and positioned at
    their end when `start()` returns, collects records in arrival order; only envelopes
    whose `producer` is `producer` (when given) are kept, since tests publish on some of
    the same topics as the services. Topics are shared by the whole test session (and by
    anyone else using the same Kafka), so a tap started just before its service sees that
    service's events, and events of the same producer published elsewhere meanwhile.

    `await settled(pool)` waits until everything the service has committed to its outbox so
    far is on Kafka and collected here: after it, `events(...)` is exact, so a test can
    assert an event was NOT emitted.
    """

    def __init__(self, bootstrap: str, topics: Iterable[str], producer: str | None = None) -> None:
        self.bootstrap = bootstrap
        self.topics = tuple(topics)
        self.producer = producer
        self._consumer: AIOKafkaConsumer | None = None
        # End offsets are asked on a connection of their own: on the collector's, Kafka
        # answers them only after its pending fetch (a long poll of up to 500 ms).
        self._offsets: AIOKafkaConsumer | None = None
        self._parts: list[TopicPartition] = []
        self._records: list[Tapped] = []
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            self._parts = await partitions_of(consumer, self.topics)
            consumer.assign(self._parts)
            await consumer.seek_to_end(*self._parts)
            for tp in self._parts:  # resolve the end now, not at the first fetch
                await consumer.position(tp)
            offsets = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                       enable_auto_commit=False)
            await offsets.start()
        except BaseException:
            await consumer.stop()
            raise
        self._consumer, self._offsets = consumer, offsets
        self._task = asyncio.create_task(self._collect(), name="topic-tap")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for client in (self._consumer, self._offsets):
            if client is not None:
                await client.stop()
        self._consumer = self._offsets = None

    async def _collect(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=500)
            # No await from here on: once the consumer's position has passed a record,
            # the record is in self._records (settled() relies on it).
            for tp, records in batches.items():
                for r in records:
                    self._take(tp, r)

    def _take(self, tp: TopicPartition, record: Any) -> None:
        if record.value is None:
            return
        try:
            envelope = Envelope.from_bytes(record.value)
        except (ValueError, TypeError):
            return  # not an envelope (a test's poison message): no subscriber takes it
        if self.producer is not None and envelope.producer != self.producer:
            return
        self._records.append(Tapped(
            topic=tp.topic, partition=tp.partition, offset=record.offset,
            key=record.key.decode() if record.key is not None else None,
            headers={k: bytes(v) for k, v in record.headers or ()},
            value=bytes(record.value), envelope=envelope))

    async def settled(self, pool: asyncpg.Pool, timeout_s: float = 30.0) -> None:
        """Wait until the service's outbox is empty (every event committed so far was
        confirmed by Kafka: the relay deletes a row only then) and this tap has collected
        its topics up to their current end."""
        assert self._consumer and self._offsets and self._task, "tap not started"
        deadline = time.monotonic() + timeout_s
        await wait_for(lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox"), timeout_s,
                       "the outbox relay to publish every event")
        end = await self._offsets.end_offsets(self._parts)
        while True:
            if self._task.done():
                self._task.result()  # the collector failed: raise its error
                raise AssertionError("the topic tap stopped")
            if all([await self._consumer.position(tp) >= offset for tp, offset in end.items()]):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out reading {', '.join(self.topics)} to their end")
            await asyncio.sleep(0.01)

    def records(self, event_type: str | None = None, key: str | None = None) -> list[Tapped]:
        """Records in arrival order (for one key: the order the service wrote them, since
        one key is one partition). An event published twice (a relay retry: same event_id)
        counts once, as every subscriber deduplicates by event_id."""
        seen: set = set()
        out = []
        for r in self._records:
            e = r.envelope
            if e.event_id in seen:
                continue
            seen.add(e.event_id)
            if (event_type is None or e.event_type == event_type) and (key is None or e.key == key):
                out.append(r)
        return out

    def events(self, event_type: str | None = None, key: str | None = None) -> list[Envelope]:
        return [r.envelope for r in self.records(event_type, key)]


async def partitions_of(consumer: AIOKafkaConsumer, topics: Iterable[str],
                      timeout_s: float = 15.0) -> list[TopicPartition]:
    """Every partition of the topics (which must exist: see shared.kafka.ensure_topics)."""
    deadline = time.monotonic() + timeout_s
    while True:
        known = {t: consumer.partitions_for_topic(t) for t in topics}
        if all(known.values()):
            return [TopicPartition(t, p) for t, ps in known.items() for p in sorted(ps)]
        if time.monotonic() > deadline:
            raise AssertionError(f"topics without partitions: {[t for t, p in known.items() if not p]}")
        await consumer._client.force_metadata_update()  # noqa: SLF001 - a cold client's metadata
        if not all(consumer.partitions_for_topic(t) for t in topics):
            await asyncio.sleep(0.1)
