"""The advisory lock registry and `advisory_lock`, against real PostgreSQL."""
from __future__ import annotations

import asyncio

import pytest

from shared import locks
from shared.db import advisory_lock, create_pool

LOCK_IDS = {name: value for name, value in vars(locks).items()
            if name.isupper() and isinstance(value, int)}


def test_every_lock_id_is_distinct_and_a_postgresql_bigint():
    assert len(LOCK_IDS) >= 7
    assert len(set(LOCK_IDS.values())) == len(LOCK_IDS), LOCK_IDS
    assert all(0 < v < 2**63 for v in LOCK_IDS.values())


async def test_one_session_holds_a_lock_and_gives_it_back_however_the_block_ends(fresh_db):
    pool = await create_pool(fresh_db, 2, 4)
    try:
        async with advisory_lock(pool, locks.BILLING_SCHEDULER) as first:
            assert first is True
            async with advisory_lock(pool, locks.BILLING_SCHEDULER) as second:
                assert second is False  # another session: refused at once
            async with advisory_lock(pool, locks.NOTIFY_SCHEDULER) as other:
                assert other is True  # another id is another lock
        with pytest.raises(RuntimeError):
            async with advisory_lock(pool, locks.BILLING_SCHEDULER) as got:
                assert got
                raise RuntimeError("the job failed")
        async with advisory_lock(pool, locks.BILLING_SCHEDULER) as again:
            assert again is True  # released after the failure
        assert await pool.fetchval(
            """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())""") == 0
    finally:
        await pool.close()


async def test_waiting_for_a_lock_queues_until_the_holder_lets_go(fresh_db):
    pool = await create_pool(fresh_db, 2, 4)
    order: list[str] = []
    try:
        async def holder(held: asyncio.Event) -> None:
            async with advisory_lock(pool, locks.MIGRATIONS, wait=True) as got:
                assert got
                held.set()
                await asyncio.sleep(0.3)
                order.append("first done")

        async def waiter(held: asyncio.Event) -> None:
            await held.wait()
            async with advisory_lock(pool, locks.MIGRATIONS, wait=True) as got:
                assert got
                order.append("second in")

        held = asyncio.Event()
        await asyncio.gather(holder(held), waiter(held))
        assert order == ["first done", "second in"]
    finally:
        await pool.close()
