"""The lookup batcher: items waiting while a batch runs go together in the next one, every
caller gets its own result, a failed batch fails each of its callers, and a quiet caller
runs alone at once."""
from __future__ import annotations

import asyncio
import contextlib

import pytest

from services.identity.adapters.batching import Batcher


class FakePool:
    @contextlib.asynccontextmanager
    async def acquire(self):
        yield "conn"


def recording_run(sizes: list[int], gate: asyncio.Event | None = None):
    async def run(conn, items):
        assert conn == "conn"
        sizes.append(len(items))
        if gate is not None:
            await gate.wait()
        if "boom" in items:
            raise RuntimeError("database went away")
        return [f"result of {item}" for item in items]
    return run


async def test_a_lone_item_runs_at_once_and_alone():
    sizes: list[int] = []
    batcher = Batcher(FakePool(), recording_run(sizes), in_flight=1)
    assert await batcher.submit("a") == "result of a"
    assert await batcher.submit("b") == "result of b"
    assert sizes == [1, 1]


async def test_items_waiting_behind_a_running_batch_share_the_next_one():
    sizes: list[int] = []
    gate = asyncio.Event()
    batcher = Batcher(FakePool(), recording_run(sizes, gate), max_batch=3, in_flight=1)
    first = asyncio.create_task(batcher.submit("first"))
    await asyncio.sleep(0)           # the first batch is running (held at the gate)
    others = [asyncio.create_task(batcher.submit(f"x{i}")) for i in range(5)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(first, *others)
    assert results == ["result of first"] + [f"result of x{i}" for i in range(5)]
    assert sizes == [1, 3, 2]        # at most max_batch per statement


async def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_still_runs():
    sizes: list[int] = []
    gate = asyncio.Event()
    batcher = Batcher(FakePool(), recording_run(sizes, gate), in_flight=1)
    first = asyncio.create_task(batcher.submit("first"))
    await asyncio.sleep(0)
    doomed = [asyncio.create_task(batcher.submit(x)) for x in ("y", "boom")]
    await asyncio.sleep(0)
    gate.set()
    assert await first == "result of first"
    for task in doomed:
        with pytest.raises(RuntimeError):
            await task
    assert await batcher.submit("after") == "result of after"
