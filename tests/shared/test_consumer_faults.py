"""The idempotent consumer under bad input, against the real broker and database: a burst
of poison drained fast while good events flow, errors that may pass retried with backoff,
and event types the consumer does not handle counted, logged once and (when set)
dead-lettered."""
from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager

import orjson
import pytest
from faststream.kafka import KafkaBroker

from shared import metrics
from shared.consumer import DeadLetters, IdempotentConsumer, subscribe
from shared.contracts.envelope import Envelope
from shared.contracts.notify import NOTIFICATION_SENT, NotificationSentData
from shared.contracts.topics import NOTIFY_V1, dlq_topic
from shared.db import create_pool, migrate
from shared.kafka import ensure_topics
from shared.outbox import make_producer
from tests.backbone.test_backbone import read_topic
from tests.conftest import unique
from tests.helpers import wait_for

EVENT_TYPE = "test.effect_wanted"  # outside the contracts: handlers get its data as a dict


@pytest.fixture
async def db(fresh_db):
    pool = await create_pool(fresh_db, max_size=10)
    await migrate(pool, None)
    await pool.execute("CREATE TABLE effects (event_id uuid PRIMARY KEY, n int NOT NULL)")
    yield pool
    await pool.close()


@pytest.fixture
async def topic(infra):
    name = f"test.faults.{unique()}"
    await ensure_topics(infra.kafka_bootstrap, extra={name: 3})
    return name


class FlakyHandler:
    """Applies an event as one effect row; `poison` events fail with a ValueError (their
    content is wrong: deterministic), `flaky` ones with a RuntimeError for their first
    `flaky` attempts (an error that may pass)."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    async def __call__(self, conn, event: Envelope) -> None:
        self.calls[str(event.event_id)] = self.calls.get(str(event.event_id), 0) + 1
        if event.data.get("poison"):
            raise ValueError(f"account {event.key}: no such plan code")
        if self.calls[str(event.event_id)] <= event.data.get("flaky", 0):
            raise RuntimeError("the handler's cache was cold")
        await conn.execute("""INSERT INTO effects (event_id, n) VALUES ($1, 1)
                              ON CONFLICT (event_id) DO UPDATE SET n = effects.n + 1""",
                           event.event_id)


@asynccontextmanager
async def consuming(infra, pool, topic: str, group: str, **options):
    await ensure_topics(infra.kafka_bootstrap, extra={dlq_topic(group): 1})
    producer = make_producer(infra.kafka_bootstrap, "test-dlq")
    await producer.start()
    broker = KafkaBroker(infra.kafka_bootstrap)
    handler = FlakyHandler()
    offset_reset = options.pop("offset_reset", "earliest")
    consumer = IdempotentConsumer(pool, group, DeadLetters(producer, group),
                                  handlers={EVENT_TYPE: handler}, retry_backoff_s=0.05, **options)
    subscribe(broker, consumer, topic, offset_reset=offset_reset)
    await broker.start()
    try:
        await wait_for(lambda: all(s.consumer is not None and s.consumer.assignment()
                                   for s in broker.subscribers), what="partitions assigned")
        for sub in broker.subscribers:  # with "latest", the start is fixed before publishing
            for tp in sub.consumer.assignment():
                await sub.consumer.position(tp)
        yield handler
    finally:
        await broker.stop()
        await producer.stop()


async def publish(infra, topic: str, events: list[Envelope]) -> None:
    producer = make_producer(infra.kafka_bootstrap, "test-faults")
    await producer.start()
    try:
        await asyncio.gather(*(producer.send(topic, e.to_bytes(), key=e.key.encode())
                               for e in events))
        await producer.flush()
    finally:
        await producer.stop()


def event(key: str, event_type: str = EVENT_TYPE, **data) -> Envelope:
    return Envelope(event_type=event_type, producer="test", key=key, data=data)


async def effects(pool) -> dict:
    return {r["event_id"]: r["n"] for r in await pool.fetch("SELECT event_id, n FROM effects")}


async def test_a_burst_of_1000_poison_events_is_dead_lettered_in_seconds_while_good_ones_apply(
        infra, db, topic):
    group = unique("g-poison-")
    # Poison and good events interleaved on many keys, so every consumed batch mixes them.
    poison = [event(f"bad-{i}", poison=True) for i in range(1000)]
    good = [event(f"good-{i}") for i in range(500)]
    mixed = [e for pair in zip(poison[::2], poison[1::2], good) for e in pair]
    assert len(mixed) == 1500
    async with consuming(infra, db, topic, group):
        started = time.monotonic()
        await publish(infra, topic, mixed)

        async def drained():
            done = await db.fetchval(
                "SELECT count(*) FROM processed_events WHERE consumer_group = $1", group)
            return done == 1500
        await wait_for(drained, timeout_s=120, what="every event applied or dead-lettered")
        took = time.monotonic() - started
    # The speed target (under 10 s) is a benchmark's: bench/poison_burst.py.
    print(f"\n1000 poison + 500 good events: drained in {took:.2f} s")
    applied = await effects(db)
    assert set(applied) == {e.event_id for e in good} and set(applied.values()) == {1}
    dead = await read_topic(infra.kafka_bootstrap, dlq_topic(group), expect=1000, timeout_s=20)
    assert sorted(str(Envelope.from_bytes(r.value).event_id) for r in dead) == \
        sorted(str(e.event_id) for e in poison)
    detail = orjson.loads(dict(dead[0].headers)["dlq_error"])
    assert detail["error_type"] == "ValueError" and detail["attempts"] == 1
    assert await db.fetchval(
        """SELECT count(*) FROM processed_events WHERE consumer_group = $1 AND dead_lettered""",
        group) == 1000


async def test_an_error_that_may_pass_is_retried_with_backoff_and_then_dead_lettered(
        infra, db, topic):
    group = unique("g-flaky-")
    passes = event("acct-1", flaky=2)      # fails twice, then applies (3 attempts allowed)
    never = event("acct-2", flaky=99)      # keeps failing: dead-lettered after 3 attempts
    fine = [event(f"acct-{i}") for i in range(3, 41)]
    async with consuming(infra, db, topic, group) as handler:
        await publish(infra, topic, [passes, never, *fine])
        await wait_for(lambda: db.fetchval(
            "SELECT count(*) = 40 FROM processed_events WHERE consumer_group = $1", group),
            what="all 40 events resolved")
    applied = await effects(db)
    assert set(applied) == {passes.event_id, *(e.event_id for e in fine)}
    assert set(applied.values()) == {1}
    assert handler.calls[str(never.event_id)] >= 3
    dead = await read_topic(infra.kafka_bootstrap, dlq_topic(group), expect=1)
    assert [Envelope.from_bytes(r.value).event_id for r in dead] == [never.event_id]
    detail = orjson.loads(dict(dead[0].headers)["dlq_error"])
    assert detail["error_type"] == "RuntimeError" and detail["attempts"] == 3


def skipped(group: str, event_type: str, registered: str) -> float:
    return metrics.EVENTS_SKIPPED.labels(group, event_type, registered)._value.get()


async def test_unhandled_event_types_are_counted_and_logged_once_and_not_dead_lettered_by_default(
        infra, db, topic, caplog):
    group = unique("g-types-")
    known = [event(f"k-{i}") for i in range(5)]
    drift = [event(f"d-{i}", "payment.teleported") for i in range(4)]
    async with consuming(infra, db, topic, group):
        with caplog.at_level(logging.INFO, logger="shared.consumer"):
            await publish(infra, topic, [*known, *drift])
            await wait_for(lambda: skipped(group, "payment.teleported", "false") == 4,
                           what="4 skipped events counted")
    logged = [r for r in caplog.records if getattr(r, "event_type", None) == "payment.teleported"]
    assert len(logged) == 1 and logged[0].levelno == logging.WARNING
    assert logged[0].group == group and logged[0].registered is False
    assert set(await effects(db)) == {e.event_id for e in known}
    assert await read_topic(infra.kafka_bootstrap, dlq_topic(group), expect=0, timeout_s=2) == []


async def test_unknown_event_types_are_dead_lettered_when_the_setting_is_on(infra, db, topic):
    group = unique("g-types-dlq-")
    drift = [event(f"d-{i}", "payment.teleported") for i in range(3)]
    good = event("k-1")
    async with consuming(infra, db, topic, group, dead_letter_unknown=True):
        await publish(infra, topic, [*drift, good])
        await wait_for(lambda: db.fetchval(
            "SELECT count(*) = 4 FROM processed_events WHERE consumer_group = $1", group),
            what="the good event applied and the unknown ones recorded")
    dead = await read_topic(infra.kafka_bootstrap, dlq_topic(group), expect=3)
    assert sorted(str(Envelope.from_bytes(r.value).event_id) for r in dead) == \
        sorted(str(e.event_id) for e in drift)
    detail = orjson.loads(dict(dead[0].headers)["dlq_error"])
    assert detail["error_type"] == "UnknownEventTypeError" and "payment.teleported" in detail["error"]
    assert set(await effects(db)) == {good.event_id}
    assert skipped(group, "payment.teleported", "false") == 3


async def test_a_registered_type_the_group_does_not_handle_is_counted_but_never_dead_lettered(
        infra, db):
    """notify.v1's contract lists notification.failed: a group handling only
    a type of its own skips it as registered, even with dead-lettering of unknown types on."""
    group = unique("g-registered-")
    failed = [event(unique("r-"), "notification.failed") for _ in range(2)]
    async with consuming(infra, db, NOTIFY_V1, group, dead_letter_unknown=True,
                         offset_reset="latest"):
        await publish(infra, NOTIFY_V1, failed)
        await wait_for(lambda: skipped(group, "notification.failed", "true") >= 2,
                       what="the registered type counted as skipped")
    assert skipped(group, "notification.failed", "false") == 0
    assert await read_topic(infra.kafka_bootstrap, dlq_topic(group), expect=0, timeout_s=2) == []


async def test_a_payload_that_breaks_its_contract_is_dead_lettered_and_handlers_get_typed_events(
        infra, db, topic):
    """The consumer validates `data` against the registry before dispatch: a handler is given
    the contract's model (unknown fields ignored), and an event whose data does not match
    (a missing field, a wrong type) is dead-lettered and recorded, while the others apply."""
    group = unique("g-contract-")
    await ensure_topics(infra.kafka_bootstrap, extra={dlq_topic(group): 1})
    seen: list = []

    async def on_sent(conn, e) -> None:
        seen.append(e.data)
        await conn.execute("INSERT INTO effects (event_id, n) VALUES ($1, 1)", e.event_id)

    sent = dict(notification_id="n-1", source_event_id="s-1", source_event_type="payment.settled",
                channel="email", template="payment_settled", language="en",
                recipient_masked="m***@example.org")
    good = Envelope(event_type=NOTIFICATION_SENT, producer="notify", key="k-good",
                    data={**sent, "added_later": "an optional field a producer added"})
    broken = [Envelope(event_type=NOTIFICATION_SENT, producer="notify", key=f"k-bad-{i}", data=data)
              for i, data in enumerate(({**sent, "channel": "pigeon"},
                                        {k: v for k, v in sent.items() if k != "template"}))]
    producer = make_producer(infra.kafka_bootstrap, "test-dlq")
    await producer.start()
    broker = KafkaBroker(infra.kafka_bootstrap)
    consumer = IdempotentConsumer(db, group, DeadLetters(producer, group),
                                  handlers={NOTIFICATION_SENT: on_sent})
    subscribe(broker, consumer, topic)
    await broker.start()
    try:
        await publish(infra, topic, [broken[0], good, broken[1]])
        await wait_for(lambda: db.fetchval(
            "SELECT count(*) = 3 FROM processed_events WHERE consumer_group = $1", group),
            what="the good event applied and the broken ones recorded")
    finally:
        await broker.stop()
        await producer.stop()
    assert seen == [NotificationSentData(**sent)]
    assert set(await effects(db)) == {good.event_id}
    dead = await read_topic(infra.kafka_bootstrap, dlq_topic(group), expect=2)
    assert sorted(str(Envelope.from_bytes(r.value).event_id) for r in dead) == \
        sorted(str(e.event_id) for e in broken)
    assert {orjson.loads(dict(r.headers)["dlq_error"])["error_type"] for r in dead} == {"ValidationError"}
    assert await db.fetchval("""SELECT count(*) FROM processed_events WHERE consumer_group = $1
                                AND dead_lettered""", group) == 2
