"""The gateway's view of what changes: the keys of the events on billing.v1 and payments.v1.

Both topics are keyed by billing account number, so an event's key says which account
changed without reading its payload. The feed reads from the end of every partition with
no consumer group (each gateway process sees every event and commits nothing), reports each
key to `on_change`, and says it is `live()` only while it is positioned on every partition
of both topics and has read every event that was on them `max_lag_s` seconds ago. Whenever
it stops following (a failure, a restart), `on_reset` is called first: what was learnt
without it may be stale.

How far behind the feed is, is measured in time, not in events: what a member could see
is a copy older than a change the feed has not read yet, and that is bounded by time. A
count of unread events is no such bound, and it is largest exactly when the system is
busiest (a month-end run publishes millions of events in minutes, each read in
microseconds), which switched the cache off when it was needed most.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.kafka import PLAINTEXT, KafkaAuth

log = logging.getLogger(__name__)


class Freshness:
    """The moment before which the feed has read every event: each observation notes the
    partitions' ends (what was written by then); once the feed's positions reach an
    observation's ends, everything written before it has been read."""

    MARKS_MAX = 1_000  # dropping the oldest is safe: ends only grow, so a later mark is stricter

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.as_of: float | None = None
        self._marks: deque[tuple[float, dict]] = deque(maxlen=self.MARKS_MAX)

    def observe(self, ends: dict, positions: dict, at: float | None = None) -> None:
        """`ends` were the partitions' ends at `at` (default: now) or later."""
        self._marks.append((self.clock() if at is None else at, ends))
        while self._marks and all(positions.get(tp, -1) >= end for tp, end in self._marks[0][1].items()):
            self.as_of = self._marks.popleft()[0]

    def behind_s(self) -> float:
        return float("inf") if self.as_of is None else self.clock() - self.as_of


class ChangeFeed:
    def __init__(self, bootstrap: str, topics: Sequence[str], on_change: Callable[[str, str], None],
                 on_reset: Callable[[], None], max_lag_s: float = 5.0, retry_s: float = 2.0,
                 auth: KafkaAuth = PLAINTEXT, clock: Callable[[], float] = time.time) -> None:
        assert max_lag_s > 0
        self.bootstrap = bootstrap
        self.auth = auth
        self.topics = tuple(topics)
        self.on_change = on_change
        self.on_reset = on_reset
        self.max_lag_s = max_lag_s
        self.retry_s = retry_s
        self.clock = clock
        self.positioned = False
        self.lag = 0  # unread events, for the logs: the rule is the time in `freshness`
        self.freshness = Freshness(clock)
        self._task: asyncio.Task | None = None

    def live(self) -> bool:
        return self.positioned and self.freshness.behind_s() <= self.max_lag_s

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
        self.freshness = Freshness(self.clock)
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
            await self._observe(consumer, assignment)

    async def _observe(self, consumer: AIOKafkaConsumer, assignment: set[TopicPartition]) -> None:
        positions = {tp: await consumer.position(tp) for tp in assignment}
        # A partition not fetched yet has no known end: its position stands in (nothing
        # written to it is known to be unread).
        ends = {tp: consumer.highwater(tp) if consumer.highwater(tp) is not None else positions[tp]
                for tp in assignment}
        self.lag = sum(max(0, ends[tp] - positions[tp]) for tp in assignment)
        # The ends are as of each partition's last fetch answer (wall clock, ms): the oldest
        # of them dates the observation, so a starved fetcher is not taken for a fresh one.
        polled = [consumer.last_poll_timestamp(tp) for tp in assignment]
        known = [t / 1000 for t in polled if t]
        self.freshness.observe(ends, positions, at=min(known) if known else None)
