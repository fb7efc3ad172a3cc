"""The event backbone against the real broker and database: outbox, relay, idempotent
consumer and dead letters, including the crash and concurrency cases."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker

from shared import metrics
from shared.consumer import DeadLetters, IdempotentConsumer, subscribe
from shared.contracts.envelope import Envelope
from shared.contracts.topics import dlq_topic
from shared.db import create_pool, migrate
from shared.kafka import ensure_topics
from shared.outbox import OutboxRelay, enqueue_many, make_producer
from tests.conftest import ROOT, unique
from tests.helpers import wait_for

EVENT_TYPE = "test.effect_wanted"  # a type the contracts do not name: its data stays a dict


@pytest.fixture
async def db(fresh_db):
    pool = await create_pool(fresh_db, max_size=10)
    await migrate(pool, None)
    await pool.execute("""CREATE TABLE effects (event_id uuid PRIMARY KEY, n int NOT NULL);
                          CREATE TABLE accounts (id text PRIMARY KEY, state text NOT NULL)""")
    yield pool
    await pool.close()


@pytest.fixture
async def topic(infra):
    name = f"test.backbone.{unique()}"
    await ensure_topics(infra.kafka_bootstrap, extra={name: 3})
    return name


async def record_effect(conn, event: Envelope) -> None:
    if event.data.get("poison"):
        raise ValueError(f"cannot apply account {event.key}: poison pill")
    await conn.execute("""INSERT INTO effects (event_id, n) VALUES ($1, 1)
                          ON CONFLICT (event_id) DO UPDATE SET n = effects.n + 1""",
                       event.event_id)


def make_event(key: str, **data) -> Envelope:
    return Envelope(event_type=EVENT_TYPE, producer="test", key=key, data=data)


@asynccontextmanager
async def running_consumer(infra, pool, topic: str, group: str):
    producer = make_producer(infra.kafka_bootstrap, "test-dlq")
    await producer.start()
    broker = KafkaBroker(infra.kafka_bootstrap)
    consumer = IdempotentConsumer(pool, group, DeadLetters(producer, group),
                                  handlers={EVENT_TYPE: record_effect}, retry_backoff_s=0.01)
    subscribe(broker, consumer, topic)
    await broker.start()
    try:
        yield consumer
    finally:
        await broker.stop()
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, expect: int, timeout_s: float = 15.0) -> list:
    """Every record on a topic from the start (no group); stops at `expect` or the timeout,
    then reads a little longer so extra copies would be seen too."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    records = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for recs in batch.values():
                records.extend(recs)
            if len(records) >= expect and not batch:
                break
    finally:
        await consumer.stop()
    return records


async def effect_counts(pool) -> dict:
    return {r["event_id"]: r["n"] for r in await pool.fetch("SELECT event_id, n FROM effects")}


async def test_relay_killed_between_publish_and_commit_still_gives_one_effect(infra, db, topic, fresh_db):
    events = [make_event(unique("acct-")) for _ in range(50)]
    async with db.acquire() as conn, conn.transaction():
        for e in events:  # one state change, one event, one transaction
            await conn.execute("INSERT INTO accounts VALUES ($1, 'open')", e.key)
            await enqueue_many(conn, [e], topic=topic)

    crashed = subprocess.run([sys.executable, str(Path(__file__).with_name("crashing_relay.py")),
                              fresh_db, infra.kafka_bootstrap], cwd=ROOT,
                             env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert crashed.returncode == -9, "the relay should have died by SIGKILL"
    assert await db.fetchval("SELECT count(*) FROM outbox") == 50, "its claim rolled back"

    producer = make_producer(infra.kafka_bootstrap, "test-relay")
    await producer.start()
    try:
        assert await OutboxRelay(db, producer).publish_batch() == 50
    finally:
        await producer.stop()
    assert await db.fetchval("SELECT count(*) FROM outbox") == 0

    on_topic = await read_topic(infra.kafka_bootstrap, topic, expect=100)
    assert len(on_topic) == 100, "each event was published twice: before and after the crash"

    async with running_consumer(infra, db, topic, unique("g-")):
        async def all_applied():
            return len(await effect_counts(db)) == 50
        await wait_for(all_applied, what="50 effects")
        await asyncio.sleep(1.0)  # give a second copy the chance to apply twice
    counts = await effect_counts(db)
    assert set(counts) == {e.event_id for e in events}
    assert set(counts.values()) == {1}, "the duplicate publication had a second effect"


async def test_redelivered_event_has_one_effect_across_groups_restarts(infra, db, topic):
    event = make_event(unique("acct-"))
    producer = make_producer(infra.kafka_bootstrap, "test-redeliver")
    await producer.start()
    try:
        for _ in range(3):
            await producer.send_and_wait(topic, event.to_bytes(), key=event.key.encode())
    finally:
        await producer.stop()
    group = unique("g-")
    async with running_consumer(infra, db, topic, group):
        async def applied():
            return event.event_id in await effect_counts(db)
        await wait_for(applied, what="the effect")
    # Rewind the group's committed offsets, as after a crash before the commit: the
    # restarted consumer receives all three copies again.
    await rewind_group(infra.kafka_bootstrap, topic, group)
    async with running_consumer(infra, db, topic, group):
        async def all_copies_seen():
            return duplicates(group) == 5
        await wait_for(all_copies_seen, what="the three copies redelivered")
    assert await effect_counts(db) == {event.event_id: 1}


def duplicates(group: str) -> float:
    """How many deliveries the consumer recognised as already applied (from /metrics)."""
    return metrics.EVENTS_CONSUMED.labels(group, "duplicate")._value.get()


async def rewind_group(bootstrap: str, topic: str, group: str) -> None:
    from aiokafka import TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
        if not parts:
            await c._client.force_metadata_update()
            parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic)]
        c.assign(parts)
        await c.commit({tp: OffsetAndMetadata(0, "") for tp in parts})
    finally:
        await c.stop()


async def test_poison_messages_go_to_the_dlq_and_the_next_message_is_processed(infra, db, topic):
    group = unique("g-")
    await ensure_topics(infra.kafka_bootstrap, extra={dlq_topic(group): 1})
    before, poison, after = make_event("a1"), make_event("a2", poison=True), make_event("a3")
    producer = make_producer(infra.kafka_bootstrap, "test-poison")
    await producer.start()
    try:
        # All on one key, so one partition: the poison sits between the two good events.
        for raw in (before.to_bytes(), b"{not json", poison.to_bytes(), after.to_bytes()):
            await producer.send_and_wait(topic, raw, key=b"same-key")
    finally:
        await producer.stop()

    async with running_consumer(infra, db, topic, group):
        async def good_ones_applied():
            return {before.event_id, after.event_id} <= set(await effect_counts(db))
        await wait_for(good_ones_applied, what="the events around the poison")

    dead = await read_topic(infra.kafka_bootstrap, dlq_topic(group), expect=2)
    assert len(dead) == 2
    details = [orjson.loads(dict(r.headers)["dlq_error"]) for r in dead]
    assert details[0]["topic"] == topic and "Invalid JSON" in details[0]["error"]
    assert dead[0].value == b"{not json"
    assert details[1]["error_type"] == "ValueError" and "poison pill" in details[1]["error"]
    assert details[1]["attempts"] == 1  # a ValueError is the event's own fault: no retries
    assert Envelope.from_bytes(dead[1].value).event_id == poison.event_id
    assert await db.fetchval(
        "SELECT dead_lettered FROM processed_events WHERE event_id = $1", poison.event_id)
    assert poison.event_id not in await effect_counts(db)


async def test_two_relays_and_two_consumers_do_no_work_twice(infra, db, topic):
    events = [make_event(f"acct-{i % 97}", n=i) for i in range(2000)]
    async with db.acquire() as conn, conn.transaction():
        await enqueue_many(conn, events, topic=topic)

    producers = [make_producer(infra.kafka_bootstrap, f"relay-{i}") for i in range(2)]
    for p in producers:
        await p.start()
    relays = [OutboxRelay(db, p, batch_size=100) for p in producers]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    group = unique("g-")
    try:
        async with running_consumer(infra, db, topic, group), \
                running_consumer(infra, db, topic, group):
            async def all_applied():
                return await db.fetchval("SELECT count(*) FROM effects") == 2000
            await wait_for(all_applied, timeout_s=60, what="2000 effects")
    finally:
        for r in relays:
            r.stop()
        await asyncio.gather(*tasks)
        for p in producers:
            await p.stop()
    assert set((await effect_counts(db)).values()) == {1}
    on_topic = await read_topic(infra.kafka_bootstrap, topic, expect=2000)
    assert len(on_topic) == 2000, "two relays published some rows twice"
    # Per key, the order on the topic is the order of the outbox.
    seen: dict[str, list[int]] = {}
    for r in sorted(on_topic, key=lambda r: (r.partition, r.offset)):
        e = Envelope.from_bytes(r.value)
        seen.setdefault(e.key, []).append(e.data["n"])
    assert all(ns == sorted(ns) for ns in seen.values())


class UnconfirmedRelay(OutboxRelay):
    """Kafka never confirms (as when the broker's acks time out)."""
    tries = 0

    async def _confirmed(self, futures):  # noqa: ANN001 - test double of one step
        await super()._confirmed(futures)
        self.tries += 1
        raise TimeoutError("no acknowledgement from the broker")


async def test_a_batch_kafka_does_not_confirm_stays_in_the_outbox(infra, db, topic):
    events = [make_event(unique("acct-"), n=i) for i in range(20)]
    async with db.acquire() as conn, conn.transaction():
        await enqueue_many(conn, events, topic=topic)
    producer = make_producer(infra.kafka_bootstrap, "test-relay-unconfirmed")
    await producer.start()
    try:
        with pytest.raises(TimeoutError):
            await UnconfirmedRelay(db, producer).publish_batch()
        assert await db.fetchval("SELECT count(*) FROM outbox") == 20

        relay = UnconfirmedRelay(db, producer, idle_poll_s=0.01)
        task = asyncio.create_task(relay.run())
        await wait_for(lambda: relay.tries >= 2, what="the leader failing, then trying again")
        relay.stop()
        await task
        assert await db.fetchval("SELECT count(*) FROM outbox") == 20, "unconfirmed rows deleted"
        assert await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                 "current_database() AND state LIKE 'idle in transaction%'") == 0

        assert await OutboxRelay(db, producer).publish_batch() == 20
    finally:
        await producer.stop()
    assert await db.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_row_committed_late_below_the_cursor_is_still_published(infra, db, topic):
    """Ids are taken when rows are inserted, not when they commit: the relay must not skip
    a row whose transaction commits after rows with higher ids were published."""
    late, early = make_event(unique("acct-"), n=0), [make_event(unique("acct-"), n=i) for i in range(1, 21)]
    producer = make_producer(infra.kafka_bootstrap, "test-relay-late")
    await producer.start()
    relay = OutboxRelay(db, producer, batch_size=5, idle_poll_s=0.01)
    task = asyncio.create_task(relay.run())
    try:
        async with db.acquire() as slow:
            tx = slow.transaction()
            await tx.start()
            await enqueue_many(slow, [late], topic=topic)  # the lowest id, not yet committed
            async with db.acquire() as conn, conn.transaction():
                await enqueue_many(conn, early, topic=topic)
            assert len(await read_topic(infra.kafka_bootstrap, topic, expect=20)) == 20
            await tx.commit()
        await wait_for(lambda: db.fetchval("SELECT count(*) = 0 FROM outbox"), what="outbox empty")
    finally:
        relay.stop()
        await task
        await producer.stop()
    on_topic = [Envelope.from_bytes(r.value).event_id
                for r in await read_topic(infra.kafka_bootstrap, topic, expect=21)]
    assert sorted(map(str, on_topic)) == sorted(str(e.event_id) for e in [late, *early])
