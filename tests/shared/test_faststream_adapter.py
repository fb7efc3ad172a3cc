"""FastStream's private API, as shared/faststream_adapter.py uses it, against the real
broker: an upgrade of FastStream that changes what the adapter relies on fails here."""
from __future__ import annotations

import asyncio

from aiokafka import TopicPartition
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy

from shared import faststream_adapter
from shared.kafka import ensure_topics
from shared.outbox import make_producer
from tests.conftest import unique
from tests.helpers import wait_for


async def test_a_batch_message_is_built_acked_and_committed_through_the_adapter(infra):
    topic, group = f"test.adapter.{unique()}", f"test-adapter-{unique()}"
    await ensure_topics(infra.kafka_bootstrap, extra={topic: 1})
    acked: list[tuple[object, tuple]] = []
    seen: list[KafkaMessage] = []

    def on_ack(consumer, records) -> None:
        acked.append((consumer, tuple(records)))
        last = records[-1]
        asyncio.get_running_loop().create_task(
            consumer.commit({TopicPartition(last.topic, last.partition): last.offset + 1}))

    broker = KafkaBroker(infra.kafka_bootstrap)

    async def parse(records):
        return faststream_adapter.batch_message(subscriber, records, on_ack)

    async def decode(message):
        return message.body

    subscriber = broker.subscriber(topic, group_id=group, batch=True, max_records=10,
                                   auto_offset_reset="earliest", parser=parse, decoder=decode,
                                   ack_policy=AckPolicy.NACK_ON_ERROR)  # as shared.consumer

    @subscriber
    async def handle(message: KafkaMessage) -> None:
        seen.append(message)

    producer = make_producer(infra.kafka_bootstrap, "test-adapter")
    await producer.start()
    await broker.start()
    try:
        for n in range(3):
            await producer.send_and_wait(topic, f"value-{n}".encode(), key=b"k")
        await wait_for(lambda: sum(len(m.raw_message) for m in seen) == 3, what="3 records handled")
        await wait_for(lambda: len(acked) == len(seen), what="every batch acked")
        consumers = dict(faststream_adapter.subscriber_consumers(broker))
        assert list(consumers) == [group]
        consumer = consumers[group]
        assert all(c is consumer for c, _ in acked)  # the subscriber's own Kafka consumer
        assert [r.value for m in seen for r in m.raw_message] == [b"value-0", b"value-1", b"value-2"]
        assert [b for m in seen for b in m.body] == [b"value-0", b"value-1", b"value-2"]
        assert all(m.committed for m in seen)  # acked: FastStream does not nack it after
        tp = TopicPartition(topic, 0)
        await wait_for(lambda: consumer.assignment() == {tp}, what="partition assigned")

        async def committed() -> int | None:
            return await consumer.committed(tp)
        for _ in range(50):
            if await committed() == 3:
                break
            await asyncio.sleep(0.1)
        assert await committed() == 3
    finally:
        await broker.stop()
        await producer.stop()
