"""The transactional outbox: write events with the state change, publish them with a relay.

`enqueue` inserts rows on the caller's connection, inside the caller's transaction, so an
event exists if and only if its state change committed. `OutboxRelay` reads unsent rows in
id order, publishes them with an idempotent producer (`acks=all`), waits for the broker's
confirmation of the whole batch, then marks the batch sent in the same transaction that
locked it. If the relay dies between publishing and marking, the rows are published again
after restart: consumers absorb that duplicate by `event_id`.

Several relay replicas are safe: one leads at a time (a PostgreSQL advisory lock held on
its connection), so events of one key keep their order on the topic (two replicas
publishing interleaved batches could reorder them); the others stand by and take over
within a second of the leader's death, since its lock dies with its connection. The
one-shot `publish_batch` claims rows with `FOR UPDATE SKIP LOCKED` under the same lock.

Sent rows are kept `keep_sent` (7 days) for inspection, then the leader deletes them
(`purge_sent`, hourly, when it has caught up), so the table does not grow without end.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from datetime import timedelta
from functools import lru_cache
from typing import Any
from collections.abc import Iterable

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from shared.contracts.envelope import Envelope
from shared.contracts.topics import topic_for
from shared import metrics

log = logging.getLogger(__name__)

RELAY_LOCK_ID = 7_100_002


async def enqueue(conn: asyncpg.Connection, *events: Envelope, topic: str | None = None) -> None:
    """Record events for publication in the caller's transaction."""
    await enqueue_many(conn, events, topic=topic)


async def enqueue_many(conn: asyncpg.Connection, events: Iterable[Envelope],
                       topic: str | None = None) -> None:
    """Record events; each goes to its type's topic unless `topic` names another (a v2
    topic published beside v1, say)."""
    rows = [(e.event_id, topic or topic_for(e.event_type), e.key, e.event_type,
             e.event_version, e.to_bytes()) for e in events]
    if not rows:
        return
    await conn.executemany(
        """INSERT INTO outbox (event_id, topic, key, event_type, event_version, payload)
           VALUES ($1, $2, $3, $4, $5, $6)""", rows)


@lru_cache(maxsize=100_000)
def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2 of the key), as every Kafka client computes it."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def make_producer(bootstrap: str, client_id: str) -> AIOKafkaProducer:
    """The idempotent producer all publishing goes through."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, client_id=client_id, acks="all",
        enable_idempotence=True, linger_ms=5, max_batch_size=256 * 1024,
        request_timeout_ms=30000)


class OutboxRelay:
    """Publishes outbox rows in batches; one per service process, one leader at a time."""

    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer, *,
                 batch_size: int = 2000, idle_poll_s: float = 0.05,
                 max_inflight: int = 3, standby_poll_s: float = 1.0,
                 keep_sent: timedelta = timedelta(days=7), purge_every_s: float = 3600.0) -> None:
        assert 0 < batch_size <= 10_000 and 1 <= max_inflight <= 10
        self.pool = pool
        self.producer = producer
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        self.max_inflight = max_inflight
        self.standby_poll_s = standby_poll_s
        self.keep_sent = keep_sent
        self.purge_every_s = purge_every_s
        self._next_purge = 0.0
        self.is_leader = False
        self._stopping = asyncio.Event()

    async def _send(self, rows: list[asyncpg.Record]) -> list[asyncio.Future]:
        """Hand rows to the producer in id order, grouped into one record batch per
        partition (Kafka's default key partitioning); returns one confirmation per batch.

        Per-message `send()` costs more CPU than the broker round trip at these rates
        (a future and a pure-Python murmur2 per message); record batches keep the same
        partition choice and order for a fraction of it.
        """
        futures: list[asyncio.Future] = []
        builders: dict[tuple[str, int], Any] = {}
        counts: dict[str, int] = {}
        for r in rows:
            topic = r["topic"]
            if topic not in counts:
                counts[topic] = len(await self.producer.partitions_for(topic))
            key = r["key"].encode()
            slot = (topic, partition_for(key, counts[topic]))
            headers = [("event_type", r["event_type"].encode()),
                       ("event_version", str(r["event_version"]).encode()),
                       ("event_id", str(r["event_id"]).encode())]
            builder = builders.get(slot)
            if builder is None:
                builder = builders[slot] = self.producer.create_batch()
            if builder.append(key=key, value=r["payload"], timestamp=None, headers=headers) is None:
                futures.append(await self._submit(builder, slot))
                builder = builders[slot] = self.producer.create_batch()
                appended = builder.append(key=key, value=r["payload"], timestamp=None,
                                          headers=headers)
                assert appended is not None, "one event larger than a record batch"
        for slot, builder in builders.items():
            futures.append(await self._submit(builder, slot))
        return futures

    async def _submit(self, builder: Any, slot: tuple[str, int]) -> asyncio.Future:
        builder.close()
        return await self.producer.send_batch(builder, slot[0], partition=slot[1])

    async def publish_batch(self) -> int:
        """Publish one batch and mark it, in one transaction (operators' and tests' one-shot
        use); returns how many rows were published, 0 when idle or another relay leads."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK_ID):
                return 0
            rows = await conn.fetch(_SELECT_UNSENT + " FOR UPDATE SKIP LOCKED", 0, self.batch_size)
            if not rows:
                return 0
            await asyncio.gather(*await self._send(rows))
            await self._mark_sent(conn, [r["id"] for r in rows])
        metrics.OUTBOX_PUBLISHED.inc(len(rows))
        return len(rows)

    async def _mark_sent(self, conn: asyncpg.Connection, ids: list[int]) -> None:
        await conn.execute("UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", ids)

    async def _confirm(self, futures: list[asyncio.Future], ids: list[int]) -> None:
        await asyncio.gather(*futures)
        async with self.pool.acquire() as conn:
            await self._mark_sent(conn, ids)
        metrics.OUTBOX_PUBLISHED.inc(len(ids))

    async def _lead(self) -> None:
        """Publish as the leader, pipelined: while Kafka confirms batch k and it is marked
        sent, batch k+1 is read and handed to the producer (which keeps per-partition order).

        A cursor skips rows already in flight. A row whose transaction committed late with a
        lower id than the cursor is not lost: whenever the relay catches up it waits for
        everything in flight and starts again from the lowest unsent id.
        """
        cursor = 0
        inflight: deque[asyncio.Task] = deque()
        try:
            while not self._stopping.is_set():
                rows = await self.pool.fetch(_SELECT_UNSENT, cursor, self.batch_size)
                if rows:
                    futures = await self._send(rows)
                    cursor = rows[-1]["id"]
                    inflight.append(asyncio.create_task(
                        self._confirm(futures, [r["id"] for r in rows])))
                caught_up = len(rows) < self.batch_size
                while inflight and (caught_up or len(inflight) >= self.max_inflight):
                    await inflight.popleft()  # a failure propagates: rows stay unsent
                if caught_up:
                    cursor = 0
                    await self._purge_when_due()
                    if not rows:
                        await self._sleep(self.idle_poll_s)
        finally:
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)

    async def _purge_when_due(self) -> None:
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + self.purge_every_s
        removed = await purge_sent(self.pool, self.keep_sent)
        if removed:
            log.info("outbox rows sent long ago deleted", extra={"rows": removed})

    async def run(self) -> None:
        """Publish until stopped. One replica leads (a session advisory lock held on its own
        connection); the others stand by and take over when the leader's connection ends."""
        while not self._stopping.is_set():
            try:
                async with self.pool.acquire() as lock_conn:
                    if not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_ID):
                        await self._sleep(self.standby_poll_s)
                        continue
                    self.is_leader = True
                    try:
                        await self._lead()
                    finally:
                        self.is_leader = False
                        await lock_conn.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK_ID)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: rows stay unsent, retried
                log.warning("outbox relay failed; will retry", extra={"error": repr(exc)})
                await self._sleep(1.0)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    def stop(self) -> None:
        self._stopping.set()


_SELECT_UNSENT = """SELECT id, topic, key, event_type, event_version, event_id, payload
                    FROM outbox WHERE sent_at IS NULL AND id > $1 ORDER BY id LIMIT $2"""


async def purge_sent(pool: asyncpg.Pool, older_than: timedelta = timedelta(days=7),
                     chunk: int = 5000) -> int:
    """Delete rows sent more than `older_than` ago; returns how many.

    Walks the primary key from the oldest row in chunks, each its own short statement, and
    stops at the first chunk with nothing to delete (ids grow with time; a row never sent
    is never deleted). No index on `sent_at` is needed, so marking rows sent stays cheap.
    """
    total, after = 0, 0
    while True:
        row = await pool.fetchrow(
            """WITH chunk AS (SELECT id, sent_at FROM outbox WHERE id > $1 ORDER BY id LIMIT $2),
                    gone AS (DELETE FROM outbox o USING chunk c
                             WHERE o.id = c.id AND c.sent_at < now() - $3::interval
                             RETURNING o.id)
               SELECT (SELECT max(id) FROM chunk) AS last, (SELECT count(*) FROM gone) AS deleted""",
            after, chunk, older_than)
        if row["last"] is None or row["deleted"] == 0:
            return total
        total += row["deleted"]
        after = row["last"]
