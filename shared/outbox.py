"""The transactional outbox: write events with the state change, publish them with a relay.

`enqueue` inserts rows on the caller's connection, inside the caller's transaction, so an
event exists if and only if its state change committed. `OutboxRelay` claims unsent rows in
id order by deleting them (`DELETE ... RETURNING`) in a transaction it keeps open, publishes
them with an idempotent producer (`acks=all`), and commits the delete only once the broker
has confirmed the whole batch. If the relay dies before that commit, its transaction rolls
back, the rows are there again and are published again: consumers absorb that duplicate by
`event_id`. A row in the table is an event not yet confirmed by Kafka; the published events
are on their topics (kept by the topic's retention), so the table stays as small as the
relay's backlog. Deleting costs PostgreSQL a quarter of what reading then marking rows
sent did (no new row version, no index entries): the outbox database's share of
bench/backbone.py fell from about 3.8 to 1.0 CPU-seconds per 200,000 events.

Several relay replicas are safe: one leads at a time (a PostgreSQL advisory lock held on
its connection), so events of one key keep their order on the topic (two replicas
publishing interleaved batches could reorder them); the others stand by and take over
within a second of the leader's death, since its lock dies with its connection. The
one-shot `publish_batch` claims rows under the same lock; and a row is claimed by deleting
it, which only one transaction can do.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from functools import lru_cache
from operator import itemgetter
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from shared import business_metrics, locks, metrics, tracing
from shared.contracts.base import Payload
from shared.contracts.envelope import (
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_EVENT_VERSION,
    Envelope,
    Event,
)
from shared.contracts.topics import topic_for
from shared.db import advisory_lock
from shared.kafka import PLAINTEXT, KafkaAuth

log = logging.getLogger(__name__)


async def enqueue(conn: asyncpg.Connection, *payloads: Payload, key: str,
                  cause: Envelope | Event[Any] | None = None, correlation_id: str | None = None,
                  topic: str | None = None) -> None:
    """Record events for publication in the caller's transaction, one per payload, all
    under `key`: each envelope is built from its payload (`Envelope.of`: type, version,
    data), caused by `cause` when given (its correlation id, causation = its event id)."""
    if cause is not None:
        correlation_id, causation_id = cause.correlation_id, str(cause.event_id)
    else:
        causation_id = None
    await enqueue_many(conn, [Envelope.of(p, key=key, correlation_id=correlation_id,
                                          causation_id=causation_id) for p in payloads],
                       topic=topic)


async def enqueue_many(conn: asyncpg.Connection, events: Iterable[Envelope],
                       topic: str | None = None) -> None:
    """Record envelopes (built with `Envelope.of`, or `caused`, when events for several keys
    are written at once); each goes to its type's topic unless `topic` names another (a v2
    topic published beside v1, say).

    The rows go in by `COPY` (binary), in the caller's transaction like any insert and in
    the order given (the ids the relay publishes by): PostgreSQL spends half the CPU on
    5,000 rows that one `INSERT` a row (`executemany`) costs it, and no more on a single row.
    """
    rows = _rows(events, topic)
    if not rows:
        return
    await conn.copy_records_to_table("outbox", records=rows, columns=_OUTBOX_COLUMNS)


_OUTBOX_COLUMNS = ("event_id", "topic", "key", "event_type", "event_version", "payload", "traceparent")
_OUTBOX_TYPES = ("uuid", "text", "text", "text", "int", "bytea", "text")


def _rows(events: Iterable[Envelope], topic: str | None) -> list[tuple[Any, ...]]:
    traceparent = tracing.current_traceparent()
    return [(e.event_id, topic or topic_for(e.event_type), e.key, e.event_type,
             e.event_version, e.to_bytes(), traceparent) for e in events]


def insert_sql(first: int) -> str:
    """An `INSERT` of outbox rows given as one array per column (`row_arrays`), its
    parameters numbered from `$first`: for a caller that writes its state change and its
    events in one statement (one round trip, where a transaction around a change and a
    `COPY` takes five), which is worth it for small groups written often."""
    params = ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(_OUTBOX_TYPES))
    return f"""INSERT INTO outbox ({", ".join(_OUTBOX_COLUMNS)})
        SELECT {", ".join(_OUTBOX_COLUMNS)} FROM unnest({params})
            WITH ORDINALITY AS r({", ".join(_OUTBOX_COLUMNS)}, n)
        ORDER BY n"""


def row_arrays(events: Iterable[Envelope], topic: str | None = None) -> list[list[Any]]:
    """The envelopes as `insert_sql` takes them (in order, to the same topics as
    `enqueue_many` sends them)."""
    rows = _rows(events, topic)
    return [[r[i] for r in rows] for i in range(len(_OUTBOX_COLUMNS))]


@lru_cache(maxsize=100_000)
def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2 of the key), as every Kafka client computes it."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


def make_producer(bootstrap: str, client_id: str, auth: KafkaAuth = PLAINTEXT) -> AIOKafkaProducer:
    """The idempotent producer all publishing goes through (as the process's Kafka user)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, client_id=client_id, acks="all",
        enable_idempotence=True, linger_ms=5, max_batch_size=256 * 1024,
        request_timeout_ms=30000, **auth.client_options())


class OutboxRelay:
    """Publishes outbox rows in batches; one per service process, one leader at a time."""

    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer, *,
                 batch_size: int = 2000, idle_poll_s: float = 0.05,
                 max_inflight: int = 3, standby_poll_s: float = 1.0) -> None:
        assert 0 < batch_size <= 10_000 and 1 <= max_inflight <= 10
        self.pool = pool
        self.producer = producer
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        self.max_inflight = max_inflight
        self.standby_poll_s = standby_poll_s
        self.is_leader = False
        self._stopping = asyncio.Event()

    async def _send(self, rows: list[asyncpg.Record]) -> list[asyncio.Future[Any]]:
        """Hand rows to the producer in id order, grouped into one record batch per
        partition (Kafka's default key partitioning); returns one confirmation per batch.

        Per-message `send()` costs more CPU than the broker round trip at these rates
        (a future and a pure-Python murmur2 per message); record batches keep the same
        partition choice and order for a fraction of it.
        """
        futures: list[asyncio.Future[Any]] = []
        builders: dict[tuple[str, int], Any] = {}
        partitions: dict[str, int] = {}
        type_headers: dict[tuple[str, int], tuple[tuple[str, bytes], ...]] = {}
        for _, topic, key_text, event_type, event_version, event_id, payload, traceparent in rows:
            count = partitions.get(topic)
            if count is None:
                count = partitions[topic] = len(await self.producer.partitions_for(topic))
            key = key_text.encode()
            slot = (topic, partition_for(key, count))
            kind = type_headers.get((event_type, event_version))
            if kind is None:
                kind = type_headers[(event_type, event_version)] = (
                    (HEADER_EVENT_TYPE, event_type.encode()),
                    (HEADER_EVENT_VERSION, str(event_version).encode()))
            headers = [*kind, (HEADER_EVENT_ID, str(event_id).encode())]
            if traceparent is not None:
                headers.append((tracing.HEADER, traceparent.encode()))
            builder = builders.get(slot)
            if builder is None:
                builder = builders[slot] = self.producer.create_batch()
            if builder.append(key=key, value=payload, timestamp=None, headers=headers) is None:
                futures.append(await self._submit(builder, slot))
                builder = builders[slot] = self.producer.create_batch()
                appended = builder.append(key=key, value=payload, timestamp=None, headers=headers)
                assert appended is not None, "one event larger than a record batch"
        for slot, builder in builders.items():
            futures.append(await self._submit(builder, slot))
        return futures

    async def _submit(self, builder: Any, slot: tuple[str, int]) -> asyncio.Future[Any]:
        builder.close()
        confirmation: asyncio.Future[Any] = await self.producer.send_batch(builder, slot[0], partition=slot[1])
        return confirmation

    async def publish_batch(self) -> int:
        """Publish one batch and delete it, in one transaction (operators' and tests' one-shot
        use); returns how many rows were published, 0 when idle or another relay leads."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)",
                                       locks.OUTBOX_RELAY):
                return 0
            rows = await _claim(conn, 0, self.batch_size)
            if not rows:
                return 0
            await self._confirmed(await self._send(rows))
        metrics.OUTBOX_PUBLISHED.inc(len(rows))
        business_metrics.observe(rows)
        return len(rows)

    async def _confirmed(self, futures: list[asyncio.Future[Any]]) -> None:
        """Wait until Kafka has confirmed every record batch of a claimed batch."""
        await asyncio.gather(*futures)

    async def _lead(self) -> None:
        """Publish as the leader, pipelined: while Kafka confirms batch k (its transaction
        still open), batch k+1 is claimed on another connection and handed to the producer,
        which keeps per-partition order. Up to `max_inflight` batches are open at once, and
        after a full batch the next one is claimed (PostgreSQL's work) while this one is
        handed to the producer (the relay's).

        A cursor skips rows claimed by batches in flight (their deletes are not committed,
        so the rows are still visible). A row whose transaction committed late with a lower
        id than the cursor is not lost: whenever the relay catches up it waits for everything
        in flight and starts again from the lowest id.
        """
        cursor = 0
        inflight: deque[asyncio.Task[None]] = deque()
        claiming: asyncio.Task[_Claim] | None = None
        try:
            while not self._stopping.is_set():
                batch = await (claiming or _Claim.open(self.pool, cursor, self.batch_size))
                claiming = None
                full = len(batch.rows) == self.batch_size
                if full:  # more is waiting, most likely: claim it meanwhile
                    claiming = asyncio.create_task(
                        _Claim.open(self.pool, batch.rows[-1]["id"], self.batch_size))
                if batch.rows:
                    try:
                        futures = await self._send(batch.rows)
                    except BaseException:
                        await batch.close(commit=False)
                        raise
                    cursor = batch.rows[-1]["id"]
                    inflight.append(asyncio.create_task(self._finish(batch, futures)))
                else:
                    await batch.close(commit=False)
                while inflight and (not full or len(inflight) >= self.max_inflight):
                    await inflight.popleft()  # a failure propagates: rows stay unsent
                if not full:  # caught up
                    cursor = 0
                    if not batch.rows:
                        await self._sleep(self.idle_poll_s)
        finally:
            if claiming is not None:
                await _abandon(claiming)
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)

    async def _finish(self, batch: _Claim, futures: list[asyncio.Future[Any]]) -> None:
        try:
            await self._confirmed(futures)
        except BaseException:
            await batch.close(commit=False)
            raise
        await batch.close(commit=True)
        metrics.OUTBOX_PUBLISHED.inc(len(batch.rows))
        business_metrics.observe(batch.rows)

    async def run(self) -> None:
        """Publish until stopped. One replica leads (a session advisory lock held on its own
        connection); the others stand by and take over when the leader's connection ends."""
        while not self._stopping.is_set():
            try:
                async with advisory_lock(self.pool, locks.OUTBOX_RELAY) as leader:
                    if not leader:
                        await self._sleep(self.standby_poll_s)
                        continue
                    self.is_leader = True
                    try:
                        await self._lead()
                    finally:
                        self.is_leader = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: rows stay unsent, retried
                log.warning("outbox relay failed; will retry", extra={"error": repr(exc)})
                await self._sleep(1.0)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    def stop(self) -> None:
        self._stopping.set()


# The columns `_send` unpacks, in its order.
# The ids are picked first, as an array (one ordered walk of the primary key), then each
# row is deleted by its id. Written as `id IN (subquery)`, PostgreSQL could plan a join
# that scans the whole table, dead rows of earlier batches included, once per claim: in
# bench/month_end.py (20,000 households) that was the busiest statement of the run.
_CLAIM = """DELETE FROM outbox
            WHERE id = ANY(ARRAY(SELECT id FROM outbox WHERE id > $1 ORDER BY id LIMIT $2))
            RETURNING id, topic, key, event_type, event_version, event_id, payload, traceparent"""


async def _claim(conn: asyncpg.Connection, after: int, limit: int) -> list[asyncpg.Record]:
    """Delete (in the caller's transaction) and return the first `limit` rows after id
    `after`, in id order.

    Two claimers can never both return a row: the second one's delete waits for the first
    transaction, then finds the row gone. (`DELETE ... RETURNING` gives rows in no
    particular order; they are sorted here, where it costs less than in PostgreSQL.)
    """
    rows: list[asyncpg.Record] = await conn.fetch(_CLAIM, after, limit)
    rows.sort(key=_ID)
    return rows


_ID = itemgetter(0)


class _Claim:
    """A claimed batch: its rows and the open transaction that deleted them."""

    def __init__(self, pool: asyncpg.Pool, conn: asyncpg.Connection, tx: Any,
                 rows: list[asyncpg.Record]) -> None:
        self.pool, self.conn, self.tx, self.rows = pool, conn, tx, rows

    @classmethod
    async def open(cls, pool: asyncpg.Pool, after: int, limit: int) -> _Claim:
        conn = await pool.acquire()
        tx = conn.transaction()
        try:
            await tx.start()
            rows = await _claim(conn, after, limit)
        except BaseException:
            await _release(pool, conn, tx)
            raise
        return cls(pool, conn, tx, rows)

    async def close(self, *, commit: bool) -> None:
        """Commit (the rows are published) or roll back (they will be published again)."""
        try:
            if commit:
                await self.tx.commit()
        finally:
            await _release(self.pool, self.conn, self.tx)


async def _abandon(claiming: asyncio.Task[_Claim]) -> None:
    """Roll back a claim that will not be sent (or stop it being made)."""
    claiming.cancel()
    try:
        claim = await claiming
    except BaseException:  # noqa: BLE001 - cancelled or failed: nothing was claimed
        return
    await claim.close(commit=False)


async def _release(pool: asyncpg.Pool, conn: asyncpg.Connection, tx: Any) -> None:
    """Roll back what is still open, then give the connection back to the pool (asyncpg
    resets it either way; a connection that broke is closed by the pool)."""
    try:
        if conn.is_in_transaction():
            await tx.rollback()
    except Exception:  # noqa: BLE001 - a broken connection: the pool discards it
        pass
    finally:
        await pool.release(conn)
