"""KAFKA_BOOTSTRAP naming several brokers, comma-separated, the first of them down: a
service still starts, publishes through its outbox and consumes, and the operators' tools
(lag, topics) still read the cluster, against the real Kafka."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from shared.contracts.envelope import Envelope
from shared.kafka import bootstrap_servers, ensure_topics, kafka_reachable
from shared.ops import group_lag
from shared.outbox import enqueue_many, make_producer
from shared.runtime import Service
from shared.settings import ServiceSettings
from tests.conftest import unique
from tests.helpers import service_client, wait_for


def dead_address() -> str:
    """An address on this machine where nothing listens (a broker that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"127.0.0.1:{port}"


def test_the_setting_names_each_broker_in_order():
    assert bootstrap_servers(" 127.0.0.1:1, 127.0.0.1:2 ,127.0.0.1:3") == [
        "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
    assert bootstrap_servers("kafka:9092") == ["kafka:9092"]
    with pytest.raises(ValueError):
        bootstrap_servers(" , ")


async def test_a_service_whose_first_bootstrap_broker_is_down_starts_publishes_and_consumes(
        infra, fresh_db, tmp_path: Path):
    bootstrap = f"{dead_address()},{infra.kafka_bootstrap}"
    assert not await kafka_reachable(dead_address())  # the first address really is dead
    group, topic = f"test.bootstrap.{unique()}", f"test.bootstrap.{unique()}"
    await ensure_topics(bootstrap, extra={topic: 3})
    settings = ServiceSettings(database_url=fresh_db, KAFKA_BOOTSTRAP=bootstrap,
                               consumer_offset_reset="earliest")
    service = Service("probe", settings, tmp_path)
    seen: list[str] = []

    async def on_sent(conn, event: Envelope) -> None:
        seen.append(event.key)

    key = unique("acct-")
    service.consume(group, topic, handlers={"test.probe_sent": on_sent})
    await service.start(http=False)
    try:
        await service.wait_until_consuming()
        async with service_client(service, caller="operator") as client:
            ready = await (await client.get("/readyz")).json()
            assert ready["checks"]["kafka"] is True and ready["checks"]["consumers"] is True
        async with service.pool.acquire() as conn:  # type: ignore[union-attr]
            await enqueue_many(conn, [Envelope(event_type="test.probe_sent", producer="probe",
                                         key=key, data={"channel": "email"})], topic=topic)
        # The relay publishes the outbox row; the service's own consumer group applies it.
        await wait_for(lambda: key in seen, what="the event consumed through the listed brokers")
        await wait_for(lambda: service.pool.fetchval("SELECT count(*) = 0 FROM outbox"),  # type: ignore[union-attr]
                       what="the outbox emptied")
        lag = await wait_for(lambda: _settled_lag(bootstrap, group, topic), what="the group's lag at 0")
        assert lag["lag"] == 0 and [p["committed"] for p in lag["partitions"]].count(1) == 1
    finally:
        await service.stop()
    assert seen.count(key) == 1


async def _settled_lag(bootstrap: str, group: str, topic: str) -> dict | None:
    """The group's lag as operators read it, once its one event is committed."""
    lag = (await group_lag(bootstrap, {group: (topic,)}))[group]
    return lag if lag["lag"] == 0 else None


async def test_topics_and_producers_take_the_list_with_its_first_broker_down(infra):
    bootstrap = f"{dead_address()},{infra.kafka_bootstrap}"
    topic = f"test.bootstrap.{unique()}"
    await ensure_topics(bootstrap, extra={topic: 1})
    assert await kafka_reachable(bootstrap)
    producer = make_producer(bootstrap, "test-bootstrap")
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b"one")
    finally:
        await producer.stop()
    assert (sent.topic, sent.offset) == (topic, 0)
