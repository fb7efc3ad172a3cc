"""Every use of FastStream's private API, in one place (the rest of the code uses its
public API only).

The idempotent consumer (shared/consumer.py) builds FastStream's batch message itself,
without FastStream's per-record header decoding, and acks a batch by sending the commit of
its own offsets without waiting for Kafka's answer; the runtime reads each subscriber's
Kafka consumer for the lag gauges. Both reach inside FastStream, which may change without
notice in any release: `tests/shared/test_faststream_adapter.py` drives each function here
against a real broker, so an upgrade that breaks one fails that test, with this module the
one place to mend. Written against the version in `WRITTEN_FOR` (pinned in pyproject.toml).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from faststream._internal.utils.path import match_path
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.message import KafkaAckableMessage

WRITTEN_FOR = "0.7.8"

# What acking a batch does: given the subscriber's Kafka consumer and the batch's records.
OnAck = Callable[[Any, Sequence[ConsumerRecord]], None]


def batch_message(subscriber: Any, records: tuple[ConsumerRecord, ...], on_ack: OnAck) -> KafkaMessage:
    """FastStream's ackable batch message for `records`, built as its own batch parser builds
    it (the path its subscriber matched, its Kafka consumer), minus the per-record header
    decoding; acking it calls `on_ack` instead of committing and waiting."""
    parser = subscriber.parser
    first = records[0]
    return _BatchMessage(
        body=[r.value for r in records], raw_message=records,
        message_id=f"{first.offset}-{records[-1].offset}-{first.timestamp}",
        path=match_path(parser.regex, first.topic), consumer=parser._consumer, on_ack=on_ack)


class _BatchMessage(KafkaAckableMessage):
    """FastStream's ackable batch message (nack rewinds every partition of the batch to its
    first record), except that ack hands the batch to `on_ack` (which sends its commit) and
    only marks the message acked, without FastStream's own commit and its wait."""

    def __init__(self, *args: Any, on_ack: OnAck, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_ack = on_ack

    async def ack(self) -> None:
        if not self.committed:
            self._on_ack(self.consumer, self.raw_message)
        await super(KafkaAckableMessage, self).ack()  # mark acked; the commit is sent


def subscriber_consumers(broker: KafkaBroker) -> Iterator[tuple[str, AIOKafkaConsumer]]:
    """(consumer group, its started Kafka consumer) of each subscriber of `broker`."""
    for sub in broker.subscribers:
        consumer = getattr(sub, "consumer", None)
        if consumer is not None:
            yield getattr(consumer, "_group_id", None) or "none", consumer
