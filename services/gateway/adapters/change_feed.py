"""The gateway's view of what changes: the keys of the events on billing.v1 and payments.v1.

Both topics are keyed by billing account number, so an event's key says which account
changed without reading its payload. The feed reads from the end of every partition with
no consumer group (each gateway process sees every event and commits nothing), reports each
key to `on_change`, and says it is `live()` only while it is positioned on every partition
of both topics and no further behind than `max_lag` events. Whenever it stops following
(a failure, a restart), `on_reset` is called first: what was learnt without it may be stale.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.kafka import PLAINTEXT, KafkaAuth

log = logging.getLogger(__name__)


class ChangeFeed:
    def __init__(self, bootstrap: str, topics: Sequence[str], on_change: Callable[[str, str], None],
                 on_reset: Callable[[], None], max_lag: int = 1000, retry_s: float = 2.0,
                 auth: KafkaAuth = PLAINTEXT) -> None:
        self.bootstrap = bootstrap
        self.auth = auth
        self.topics = tuple(topics)
        self.on_change = on_change
        self.on_reset = on_reset
        self.max_lag = max_lag
        self.retry_s = retry_s
        self.positioned = False
        self.lag = 0
        self._task: asyncio.Task | None = None

    def live(self) -> bool:
        return self.positioned and self.lag <= self.max_lag

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-change-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_live(self, timeout_s: float) -> bool:
        """For tests and start-up checks: True once the feed follows every partition."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self.live():
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def _run(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(
                *self.topics, bootstrap_servers=self.bootstrap, group_id=None,
                enable_auto_commit=False, auto_offset_reset="latest", client_id="gateway-change-feed",
                # A topic created after the gateway started is found within seconds.
                metadata_max_age_ms=5_000, fetch_max_wait_ms=100, **self.auth.client_options())
            try:
                await consumer.start()
                await self._follow(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - start over after a pause
                log.warning("change feed interrupted; the account cache is off until it resumes",
                            extra={"error": type(exc).__name__})
            finally:
                self._stopped_following()
                with contextlib.suppress(Exception):
                    await consumer.stop()
            await asyncio.sleep(self.retry_s)

    def _stopped_following(self) -> None:
        self.positioned = False
        self.on_reset()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=5_000)
            for tp, records in batches.items():
                for record in records:
                    if record.key:
                        self.on_change(record.key.decode(), tp.topic)
            assignment = consumer.assignment()
            if not self.positioned:
                if {tp.topic for tp in assignment} >= set(self.topics):
                    # Resolve every starting position now: any event written after this
                    # point is certain to be seen.
                    for tp in assignment:
                        await consumer.position(tp)
                    self.on_reset()
                    self.positioned = True
                    log.info("change feed following", extra={"partitions": len(assignment)})
                continue
            self.lag = await self._lag(consumer, assignment)

    @staticmethod
    async def _lag(consumer: AIOKafkaConsumer, assignment: set[TopicPartition]) -> int:
        behind = 0
        for tp in assignment:
            end = consumer.highwater(tp)
            if end is not None:
                behind += max(0, end - await consumer.position(tp))
        return behind
