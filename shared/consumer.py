"""Idempotent, at-least-once consumers with dead letters.

A consumed batch is applied in PostgreSQL transactions of up to `chunk_size` events, one
after another in offset order: the event ids are inserted into `processed_events` (one
`INSERT ... SELECT unnest ... ON CONFLICT DO NOTHING` per chunk) and only the fresh events
reach their handlers, so a redelivered event has no second effect. Handlers are given typed
events (`Event`): each event's `data` is validated against its type's contract model
(`shared.contracts.registry`) before dispatch, and one that does not match is poison. While one chunk's
transaction runs, the next chunk is parsed. Offsets are committed only after the batch's
last transaction commits (FastStream's `AckPolicy.NACK_ON_ERROR` on a batch subscriber;
never its Kafka default, which commits before the handler runs); the commit is sent without
waiting for Kafka's answer, so the next batch is applied meanwhile.

If a chunk fails, it is split in halves and each half applied on its own, again and again,
until the failing events stand alone (a few bad events among a thousand cost a few dozen
transactions, not a thousand). An event that fails alone with a deterministic error (an
invalid value: `ValueError`, pydantic's `ValidationError`, `KeyError`, `TypeError`, bad
data refused by PostgreSQL, or `PoisonEventError` raised by a handler) would fail the same
way every time: it is dead-lettered at once. Any other error is retried alone with backoff,
up to `attempts_max` attempts in all. A dead letter is published to `dlq.<group>` with its
error and origin (redacted; the original is sealed in the service's database for
replay), recorded as dead-lettered, and the consumer moves on; so is, without reaching a
transaction, an event whose `data` does not match its contract. Infrastructure
errors (database or broker unreachable) are not the message's fault: they propagate, the
batch is not acknowledged and comes back later.

Event types the consumer does not handle are skipped, never silently: each is counted in
`events_skipped_total{group, event_type, registered}` (`registered` says whether the
topic's contract in `shared.contracts.topics` lists the type), the first of each type is
logged once per process, and with `dead_letter_unknown` a type the contract does not list
(contract drift) is dead-lettered instead of skipped.
"""
from __future__ import annotations

import asyncio
import logging
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Literal, cast

import asyncpg
import orjson
import pydantic
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy
from opentelemetry.trace import SpanKind

from shared import dead_letters, faststream_adapter, metrics, tracing
from shared.contracts.base import Payload
from shared.contracts.envelope import HEADER_EVENT_TYPE, Envelope, Event, read_event
from shared.contracts.registry import PAYLOADS
from shared.contracts.topics import TOPICS, dlq_topic
from shared.logging import log_context

log = logging.getLogger(__name__)

# Handlers are given typed events: `event.data` is the contract's payload model.
Handler = Callable[[asyncpg.Connection, Event[Any]], Awaitable[None]]
BatchHandler = Callable[[asyncpg.Connection, list[Event[Any]]], Awaitable[None]]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError, asyncio.TimeoutError, asyncpg.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError, asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.AdminShutdownError,
)



class PoisonEventError(Exception):
    """Raised by a handler for an event that can never be applied: dead-lettered at once."""


class UnknownEventTypeError(Exception):
    """An event type the topic's contract does not list (the dead letter's error)."""


# Errors that an event's own content causes: a retry would fail the same way.
DETERMINISTIC_ERRORS: tuple[type[BaseException], ...] = (
    PoisonEventError, pydantic.ValidationError, ValueError, KeyError, TypeError,
    asyncpg.exceptions.DataError,
)

# Distinct event-type labels of the skipped-events counter, per consumer: a producer
# sending random types must not grow the metrics without limit.
_SKIPPED_LABELS_MAX = 50


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
        kept = False
        if self.pool is not None and self.vault is not None:
            await dead_letters.keep(self.pool, self.vault, dead_letter_id, self.group_id, record,
                                    dead_letters.event_id_of(record.value),
                                    error=f"{type(error).__name__}: {error}", attempts=attempts)
            kept = True
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
                 chunk_size: int = 1000, dead_letter_unknown: bool = False) -> None:
        assert (handlers is None) != (batch_handler is None), "handlers or batch_handler"
        assert 1 <= attempts_max <= 20
        self.pool = pool
        self.group_id = group_id
        self.service = group_id.split(".", 1)[0]  # groups are named <service>.<purpose>
        self.dead_letters = dead_letters
        self.handlers = dict(handlers or {})
        self.batch_handler = batch_handler
        self.event_types = frozenset(event_types or self.handlers)
        self.attempts_max = attempts_max
        self.retry_backoff_s = retry_backoff_s
        self.chunk_size = chunk_size
        self.dead_letter_unknown = dead_letter_unknown
        self._skipped_labels: set[str] = set()
        self._skipped_logged: set[str] = set()

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
                     ) -> list[tuple[ConsumerRecord, Event[Any]]]:
        """Typed events of the records this consumer handles; poison goes to the DLQ at once.

        Records are validated in slices, a slice in one call when every record in it is an
        envelope, else record by record, which finds the poison; then the `data` of the
        events handled is validated against the contracts (`_typed`). Yields to the event
        loop between slices, so a chunk being applied meanwhile progresses through its
        statements."""
        items: list[tuple[ConsumerRecord, Event[Any]]] = []
        wanted = self.event_types
        for start in range(0, len(records), _PARSE_SLICE):
            part = records[start:start + _PARSE_SLICE]
            typed = _typed_together(part, wanted)
            if typed is not None:
                items += typed
                await asyncio.sleep(0)
                continue
            together = _parse_together(part)
            parsed = await self._parse_each(part) if together is None else list(zip(part, together))
            if not all(e.event_type in wanted for _, e in parsed):
                await self._skip([item for item in parsed if item[1].event_type not in wanted])
                parsed = [item for item in parsed if item[1].event_type in wanted]
            items += await self._typed(parsed)
            await asyncio.sleep(0)
        return items

    async def _typed(self, parsed: Sequence[tuple[ConsumerRecord, Envelope]]
                     ) -> list[tuple[ConsumerRecord, Event[Any]]]:
        """The events with their `data` validated against the registry's model of their
        type (unknown fields ignored), in order. An event whose payload does not match its
        contract can never be applied: it is dead-lettered at once like any poison event
        (and recorded as such), and the others go on. The events of one type are validated
        in one call; only when that fails is each validated alone, to find the culprits.
        A type the contracts do not name (a test's own, say) keeps its `data` dict."""
        by_type: dict[str, list[int]] = {}
        for i, (_, envelope) in enumerate(parsed):
            by_type.setdefault(envelope.event_type, []).append(i)
        payloads: list[Any] = [None] * len(parsed)
        poison: dict[int, BaseException] = {}
        for event_type, positions in by_type.items():
            model = PAYLOADS.get(event_type)
            if model is None:
                for i in positions:
                    payloads[i] = parsed[i][1].data
                continue
            try:
                values = _list_of(model).validate_python(
                    [parsed[i][1].data for i in positions], extra="ignore")
            except pydantic.ValidationError:
                values = []
                for i in positions:
                    try:
                        values.append(model.read(parsed[i][1].data))
                    except pydantic.ValidationError as exc:
                        poison[i] = exc
                        values.append(None)
            for i, value in zip(positions, values):
                payloads[i] = value
        events = [(record, Event.of(envelope, payload))
                  for (record, envelope), payload in zip(parsed, payloads)]
        if not poison:
            return events
        await self._dead_letter([(*events[i], exc, 1) for i, exc in sorted(poison.items())])
        return [item for i, item in enumerate(events) if i not in poison]

    async def _parse_each(self, records: Sequence[ConsumerRecord]
                          ) -> list[tuple[ConsumerRecord, Envelope]]:
        """Every record that is an envelope; the others (poison) are dead-lettered at once."""
        items: list[tuple[ConsumerRecord, Envelope]] = []
        poison: list[tuple[ConsumerRecord, BaseException]] = []
        for record in records:
            try:
                items.append((record, Envelope.from_bytes(record.value)))
            except Exception as exc:  # noqa: BLE001 - unparseable = poison, never retried
                poison.append((record, exc))
        await asyncio.gather(*(self.dead_letters.send(r, e, attempts=1) for r, e in poison))
        metrics.EVENTS_CONSUMED.labels(self.group_id, "dead_lettered").inc(len(poison))
        return items

    async def _skip(self, items: Sequence[tuple[ConsumerRecord, Envelope]]) -> None:
        """Count (and log the first of each type, and optionally dead-letter) the events of
        types this consumer has no handler for."""
        counts: Counter[tuple[str, str]] = Counter()
        unknown: list[tuple[ConsumerRecord, Event[Any], BaseException, int]] = []
        for record, envelope in items:
            event_type = envelope.event_type
            topic = TOPICS.get(record.topic)
            registered = topic is not None and event_type in topic.event_types
            if event_type not in self._skipped_labels and len(self._skipped_labels) < _SKIPPED_LABELS_MAX:
                self._skipped_labels.add(event_type)
            label = event_type if event_type in self._skipped_labels else "other"
            counts[label, "true" if registered else "false"] += 1
            if event_type not in self._skipped_logged and len(self._skipped_logged) < 1000:
                self._skipped_logged.add(event_type)
                log.log(logging.INFO if registered else logging.WARNING,
                        "event type not handled; skipped (logged once per type)", extra={
                            "group": self.group_id, "topic": record.topic,
                            "event_type": event_type[:100], "registered": registered,
                            "event_id": str(envelope.event_id)})
            if not registered and self.dead_letter_unknown:
                unknown.append((record, Event.of(envelope, envelope.data), UnknownEventTypeError(
                    f"event type {event_type!r} is not in the contract of topic {record.topic}"), 1))
        for (label, registered_label), n in counts.items():
            metrics.EVENTS_SKIPPED.labels(self.group_id, label, registered_label).inc(n)
        if unknown:
            await self._dead_letter(unknown)

    async def _apply_chunk(self, items: Sequence[tuple[ConsumerRecord, Event[Any]]]) -> None:
        try:
            await self._apply(items)
        except TRANSIENT_ERRORS:
            await asyncio.sleep(1.0)  # the batch comes back; do not spin
            raise
        except Exception as exc:  # noqa: BLE001 - find the culprits by halving the chunk
            log.warning("chunk failed; applying it in halves to find the failing events",
                        extra={"group": self.group_id, "size": len(items),
                               "error_type": type(exc).__name__})
            dead: list[tuple[ConsumerRecord, Event[Any], BaseException, int]] = []
            await self._bisect(items, exc, dead)
            if dead:
                await self._dead_letter(dead)

    async def _bisect(self, items: Sequence[tuple[ConsumerRecord, Event[Any]]],
                      error: BaseException,
                      dead: list[tuple[ConsumerRecord, Event[Any], BaseException, int]]) -> None:
        """`items` failed together with `error`: apply each half on its own (in order, so
        good events keep their order), halving again whatever fails; a group small enough is
        applied event by event in one transaction (a savepoint each), which is cheaper than
        halving down to single events when poison is dense. The events that cannot be
        applied are added to `dead`."""
        if len(items) == 1:
            await self._resolve_failed(items[0], error, dead)
            return
        if len(items) <= _EACH_MAX:
            for item, exc in await self._apply_each(items):
                await self._resolve_failed(item, exc, dead)
            return
        middle = len(items) // 2
        for half in (items[:middle], items[middle:]):
            try:
                await self._apply(half)
            except TRANSIENT_ERRORS:
                await asyncio.sleep(1.0)
                raise
            except Exception as exc:  # noqa: BLE001 - halve again
                await self._bisect(half, exc, dead)

    async def _resolve_failed(self, item: tuple[ConsumerRecord, Event[Any]], error: BaseException,
                              dead: list[tuple[ConsumerRecord, Event[Any], BaseException, int]]) -> None:
        """One event failed alone: dead-lettered at once if the error is deterministic, else
        retried with backoff and dead-lettered if it keeps failing."""
        record, envelope = item
        if isinstance(error, DETERMINISTIC_ERRORS):
            dead.append((record, envelope, error, 1))
            return
        last = await self._retry_one(record, envelope, error)
        if last is not None:
            dead.append((record, envelope, last, self.attempts_max))

    async def _apply_each(self, items: Sequence[tuple[ConsumerRecord, Event[Any]]]
                          ) -> list[tuple[tuple[ConsumerRecord, Event[Any]], BaseException]]:
        """Apply events one by one in one transaction, each in a savepoint, so a failing event
        undoes only itself; returns the failing events with their errors."""
        failures: list[tuple[tuple[ConsumerRecord, Event[Any]], BaseException]] = []
        applied = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for item in items:
                try:
                    # A savepoint. One event at a time, so `_record_and_run` never needs
                    # its xmin test, which sees only the top transaction's own rows.
                    async with conn.transaction():
                        applied += await self._record_and_run(conn, [item])
                except TRANSIENT_ERRORS:
                    await asyncio.sleep(1.0)
                    raise
                except Exception as exc:  # noqa: BLE001 - this event alone
                    failures.append((item, exc))
        metrics.EVENTS_CONSUMED.labels(self.group_id, "applied").inc(applied)
        return failures

    async def _retry_one(self, record: ConsumerRecord, envelope: Event[Any],
                         error: BaseException) -> BaseException | None:
        """Attempts 2 to `attempts_max` of an event that failed alone with `error`, one that
        may pass (not a deterministic one), with backoff; the last error, or None once applied."""
        for attempt in range(2, self.attempts_max + 1):
            await asyncio.sleep(self.retry_backoff_s * (attempt - 1))
            try:
                await self._apply([(record, envelope)])
                return None
            except TRANSIENT_ERRORS:
                await asyncio.sleep(1.0)
                raise
            except DETERMINISTIC_ERRORS as exc:
                return exc
            except Exception as exc:  # noqa: BLE001 - counted, then dead-lettered
                error = exc
        return error

    async def _dead_letter(self, dead: Sequence[tuple[ConsumerRecord, Event[Any], BaseException, int]]
                           ) -> None:
        """Publish the dead letters (concurrently: the producer batches them) and record
        their events as dead-lettered, in one statement."""
        await asyncio.gather(*(self.dead_letters.send(record, error, attempts=attempts)
                               for record, _, error, attempts in dead))
        async with self.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO processed_events (consumer_group, event_id, dead_lettered)
                   SELECT $1, unnest($2::uuid[]), true ON CONFLICT DO NOTHING""",
                self.group_id, [envelope.event_id for _, envelope, _, _ in dead])
        metrics.EVENTS_CONSUMED.labels(self.group_id, "dead_lettered").inc(len(dead))

    async def _apply(self, items: Sequence[tuple[ConsumerRecord, Event[Any]]]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            applied = await self._record_and_run(conn, items)
        metrics.EVENTS_CONSUMED.labels(self.group_id, "applied").inc(applied)
        metrics.EVENTS_CONSUMED.labels(self.group_id, "duplicate").inc(len(items) - applied)

    async def _record_and_run(self, conn: asyncpg.Connection,
                              items: Sequence[tuple[ConsumerRecord, Event[Any]]]) -> int:
        """Record the events' ids as processed and run the handlers of the fresh ones, in
        the caller's transaction; returns how many were fresh."""
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
        parents = ({e.event_id: tracing.record_header(r.headers) for r, e in items}
                   if tracing.enabled() else None)
        await self._run_handlers(conn, todo, parents)
        return len(todo)

    async def _run_handlers(self, conn: asyncpg.Connection, events: list[Event[Any]],
                            parents: dict[Any, str | None] | None = None) -> None:
        """Each event's handler, in a consumer span that continues the trace of the action
        that published it (`parents`: event id -> traceparent, while tracing is on)."""
        if self.batch_handler is not None:
            if not events:
                return
            if parents is None:
                await self.batch_handler(conn, events)
                return
            # One handler call applies the whole batch: each event gets a receipt span in
            # its own trace, which what the handler stores for it continues
            # (`tracing.parent_of`), and the batch's span links them all.
            receipts: dict[Any, str | None] = {}
            for envelope in events:
                with tracing.span(self.service, f"consume {envelope.event_type}",
                                  parent=parents.get(envelope.event_id), kind=SpanKind.CONSUMER,
                                  attributes={"messaging.consumer.group.name": self.group_id}):
                    receipts[envelope.event_id] = tracing.current_traceparent()
            with tracing.span(self.service, f"consume {self.group_id} batch", kind=SpanKind.CONSUMER,
                              links=[p for p in receipts.values() if p]), tracing.batch_parents(receipts):
                await self.batch_handler(conn, events)
            return
        for envelope in events:
            with log_context(event_id=str(envelope.event_id),
                             correlation_id=envelope.correlation_id, key=envelope.key), \
                    tracing.span(self.service, f"consume {envelope.event_type}",
                                 parent=parents.get(envelope.event_id) if parents else None,
                                 kind=SpanKind.CONSUMER,
                                 attributes={"messaging.consumer.group.name": self.group_id}):
                await self.handlers[envelope.event_type](conn, envelope)

_EACH_MAX = 16  # a failing group this small is applied event by event (savepoints)
_PARSE_SLICE = 100  # records parsed between yields (smaller keeps the database busier)


_LIST_ADAPTERS: dict[type[Payload], pydantic.TypeAdapter[list[Any]]] = {}


def _list_of(model: type[Payload]) -> pydantic.TypeAdapter[list[Any]]:
    """A validator of a list of `model` (one call validates a slice's events of a type)."""
    adapter = _LIST_ADAPTERS.get(model)
    if adapter is None:
        adapter = _LIST_ADAPTERS[model] = pydantic.TypeAdapter(list[model])  # type: ignore[valid-type]
    return adapter


def _header_type(record: ConsumerRecord) -> str | None:
    for name, value in record.headers or ():
        if name == HEADER_EVENT_TYPE:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else None
    return None


def _typed_together(records: Sequence[ConsumerRecord], wanted: frozenset[str]
                    ) -> list[tuple[ConsumerRecord, Event[Any]]] | None:
    """The usual case in one pass: every record names its type in its `event_type` header
    (as the outbox relay writes it), the type is handled here and has a contract, and the
    record is an envelope of that type with a valid payload (`read_event`: the envelope
    decoded by msgspec, the payload validated by its pydantic model, unknown fields
    ignored). None when anything differs (no header, a type not handled or not in the
    contracts, an envelope `read_event` does not read, a payload that does not match, a
    body whose type is not its header's): the careful path then finds the poison and the
    skips."""
    items: list[tuple[ConsumerRecord, Event[Any]]] = []
    for record in records:
        event_type = _header_type(record)
        if event_type is None or event_type not in wanted or record.value is None:
            return None
        model = PAYLOADS.get(event_type)
        if model is None:
            return None
        event = read_event(record.value, event_type, model)
        if event is None:
            return None
        items.append((record, event))
    return items


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
              max_records: int = 1000, offset_reset: Literal["earliest", "latest"] = "earliest",
              **kwargs: Any) -> None:
    """Register a FastStream batch subscriber that feeds `consumer` and acks after it."""

    # `KafkaMessage` from faststream.kafka is Annotated with Context("message"): the raw
    # batch of ConsumerRecords, so parsing (and poison handling) stays ours.
    async def on_batch(message: KafkaMessage) -> None:
        await consumer.handle_records(message.raw_message)

    commits = _OffsetCommits(consumer.group_id)

    # FastStream's batch message, built as its own batch parser builds it, minus the
    # per-record work nobody here reads: its parser decodes every record's headers into a
    # dict, a tenth of the consumer's time at high rates. Headers stay on the records. Its
    # ack sends the commit of the batch's own offsets and does not wait for the answer.
    async def parse_batch(records: tuple[ConsumerRecord, ...]) -> KafkaMessage:
        return faststream_adapter.batch_message(subscriber, records, commits.send)

    on_batch.__name__ = f"on_{consumer.group_id.replace('.', '_').replace('-', '_')}"
    subscriber = broker.subscriber(
        *topics, group_id=consumer.group_id, batch=True, max_records=max_records,
        batch_timeout_ms=100, ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset=offset_reset, parser=parse_batch,
        decoder=_raw_batch, **kwargs,
    )
    subscriber(on_batch)


class _OffsetCommits:
    """One subscriber's offset commits, each sent after the one before it has finished.

    Kafka takes a few milliseconds to answer a commit, about a tenth of a busy consumer's
    time. The commit is sent only after the batch's last transaction committed, so a commit
    that fails or never arrives (a crash, a rebalance) means the batch is delivered again
    and absorbed by the dedupe: at-least-once delivery and one effect per event hold.
    Commits are explicit offsets (the next record of each partition of this batch), not the
    consumer's position, which has moved on to the next batch by the time one is sent.
    """

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
    # A batch message's body is the list of its records' values (typed as one record's).
    return cast(list[bytes], message.body)
