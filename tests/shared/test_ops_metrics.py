"""What an operator reads at /metrics is current when scraped: the outbox's backlog and the
age of its oldest row, each consumed partition's lag, and dead letters per consumer group."""
from __future__ import annotations

import asyncio
import re
import uuid

from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaProducer

from shared.contracts.envelope import Envelope
from shared.kafka import ensure_topics
from shared.runtime import Service
from shared.service_auth import TokenSigner
from shared.settings import ServiceSettings


def _sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + ("{" if labels else " ")):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_metrics_show_outbox_backlog_dead_letters_and_lag(infra, fresh_db, tmp_path):
    topic, group = f"t.ops.{uuid.uuid4().hex[:8]}", f"g.ops.{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.kafka_bootstrap, extra={topic: 2})
    applied: list[str] = []

    async def handler(conn, envelope):
        applied.append(envelope.key)

    settings = ServiceSettings(database_url=fresh_db, KAFKA_BOOTSTRAP=infra.kafka_bootstrap,
                               run_relay=False, consumer_attempts_max=1)
    service = Service("billing", settings, tmp_path)  # a service the scraper may read
    service.consume(group, topic, handlers={"thing.happened": handler})
    await service.start(http=False)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        await service.wait_until_consuming()
        async with service.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO outbox (event_id, topic, key, event_type, event_version, payload, created_at)
                   SELECT gen_random_uuid(), $1, 'k' || i, 'thing.happened', 1, '\\x7b7d',
                          now() - interval '30 seconds'
                   FROM generate_series(1, 3) i""", topic)
        for i in range(4):
            event = Envelope(event_type="thing.happened", producer="test", key=f"good-{i}", data={})
            await producer.send_and_wait(topic, event.to_bytes(), key=event.key.encode())
        await producer.send_and_wait(topic, b"not an envelope", key=b"poison")
        for _ in range(200):
            if len(applied) == 4:
                break
            await asyncio.sleep(0.05)
        async with TestClient(TestServer(service.app)) as client:
            scraper = TokenSigner.from_keys(settings.service_keys, "metrics").headers("billing")
            for _ in range(100):  # the consumer reaches the poison after the good events
                text = await (await client.get("/metrics", headers=scraper)).text()
                if _sample(text, "events_consumed_total", group=group, outcome="dead_lettered") == 1:
                    break
                await asyncio.sleep(0.05)
        assert sorted(applied) == [f"good-{i}" for i in range(4)]
        assert _sample(text, "outbox_backlog") == 3
        assert 29 <= _sample(text, "outbox_oldest_age_seconds") < 120
        assert _sample(text, "events_consumed_total", group=group, outcome="dead_lettered") == 1
        lags = [float(v) for v in re.findall(rf'consumer_lag{{group="{re.escape(group)}",'
                                            rf'partition="\d",topic="{re.escape(topic)}"}} (\S+)', text)]
        assert len(lags) == 2 and lags == [0.0, 0.0], text
    finally:
        await producer.stop()
        await service.stop()
