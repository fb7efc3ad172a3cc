"""Runs many small statements as few: callers submit one item each and wait for its result;
whatever is waiting when a connection is free goes to the database as one batch.

Nothing waits on purpose: an item submitted while fewer than `in_flight` batches are running
starts a batch at once (with whatever else arrived in the same turn of the event loop), so a
quiet service runs every item alone and as fast as before. Under load items queue behind the
running batches and the next batch takes them all (up to `max_batch`): the busier the
service, the larger the batches and the cheaper each item, which is what lets one process and
one PostgreSQL serve more lookups on the same cores.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import asyncpg

Item = TypeVar("Item")
Result = TypeVar("Result")
RunBatch = Callable[[asyncpg.Connection, list[Item]], Awaitable[list[Result]]]


class Batcher(Generic[Item, Result]):
    def __init__(self, pool: asyncpg.Pool, run: RunBatch, *, max_batch: int = 64,
                 in_flight: int = 2) -> None:
        assert max_batch >= 1 and in_flight >= 1
        self._pool = pool
        self._run = run
        self._max_batch = max_batch
        self._in_flight = in_flight
        self._running = 0
        self._pending: list[tuple[Item, asyncio.Future]] = []
        self._tasks: set[asyncio.Task] = set()  # referenced while they run

    async def submit(self, item: Item) -> Result:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._running < self._in_flight:
            self._running += 1
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        """Run batches while items are waiting."""
        try:
            while self._pending:
                batch = self._pending[:self._max_batch]
                del self._pending[:self._max_batch]
                try:
                    async with self._pool.acquire() as conn:
                        results = await self._run(conn, [item for item, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every caller of the batch gets it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:  # cancelled (shutdown): the callers are too
                    for _, future in batch:
                        if not future.done():
                            future.cancel()
                    raise
                for (_, future), result in zip(batch, results):
                    if not future.done():  # a caller that went away still counted
                        future.set_result(result)
        finally:
            self._running -= 1
