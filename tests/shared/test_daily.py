"""`Service.daily` against real PostgreSQL: replicas run a business date's job once, a
restarted replica does not run a done date again, and a failed run is tried again."""
from __future__ import annotations

import asyncio
import contextlib
from datetime import date, timedelta

import pytest

from shared import locks
from shared.db import create_pool, migrate
from shared.runtime import Service
from shared.settings import ServiceSettings
from tests.helpers import DayClock, wait_for

DAY = date(2027, 3, 4)


class Replica:
    """One replica's daily scheduler, on its own pool, without the rest of a service."""

    def __init__(self, dsn: str, clock: DayClock, job, **daily) -> None:
        self.dsn, self.clock, self.job, self.daily = dsn, clock, job, daily
        self.service = Service("probe", ServiceSettings(database_url=dsn))
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.service.pool = await create_pool(self.dsn, 1, 4)
        loop = self.service.daily("probe-daily", locks.BILLING_SCHEDULER, self.job,
                                  poll_s=0.05, clock=self.clock, **self.daily)
        self.task = asyncio.create_task(loop(self.service))

    async def stop(self) -> None:
        assert self.task is not None and self.service.pool is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.service.pool.close()


@pytest.fixture
async def db(fresh_db):
    pool = await create_pool(fresh_db, 1, 2)
    await migrate(pool, None)  # the backbone's tables, daily_runs among them
    await pool.execute("CREATE TABLE runs (business_date date NOT NULL, replica int NOT NULL)")
    try:
        yield fresh_db, pool
    finally:
        await pool.close()


def recording(replica_no: int, seconds: float = 0.3):
    """A job that records each run in the database and takes a while (so the other
    replica polls while it runs)."""
    async def job(svc: Service, day: date) -> None:
        assert svc.pool is not None
        await svc.pool.execute("INSERT INTO runs VALUES ($1, $2)", day, replica_no)
        await asyncio.sleep(seconds)
    return job


async def runs(pool) -> dict[date, int]:
    rows = await pool.fetch("SELECT business_date, count(*) AS n FROM runs GROUP BY 1")
    return {r["business_date"]: r["n"] for r in rows}


async def test_two_replicas_run_each_business_date_once(db):
    dsn, pool = db
    clock = DayClock(DAY, hour=8)  # before the hour: nothing is due
    replicas = [Replica(dsn, clock, recording(n), hour=9) for n in (1, 2)]
    for r in replicas:
        await r.start()
    try:
        await asyncio.sleep(0.3)
        assert await runs(pool) == {}
        clock.fix(DAY, hour=9)
        await wait_for(lambda: pool.fetchval("SELECT count(*) FROM daily_runs"), what="the day's run")
        await asyncio.sleep(0.5)  # ten more polls of each replica: nothing runs again
        assert await runs(pool) == {DAY: 1}
        clock.fix(DAY + timedelta(days=1), hour=23)
        await wait_for(lambda: pool.fetchval("SELECT count(*) = 2 FROM daily_runs"), what="the next day")
        await asyncio.sleep(0.5)
        assert await runs(pool) == {DAY: 1, DAY + timedelta(days=1): 1}
    finally:
        for r in replicas:
            await r.stop()


async def test_a_restarted_replica_catches_up_the_undone_days_only(db):
    dsn, pool = db
    clock = DayClock(DAY, hour=10)
    first = Replica(dsn, clock, recording(1, 0), hour=9)
    await first.start()
    await wait_for(lambda: pool.fetchval("SELECT count(*) FROM daily_runs"), what="the day's run")
    await first.stop()
    # Restarted the same day: the date is done (the database says so, not the memory).
    again = Replica(dsn, clock, recording(2, 0), hour=9, catch_up_days=1)
    await again.start()
    await asyncio.sleep(0.4)
    # The catch-up day before was never run: it is, once; the done day is not.
    assert await runs(pool) == {DAY: 1, DAY - timedelta(days=1): 1}
    # Down for a day: the next morning runs yesterday's job and then today's.
    await again.stop()
    clock.fix(DAY + timedelta(days=2), hour=10)
    later = Replica(dsn, clock, recording(3, 0), hour=9, catch_up_days=1)
    await later.start()
    await asyncio.sleep(0.4)
    await later.stop()
    rows = await pool.fetch("SELECT business_date FROM runs WHERE replica = 3 ORDER BY business_date")
    assert [r[0] for r in rows] == [DAY + timedelta(days=1), DAY + timedelta(days=2)]


async def test_a_failed_run_is_not_recorded_and_gives_the_lock_back(db):
    dsn, pool = db
    service = Service("probe", ServiceSettings(database_url=dsn))
    service.pool = pool
    calls: list[date] = []

    async def failing(svc: Service, day: date) -> None:
        calls.append(day)
        raise RuntimeError("the bank's server did not answer")

    with pytest.raises(RuntimeError):
        await service.run_daily("probe-daily", locks.BILLING_SCHEDULER, failing, DAY)
    assert await pool.fetchval("SELECT count(*) FROM daily_runs") == 0
    assert await service.run_daily("probe-daily", locks.BILLING_SCHEDULER, recording(1, 0), DAY)
    assert calls == [DAY] and await runs(pool) == {DAY: 1}
    # Done: not run again, however often asked.
    assert await service.run_daily("probe-daily", locks.BILLING_SCHEDULER, failing, DAY)
    assert calls == [DAY]
