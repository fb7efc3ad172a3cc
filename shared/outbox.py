"""The transactional outbox: write events with the state change, publish them with a relay.

`enqueue` inserts rows on the caller's connection, inside the caller's transaction, so an
event exists if and only if its state change committed. `OutboxRelay` reads unsent rows in
id order, publishes them with an idempotent producer (`acks=all`), waits for the broker's
confirmation of the whole batch, then marks the batch sent in the same transaction that
locked it. If the relay dies between publishing and marking, the rows are published again
after restart: consumers absorb that duplicate by `event_id`.

Several relay replicas are safe: rows are claimed with `FOR UPDATE SKIP LOCKED`, and a
transaction-scoped advisory lock lets one replica publish at a time so that events of one
key keep their order on the topic (two replicas publishing interleaved batches could
reorder them). A standby replica takes over within one poll interval.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import asyncpg
from aiokafka import AIOKafkaProducer

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


def make_producer(bootstrap: str, client_id: str) -> AIOKafkaProducer:
    """The idempotent producer all publishing goes through."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, client_id=client_id, acks="all",
        enable_idempotence=True, linger_ms=5, max_batch_size=256 * 1024,
        request_timeout_ms=30000)


class OutboxRelay:
    """Publishes outbox rows in batches; one task per service process."""

    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer, *,
                 batch_size: int = 2000, idle_poll_s: float = 0.05) -> None:
        assert 0 < batch_size <= 10_000
        self.pool = pool
        self.producer = producer
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        self._stopping = asyncio.Event()

    async def publish_batch(self) -> int:
        """Publish one batch; returns how many rows were published (0 when idle or standby)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK_ID):
                return 0
            rows = await conn.fetch(
                """SELECT id, topic, key, event_type, event_version, event_id, payload
                   FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1
                   FOR UPDATE SKIP LOCKED""", self.batch_size)
            if not rows:
                return 0
            futures = []
            for r in rows:
                headers = [("event_type", r["event_type"].encode()),
                           ("event_version", str(r["event_version"]).encode()),
                           ("event_id", str(r["event_id"]).encode())]
                futures.append(await self.producer.send(
                    r["topic"], value=r["payload"], key=r["key"].encode(), headers=headers))
            await asyncio.gather(*futures)
            await self._mark_sent(conn, [r["id"] for r in rows])
        metrics.OUTBOX_PUBLISHED.inc(len(rows))
        return len(rows)

    async def _mark_sent(self, conn: asyncpg.Connection, ids: list[int]) -> None:
        await conn.execute("UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", ids)

    async def run(self) -> None:
        """Publish until stopped; back off on errors without losing rows."""
        while not self._stopping.is_set():
            try:
                published = await self.publish_batch()
            except Exception as exc:  # noqa: BLE001 - any failure: rows stay unsent, retried
                log.warning("outbox relay batch failed; will retry", extra={"error": repr(exc)})
                published = 0
                await self._sleep(1.0)
            if published < self.batch_size:
                await self._sleep(self.idle_poll_s)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    def stop(self) -> None:
        self._stopping.set()


async def purge_sent(pool: asyncpg.Pool, older_than_days: int = 7) -> int:
    """Delete rows published long ago so the table stays small."""
    result = await pool.execute(
        "DELETE FROM outbox WHERE sent_at < now() - make_interval(days => $1)", older_than_days)
    return int(result.split()[-1])
