"""Idempotent, at-least-once consumers with dead letters.

A consumed batch is applied in PostgreSQL transactions of up to `chunk_size` events, one
after another in offset order: the event ids are inserted into `processed_events` (one
`INSERT ... SELECT unnest ... ON CONFLICT DO NOTHING` per chunk) and only the fresh events
reach their handlers, so a redelivered event has no second effect. While one chunk's
transaction runs, the next chunk is parsed. Offsets are committed only after the batch's
last transaction commits (FastStream's `AckPolicy.NACK_ON_ERROR` on a batch subscriber;
never its Kafka default, which commits before the handler runs); the commit is sent without
waiting for Kafka's answer, so the next batch is applied meanwhile.

If a chunk fails, each of its events is retried alone, up to `attempts_max` times; one that still
fails is published to `dlq.<group>` with its error and origin (redacted; the original is
sealed in the service's database for replay), recorded as dead-lettered, and the consumer
moves on. Infrastructure errors (database or broker unreachable) are not
the message's fault: they propagate, the batch is not acknowledged and comes back later.
"""
from __future__ import annotations

import asyncio
import logging
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from faststream._internal.utils.path import match_path
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.message import KafkaAckableMessage
from faststream.middlewares import AckPolicy

from shared import dead_letters, metrics
from shared.contracts.envelope import Envelope
from shared.contracts.topics import dlq_topic
from shared.logging import log_context

log = logging.getLogger(__name__)

Handler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]
BatchHandler = Callable[[asyncpg.Connection, list[Envelope]], Awaitable[None]]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError, asyncio.TimeoutError, asyncpg.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError, asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.AdminShutdownError,
)


class DeadLetters:
    """Publishes a failed record, its error and its origin to `dlq.<group>`, redacted
    (shared/dead_letters.py): the original is sealed into the service's `dead_letters`
    table (when a pool and a vault are given) and named by `dead_letter_id`."""

    def __init__(self, producer: AIOKafkaProducer, group_id: str, *,
                 pool: asyncpg.Pool | None = None,
                 vault: dead_letters.DeadLetterVault | None = None) -> None:
        self.producer = producer
        self.topic = dlq_topic(group_id)
        self.group_id = group_id
        self.pool = pool
        self.vault = vault

    async def send(self, record: ConsumerRecord, error: BaseException, attempts: int) -> None:
        dead_letter_id = uuid.uuid4()
        kept = self.pool is not None and self.vault is not None
        if kept:
            await dead_letters.keep(self.pool, self.vault, dead_letter_id, self.group_id, record,
                                    dead_letters.event_id_of(record.value))
        redact = dead_letters.redact_text
        detail = {
            "dead_letter_id": str(dead_letter_id), "original_kept": kept, "redacted": True,
            "group_id": self.group_id, "topic": record.topic, "partition": record.partition,
            "offset": record.offset,
            "key": (dead_letters.redact_key(record.key) or b"").decode(errors="replace"),
            "error_type": type(error).__name__, "error": redact(str(error)[:2000]),
            "traceback": redact("".join(traceback.format_exception(error))[-4000:]),
            "attempts": attempts, "failed_at": datetime.now(timezone.utc).isoformat(),
        }
        headers = dead_letters.redact_headers(record.headers) + [("dlq_error", orjson.dumps(detail))]
        await self.producer.send_and_wait(
            self.topic, value=dead_letters.redact_record_value(record.value),
            key=dead_letters.redact_key(record.key), headers=headers)
        log.error("event dead-lettered", extra={"dlq": self.topic, **{
            k: detail[k] for k in ("dead_letter_id", "topic", "partition", "offset",
                                   "error_type", "error")}})


class IdempotentConsumer:
    """Applies events to one service's database exactly once per consumer group."""

    def __init__(self, pool: asyncpg.Pool, group_id: str, dead_letters: DeadLetters, *,
                 handlers: Mapping[str, Handler] | None = None,
                 batch_handler: BatchHandler | None = None,
                 event_types: Sequence[str] | None = None,
                 attempts_max: int = 3, retry_backoff_s: float = 0.1,
                 chunk_size: int = 1000) -> None:
        assert (handlers is None) != (batch_handler is None), "handlers or batch_handler"
        assert 1 <= attempts_max <= 20
        self.pool = pool
        self.group_id = group_id
        self.dead_letters = dead_letters
        self.handlers = dict(handlers or {})
        self.batch_handler = batch_handler
        self.event_types = frozenset(event_types or self.handlers)
        self.attempts_max = attempts_max
        self.retry_backoff_s = retry_backoff_s
        self.chunk_size = chunk_size

    async def handle_records(self, records: Sequence[ConsumerRecord]) -> None:
        """Apply one consumed batch; returns once every record is applied or dead-lettered.

        The batch is applied in chunks, one transaction each and in order, and the next
        chunk is parsed while the database works on the previous one (parsing is the
        consumer's main CPU cost, the transaction mostly waiting on PostgreSQL). This
        returns, and the batch's offsets are committed, only after the last chunk's
        transaction has committed.
        """
        started = time.perf_counter()
        pending: asyncio.Task[None] | None = None
        try:
            for chunk in _chunks(records, self.chunk_size):
                items = await self._parse(chunk)
                if pending is not None:
                    await _finish(pending)  # chunk k resolved before chunk k+1 is applied
                    pending = None
                if items:
                    pending = asyncio.create_task(self._apply_chunk(items))
            if pending is not None:
                await _finish(pending)
                pending = None
        finally:
            if pending is not None:  # a parse step failed (the DLQ unreachable, say)
                await asyncio.gather(pending, return_exceptions=True)
        metrics.CONSUME_BATCH_SECONDS.labels(self.group_id).observe(time.perf_counter() - started)

    async def _parse(self, records: Sequence[ConsumerRecord]
                     ) -> list[tuple[ConsumerRecord, Envelope]]:
        """Envelopes of the records this consumer handles; poison goes to the DLQ at once.

        Records are validated in slices, a slice in one call when every record in it is an
        envelope, else record by record, which finds the poison. Yields to the event loop
        between slices, so a chunk being applied meanwhile progresses through its
        statements."""
        items: list[tuple[ConsumerRecord, Envelope]] = []
        for start in range(0, len(records), _PARSE_SLICE):
            part = records[start:start + _PARSE_SLICE]
            together = _parse_together(part)
            if together is None:
                items += await self._parse_each(part)
            else:
                wanted = self.event_types
                items += (item for item in zip(part, together) if item[1].event_type in wanted)
            await asyncio.sleep(0)
        return items

    async def _parse_each(self, records: Sequence[ConsumerRecord]
                          ) -> list[tuple[ConsumerRecord, Envelope]]:
        items: list[tuple[ConsumerRecord, Envelope]] = []
        for record in records:
            try:
                envelope = Envelope.from_bytes(record.value)
            except Exception as exc:  # noqa: BLE001 - unparseable = poison, never retried
                await self.dead_letters.send(record, exc, attempts=1)
                metrics.EVENTS_CONSUMED.labels(self.group_id, "dead_lettered").inc()
                continue
            if envelope.event_type in self.event_types:
                items.append((record, envelope))
        return items

    async def _apply_chunk(self, items: Sequence[tuple[ConsumerRecord, Envelope]]) -> None:
        try:
            await self._apply(items)
        except TRANSIENT_ERRORS:
            await asyncio.sleep(1.0)  # the batch comes back; do not spin
            raise
        except Exception:  # noqa: BLE001 - find the culprit one event at a time
            log.warning("batch failed; retrying its events one by one",
                        extra={"group": self.group_id, "size": len(items)})
            for record, envelope in items:
                await self._apply_one(record, envelope)

    async def _apply(self, items: Sequence[tuple[ConsumerRecord, Envelope]]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            ids = [e.event_id for _, e in items]
            status = await conn.execute(
                """INSERT INTO processed_events (consumer_group, event_id)
                   SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING""", self.group_id, ids)
            if int(status.rsplit(" ", 1)[1]) == len(ids):
                todo = [e for _, e in items]  # the usual case: every id is new
            else:
                # Some were seen before: the new ones are the rows this transaction wrote.
                fresh = set(await conn.fetchval(
                    """SELECT coalesce(array_agg(event_id), '{}') FROM processed_events
                       WHERE consumer_group = $1 AND event_id = ANY($2::uuid[])
                         AND xmin = pg_current_xact_id()::xid""", self.group_id, ids))
                todo = []
                for _, envelope in items:
                    if envelope.event_id in fresh:
                        fresh.discard(envelope.event_id)  # a duplicate inside the batch runs once
                        todo.append(envelope)
            await self._run_handlers(conn, todo)
        metrics.EVENTS_CONSUMED.labels(self.group_id, "applied").inc(len(todo))
        metrics.EVENTS_CONSUMED.labels(self.group_id, "duplicate").inc(len(items) - len(todo))

    async def _run_handlers(self, conn: asyncpg.Connection, events: list[Envelope]) -> None:
        if self.batch_handler is not None:
            if events:
                await self.batch_handler(conn, events)
            return
        for envelope in events:
            with log_context(event_id=str(envelope.event_id),
                             correlation_id=envelope.correlation_id, key=envelope.key):
                await self.handlers[envelope.event_type](conn, envelope)

    async def _apply_one(self, record: ConsumerRecord, envelope: Envelope) -> None:
        error: BaseException | None = None
        for attempt in range(1, self.attempts_max + 1):
            try:
                await self._apply([(record, envelope)])
                return
            except TRANSIENT_ERRORS:
                await asyncio.sleep(1.0)
                raise
            except Exception as exc:  # noqa: BLE001 - counted, then dead-lettered
                error = exc
                await asyncio.sleep(self.retry_backoff_s * attempt)
        assert error is not None
        await self.dead_letters.send(record, error, attempts=self.attempts_max)
        async with self.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO processed_events (consumer_group, event_id, dead_lettered)
                   VALUES ($1, $2, true) ON CONFLICT DO NOTHING""",
                self.group_id, envelope.event_id)
        metrics.EVENTS_CONSUMED.labels(self.group_id, "dead_lettered").inc()


_PARSE_SLICE = 100  # records parsed between yields (smaller keeps the database busier)


def _parse_together(records: Sequence[ConsumerRecord]) -> list[Envelope] | None:
    """The records' envelopes, in order, from one validation call; None when some record
    is not an envelope."""
    try:
        return Envelope.many_from_bytes([r.value for r in records])
    except Exception:  # noqa: BLE001 - parse them one by one, which finds the culprit
        return None


def _chunks(records: Sequence[ConsumerRecord], size: int) -> list[Sequence[ConsumerRecord]]:
    return [records[i:i + size] for i in range(0, len(records), size)]


async def _finish(task: asyncio.Task[None]) -> None:
    """Await a chunk's task; if this coroutine is cancelled, the chunk is still waited for
    (its transaction commits or rolls back before the batch is given up)."""
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.gather(task, return_exceptions=True)
        raise


def subscribe(broker: KafkaBroker, consumer: IdempotentConsumer, *topics: str,
              max_records: int = 1000, offset_reset: str = "earliest", **kwargs: Any) -> None:
    """Register a FastStream batch subscriber that feeds `consumer` and acks after it."""

    # `KafkaMessage` from faststream.kafka is Annotated with Context("message"): the raw
    # batch of ConsumerRecords, so parsing (and poison handling) stays ours.
    async def on_batch(message: KafkaMessage) -> None:
        await consumer.handle_records(message.raw_message)

    commits = _OffsetCommits(consumer.group_id)

    async def parse_batch(records: tuple[ConsumerRecord, ...]) -> KafkaMessage:
        return _parse_batch(subscriber, records, commits)

    on_batch.__name__ = f"on_{consumer.group_id.replace('.', '_').replace('-', '_')}"
    subscriber = broker.subscriber(
        *topics, group_id=consumer.group_id, batch=True, max_records=max_records,
        batch_timeout_ms=100, ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset=offset_reset, parser=parse_batch,
        decoder=_raw_batch, **kwargs,
    )
    subscriber(on_batch)


def _parse_batch(subscriber: Any, records: tuple[ConsumerRecord, ...],
                 commits: "_OffsetCommits") -> KafkaMessage:
    """FastStream's batch message, built as its own batch parser builds it, minus the
    per-record work nobody here reads: its parser decodes every record's headers into a
    dict, a tenth of the consumer's time at high rates. Headers stay on the records."""
    parser = subscriber.parser
    first = records[0]
    return _BatchMessage(
        body=[r.value for r in records], raw_message=records,
        message_id=f"{first.offset}-{records[-1].offset}-{first.timestamp}",
        path=match_path(parser.regex, first.topic), consumer=parser._consumer,
        commits=commits)


class _BatchMessage(KafkaAckableMessage):
    """FastStream's ackable batch message (nack rewinds every partition of the batch to its
    first record), except that ack sends the commit of this batch's own offsets and does not
    wait for the broker's answer: the next batch is fetched and applied meanwhile.

    Kafka takes a few milliseconds to answer a commit, about a tenth of a busy consumer's
    time. The commit is sent only after the batch's last transaction committed, so a commit
    that fails or never arrives (a crash, a rebalance) means the batch is delivered again
    and absorbed by the dedupe: at-least-once delivery and one effect per event hold.
    Commits are explicit offsets (the next record of each partition of this batch), not the
    consumer's position, which has moved on to the next batch by the time one is sent.
    """

    def __init__(self, *args: Any, commits: "_OffsetCommits", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._commits = commits

    async def ack(self) -> None:
        if not self.committed:
            self._commits.send(self.consumer, self.raw_message)
        await super(KafkaAckableMessage, self).ack()  # mark acked; the commit is sent


class _OffsetCommits:
    """One subscriber's offset commits, each sent after the one before it has finished."""

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id
        self._last: asyncio.Task[None] | None = None

    def send(self, consumer: Any, records: Sequence[ConsumerRecord]) -> None:
        # A batch holds each partition's records in offset order, so the last one wins (were
        # it otherwise, a lower offset would be committed: a redelivery, never a loss).
        last = {(r.topic, r.partition): r.offset for r in records}
        offsets = {TopicPartition(*tp): offset + 1 for tp, offset in last.items()}
        self._last = asyncio.create_task(self._commit(consumer, offsets, self._last))

    async def _commit(self, consumer: Any, offsets: dict[TopicPartition, int],
                      previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        try:
            await consumer.commit(offsets)
        except Exception as exc:  # noqa: BLE001 - the batch comes again; the dedupe absorbs it
            log.warning("offset commit failed; the batch may be delivered again",
                        extra={"group": self.group_id, "error": repr(exc)})

async def _raw_batch(message: KafkaMessage) -> list[bytes]:
    """FastStream's default batch decoder parses every record a second time (as JSON); the
    consumer parses envelopes itself, so the decoded body is just the raw values."""
    return message.body
